"""``ModelGuard``: the client-side rate limiter and per-model health, applied around each provider call.

One admission per call (not per retry attempt):

1. :meth:`ModelGuard.admit` refuses a cooling model (``ProviderUnavailableError``, or takes its half-open trial),
   then reserves one request and the estimated tokens, waiting up to ``timeout_s`` (``0``: raise ``RateLimitError``
   at once).
2. :meth:`Admission.succeeded` corrects the token charge with the actual usage, reads the proxy's
   ``x-ratelimit-remaining-*`` headers and records a success.
3. :meth:`Admission.failed` settles a failure: an error the proxy answered (nothing was generated) gives back the
   reservation; no answer (timeout, lost connection, cancellation) keeps the estimate charged, since the upstream may
   have worked; a 429 holds the model off for every request of the process (``retry_after_s``, or
   ``default_hold_s``); the health record counts what says something about the model (see ``health.py``).

Each admission settles exactly once; later calls are ignored.

With a shared store (``guard_store``: Redis, for several replicas) the same steps run against it: see
:mod:`app.providers.shared_guard` (one atomic admission, settlement in the background, the process's own state as the
fallback while the store is unreachable).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from app.errors import ProviderError, ProviderUnavailableError, RateLimitError
from app.events import EventBus, HealthChanged, RateLimitHeld, RateLimitWaited
from app.models import Usage
from app.providers.health import HealthPolicy, HealthState, ModelHealth
from app.providers.model_registry import RateLimits
from app.providers.ratelimit import BucketStore, RateLimiter, Reservation

if TYPE_CHECKING:
    from app.providers.guard_store import GuardStore
    from app.providers.shared_guard import SharedGuard, _SharedSettlement

__all__ = ["Admission", "ModelGuard"]


class Admission:
    """A call that was let through; settle it with :meth:`succeeded` or :meth:`failed`."""

    __slots__ = ("_guard", "_settled", "model", "reservation", "shared")

    def __init__(self, guard: ModelGuard, model: str, reservation: Reservation) -> None:
        self._guard = guard
        self._settled = False
        self.model = model
        self.reservation = reservation
        self.shared: _SharedSettlement | None = None  # admitted through a shared store: settled there

    def succeeded(self, usage: Usage | None, headers: Mapping[str, str] | None = None) -> None:
        """The call completed: charge the actual tokens (the estimate when usage is unknown), record a success."""
        if self._settled:
            return
        self._settled = True
        if self.shared is not None:
            self.shared.succeeded(usage, headers)
            return
        self.reservation.commit(usage.total_tokens if usage is not None else self.reservation.tokens)
        if headers is not None:
            self._guard.limiter.update_from_headers(self.model, headers)
        self._guard.health.record_success(self.model)

    def failed(self, error: BaseException, *, generated: bool = False) -> None:
        """The call failed (see the module doc for what is given back and what is recorded); ``generated`` says
        output was produced before the failure (a stream that broke after chunks), so the charge is kept."""
        if self._settled:
            return
        self._settled = True
        guard = self._guard
        hold_s = None
        if isinstance(error, RateLimitError) and error.status_code == 429:
            hold_s = error.retry_after_s or guard.default_hold_s
            if guard.events.active:
                guard.events.emit(RateLimitHeld(guard.provider, self.model, hold_s))
        if self.shared is not None:
            self.shared.failed(error, generated=generated, hold_s=hold_s)
            return
        answered = isinstance(error, ProviderError) and (error.status_code is not None or not error.request_sent)
        if answered and not generated:
            self.reservation.release()
        else:
            self.reservation.commit(self.reservation.tokens)
        if hold_s is not None:
            guard.limiter.hold(self.model, hold_s)
        if isinstance(error, ProviderError):
            guard.health.record_failure(self.model, error)
        else:
            guard.health.release_trial(self.model)


class ModelGuard:
    """Rate limits and health of one provider's models.

    Args:
        limits: the rate limits of a model (read on every call, so a refreshed registry applies at once).
        health_policy: thresholds and cooldowns of the per-model circuit breaker.
        store: limiter state backend (in-memory by default; shared backends for several processes later).
        default_hold_s: how long a 429 without ``Retry-After`` holds a model off, seconds.
        clock: monotonic clock in seconds (tests inject one).
        sleep: how the limiter waits (tests inject one that advances their clock).
        provider: the provider's name in events.
        events: where waits, holds and health changes are reported.
        guard_store: a store shared by several replicas (Redis) for the limits, hold-offs and breakers; the
            guard's own in-process state is then the fallback while the store is unreachable.
        shared_clock: wall-clock seconds used with ``guard_store`` (replicas must agree on it).
    """

    def __init__(
        self,
        limits: Callable[[str], RateLimits | None],
        *,
        health_policy: HealthPolicy | None = None,
        store: BucketStore | None = None,
        default_hold_s: float = 1.0,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        provider: str = "",
        events: EventBus | None = None,
        guard_store: GuardStore | None = None,
        shared_clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.events = events if events is not None else EventBus()
        self._clock = clock
        self.sleep = sleep
        self.limiter = RateLimiter(limits, clock=clock, sleep=sleep, store=store)
        self.health = ModelHealth(health_policy or HealthPolicy(), clock=clock, on_change=self._health_changed)
        self.default_hold_s = default_hold_s
        self.shared: SharedGuard | None = None
        if guard_store is not None:
            from app.providers.shared_guard import SharedGuard

            self.shared = SharedGuard(self, guard_store, clock=shared_clock)

    def _health_changed(self, model: str, state: HealthState, cooldown_s: float) -> None:
        if self.events.active:
            self.events.emit(HealthChanged(self.provider, model, state, cooldown_s))

    def availability(self, model: str, tokens: int) -> tuple[str, str] | None:
        """Without waiting or changing anything: ``None`` if ``model`` can take a request of ``tokens`` now, else
        ``("unhealthy" | "rate_limited", why)``."""
        if self.shared is not None:
            return self.shared.availability(model, tokens)
        unhealthy = self.health.peek(model)
        if unhealthy is not None:
            return "unhealthy", unhealthy
        wait_s = self.limiter.wait_time_s(model, tokens)
        return ("rate_limited", _wait_reason(wait_s)) if wait_s > 0 else None

    def unavailable(self, limited_models: Iterable[str], tokens: int) -> dict[str, tuple[str, str]]:
        """:meth:`availability` of every model at once, without waiting or changing anything: ``{model: (reason,
        why)}``. Only models whose breaker is not closed, models held off after a 429, and ``limited_models`` (those
        with rpm/tpm limits) can be unavailable, so only they are looked at."""
        if self.shared is not None:
            return self.shared.unavailable(limited_models, tokens)
        return self._local_unavailable(limited_models, tokens)

    def _local_unavailable(self, limited_models: Iterable[str], tokens: int) -> dict[str, tuple[str, str]]:
        """:meth:`unavailable` from the process's own state."""
        refused = {model: ("unhealthy", why) for model, why in self.health.unhealthy_models().items()}
        for model in (*self.limiter.held_models(), *limited_models):
            if model not in refused:
                wait_s = self.limiter.wait_time_s(model, tokens)
                if wait_s > 0:
                    refused[model] = ("rate_limited", _wait_reason(wait_s))
        return refused

    async def admit(
        self, model: str, tokens: int | Callable[[], int], *, provider: str, timeout_s: float | None
    ) -> Admission:
        """Let one call through (see the module doc). ``tokens`` may be a function estimating them, called only
        when the model has a tokens-per-minute limit.

        Raises:
            ProviderUnavailableError: the model is cooling down after failures.
            RateLimitError: the limiter would make the call wait longer than ``timeout_s``.
        """
        if self.shared is not None and not self.shared.degraded:
            admission = await self.shared.admit(model, tokens, provider=provider, timeout_s=timeout_s)
            if admission is not None:
                return admission  # else the store failed: the process's own state decides
        unhealthy = self.health.check(model)
        if unhealthy is not None:
            raise ProviderUnavailableError(
                f"model {model!r} is unavailable: {unhealthy}",
                provider=provider,
                model=model,
                retryable=True,
                request_sent=False,
            )
        try:
            first = tokens if isinstance(tokens, int) else (tokens() if self.limiter.counts_tokens(model) else 0)
            reservation = self.limiter.try_acquire(model, first)  # the usual case: no wait, nothing to report
            if reservation is None:
                started = self._clock()
                again = first if isinstance(tokens, int) or self.limiter.counts_tokens(model) else tokens
                reservation = await self.limiter.acquire(model, again, timeout_s=timeout_s)
                waited_s = self._clock() - started
                if waited_s > 0 and self.events.active:
                    self.events.emit(RateLimitWaited(provider, model, waited_s))
        except BaseException:
            self.health.release_trial(model)
            raise
        return Admission(self, model, reservation)

    async def aclose(self) -> None:
        """Finish the shared store's background settlements (no-op without a shared store)."""
        if self.shared is not None:
            await self.shared.aclose()

    def snapshot(self, model: str) -> dict[str, object]:
        """Health and rate-limit state of ``model`` (for ``get_model_info`` and metrics)."""
        return {"health": self.health.snapshot(model), "rate_limit": self.limiter.snapshot(model)}


def _wait_reason(wait_s: float) -> str:
    return "larger than its tokens-per-minute limit" if wait_s == float("inf") else f"free in {wait_s:.1f} s"
