"""Events that providers and routers emit, for observers such as the Prometheus metrics.

Providers and routers know nothing about metrics: they call :meth:`EventBus.emit` with one of the frozen event
records below, and whoever subscribed (``provider.events.subscribe(fn)``, ``router.events.subscribe(fn)``) gets it.
An observer is any ``Callable[[Event], None]``; it runs synchronously on the event loop, so it must be quick and
must not block. An observer that raises is logged and skipped: observing never breaks a request. With no observer,
``emit`` costs one truth test, and emitters check :attr:`EventBus.active` before building an event at all.

Every request is reported exactly once, after its retries (:class:`RequestFinished`); names and values are what
the emitter knows (provider and model names, error kinds); it is the observer's job to bound label values.

Units: seconds (``_s``), tokens, USD as exact :class:`~decimal.Decimal` (``_usd``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.errors import (
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    InvalidRequestError,
    InvalidResponseError,
    ModelNotFoundError,
    NoModelAvailableError,
    PricingError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)

__all__ = [
    "ERROR_KINDS",
    "BudgetRefused",
    "BudgetUsage",
    "CostOverEstimate",
    "Event",
    "EventBus",
    "Fallback",
    "HealthChanged",
    "Observer",
    "PromptUsageLearned",
    "RateLimitHeld",
    "RateLimitWaited",
    "RequestFinished",
    "RetryScheduled",
    "RoutingDecided",
    "SpendRefused",
    "SpendSettled",
    "StoreFailed",
    "error_kind",
]

logger = logging.getLogger("costmux.events")

# most specific first: StreamInterruptedError is an InvalidResponseError
_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (StreamInterruptedError, "stream_interrupted"),
    (RateLimitError, "rate_limited"),
    (ProviderTimeoutError, "timeout"),
    (ProviderUnavailableError, "unavailable"),
    (AuthenticationError, "authentication"),
    (ModelNotFoundError, "model_not_found"),
    (BadRequestError, "bad_request"),
    (InvalidResponseError, "invalid_response"),
    (PricingError, "unpriced"),
    (BudgetExceededError, "over_budget"),
    (NoModelAvailableError, "no_model"),
    (InvalidRequestError, "invalid_request"),
)
ERROR_KINDS: tuple[str, ...] = (*(kind for _, kind in _KINDS), "cancelled", "other")
"""Every value :func:`error_kind` returns (a closed set: safe as a metric label)."""


def error_kind(error: BaseException) -> str:
    """A short, bounded name for ``error``'s kind (one of :data:`ERROR_KINDS`)."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    # GeneratorExit: the consumer of a stream closed it early
    return "cancelled" if isinstance(error, asyncio.CancelledError | KeyboardInterrupt | GeneratorExit) else "other"


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """One provider call (chat or stream) ended, after its retries.

    ``outcome`` is ``"success"`` or an :func:`error_kind`. ``duration_s`` runs from the call to its last byte
    (a stream: to its end); ``ttft_s`` is the time to the first chunk of a stream. Tokens and cost are the actual
    ones when known (a failed call has none, except a broken stream's partial usage).
    """

    provider: str
    model: str
    stream: bool
    outcome: str
    duration_s: float
    ttft_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RetryScheduled:
    """A provider call failed with ``error`` (an :func:`error_kind`) and is retried after ``wait_s``."""

    provider: str
    model: str | None
    error: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class RateLimitWaited:
    """A call waited ``wait_s`` for the client-side rate limiter of ``model`` before being sent."""

    provider: str
    model: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class RateLimitHeld:
    """A 429 holds ``model`` off for ``hold_s`` for every request of the process."""

    provider: str
    model: str
    hold_s: float


@dataclass(frozen=True, slots=True)
class HealthChanged:
    """The circuit breaker of ``model`` changed ``state`` (``closed``/``open``/``half_open``); ``cooldown_s`` is
    the cooldown that starts when it opens. ``observed``: another replica changed the shared breaker (this process
    learned it from the shared store), so it is not counted as an opening here."""

    provider: str
    model: str
    state: Literal["closed", "open", "half_open"]
    cooldown_s: float
    observed: bool = False


@dataclass(frozen=True, slots=True)
class RoutingDecided:
    """A router chose ``provider``/``model`` with ``strategy`` in ``duration_s`` of decision time.

    ``rejections`` lists ``(provider, model, reason)`` for every candidate the policy ruled out (reason is a
    :class:`~app.router.decision.RejectReason` value)."""

    strategy: str
    provider: str
    model: str
    duration_s: float
    estimated_cost_usd: Decimal | None
    worst_case_cost_usd: Decimal | None
    rejections: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BudgetRefused:
    """A router found no model: ``reason`` is ``"over_budget"`` (only ``max_cost`` ruled them out) or
    ``"no_model"``; ``rejections`` as in :class:`RoutingDecided`."""

    strategy: str
    reason: Literal["over_budget", "no_model"]
    duration_s: float
    rejections: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Fallback:
    """A routed request left ``provider``/``model`` after ``error`` (an :func:`error_kind`) for the next
    candidate."""

    strategy: str
    provider: str
    model: str
    error: str


@dataclass(frozen=True, slots=True)
class CostOverEstimate:
    """A routed request's actual cost exceeded the worst case it was planned with (should not happen with
    correct prices; worth an alert)."""

    provider: str
    model: str
    cost_usd: Decimal
    worst_case_cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """The latest known state of one spend budget (``scope``: ``key:<name>``, ``team:<name>`` or ``gateway``; names
    from the keys file) in its current ``window``: its limit, what is spent and what is reserved, USD."""

    scope: str
    window: str
    max_usd: Decimal
    spent_usd: Decimal
    reserved_usd: Decimal


@dataclass(frozen=True, slots=True)
class SpendSettled:
    """A request's attempt was charged ``cost_usd`` on the budgets of ``scope`` (once, whatever their windows)."""

    scope: str
    cost_usd: Decimal


@dataclass(frozen=True, slots=True)
class SpendRefused:
    """A request was refused (402) because the ``scope`` budget of ``window`` could not take it."""

    scope: str
    window: str


@dataclass(frozen=True, slots=True)
class StoreFailed:
    """The shared store failed an ``operation`` for ``store`` (``budgets``, ``rate_limits``, ``health``);
    ``fallback``: the process went on with its local state (rate limits, health), else the request failed
    (budgets fail closed)."""

    store: str
    operation: str
    fallback: bool
    provider: str = ""


@dataclass(frozen=True, slots=True)
class PromptUsageLearned:
    """An answered call's billed usage was recorded against the estimate of its prompt (``app.tokens.learning``).

    ``family`` is the model's token family, ``group`` the request's text group (a ``TEXT_GROUPS`` name);
    ``estimate_tokens``, ``upper_tokens`` (the prior's upper estimate) and ``bound_tokens`` (what the cap was checked
    with before this observation) are the request's figures; ``billed_prompt_tokens`` what the proxy billed;
    ``factor`` the group's learned quantile after it, ``group_observations`` how many it rests on. ``max_tokens`` and
    ``billed_completion_tokens``: the output allowed and billed (``None`` when not sent / not reported).
    """

    provider: str
    model: str
    family: str
    group: str
    estimate_tokens: int
    upper_tokens: int
    bound_tokens: int
    billed_prompt_tokens: int
    factor: float | None
    group_observations: int
    max_tokens: int | None = None
    billed_completion_tokens: int | None = None


Event = (
    RequestFinished
    | RetryScheduled
    | RateLimitWaited
    | RateLimitHeld
    | HealthChanged
    | RoutingDecided
    | BudgetRefused
    | Fallback
    | CostOverEstimate
    | BudgetUsage
    | SpendSettled
    | SpendRefused
    | StoreFailed
    | PromptUsageLearned
)
Observer = Callable[[Event], None]


class EventBus:
    """The observers of one provider or router. ``subscribe`` twice is a no-op; order of delivery is
    subscription order."""

    __slots__ = ("_observers", "active")

    def __init__(self, observers: tuple[Observer, ...] | list[Observer] = ()) -> None:
        self._observers: list[Observer] = []
        #: Whether anyone listens (emitters skip building events otherwise); a plain attribute, read on every
        #: request, kept in step by ``subscribe`` and ``unsubscribe``.
        self.active = False
        for observer in observers:
            self.subscribe(observer)

    def subscribe(self, observer: Observer) -> None:
        if observer not in self._observers:
            self._observers.append(observer)
        self.active = True

    def unsubscribe(self, observer: Observer) -> None:
        """Stop sending to ``observer`` (unknown observers are ignored)."""
        if observer in self._observers:
            self._observers.remove(observer)
        self.active = bool(self._observers)

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every observer; an observer's exception is logged, never raised."""
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                logger.exception("event observer %r failed on %s", observer, type(event).__name__)
