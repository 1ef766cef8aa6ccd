"""The cap inside LiteLLM: every deployment attempt of a routed request (the choice, LiteLLM's retries, the fallbacks
costmux hands it) is planned within what is left of ``max_cost``, and every attempt is charged.

Charging follows :mod:`app.router.execution`:

* an attempt the upstream answered with an error status generated nothing: it costs 0;
* an attempt that got no answer (timeout, lost connection, a stream broken after it began) may have been billed up
  to its ``max_tokens``: it is charged its worst case;
* an attempt still open when the next one starts (LiteLLM said nothing of how it ended) is charged its worst case;
* the answering attempt is charged its actual cost (LiteLLM's ``response_cost``), its worst case while unknown.

So the sum of the attempts' costs never exceeds ``max_cost``: each attempt's worst case fits what was left when it
started.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from app.errors import BudgetExceededError
from app.pricing import ModelPricing, decimal_str
from app.router.budget import plan_output
from app.router.decision import RoutingDecision

__all__ = ["AttemptRefusedError", "LedgerBook", "ProxyAttempt", "RequestLedger"]


class AttemptRefusedError(BudgetExceededError):
    """What is left of ``max_cost`` affords no answer from this deployment: the attempt is refused before it is sent.

    ``status_code`` is 400 for LiteLLM's router: a refused attempt is not a fault of the deployment (no cooldown)
    and is not retried on it (the next fallback is tried).
    """

    status_code = 400

    def __init__(self, message: str, *, max_cost_usd: float, cheapest_cost_usd: float | None) -> None:
        super().__init__(message, max_cost_usd=max_cost_usd, cheapest_cost_usd=cheapest_cost_usd)
        self.message = message


@dataclass(slots=True)
class ProxyAttempt:
    """One deployment attempt: what it was allowed, and what it was charged once it ended (USD)."""

    group: str
    model_id: str | None
    max_tokens: int | None
    worst_case_cost_usd: Decimal
    started_s: float
    state: Literal["open", "failed", "answered"] = "open"
    cost_usd: Decimal = Decimal(0)
    error: str | None = None


class RequestLedger:
    """The attempts of one routed request inside the proxy and what they cost (USD).

    Args:
        decision: costmux's decision (its cap, the prompt analysis and the ranked candidates).
        prompt_bound_tokens: the prompt's upper bound the cap is planned with, tokens (for every model group unless
            ``prompt_bound_of`` says otherwise).
        prompt_bound_of: the prompt bound of an attempt on a model group, tokens: the group's own (its token
            family's, as what its calls were billed widened or tightened it), as the decision checked the cap with.
        caller_max_tokens: the caller's own ``max_tokens`` (never raised).
        min_output_tokens, default_max_output_tokens: as the router's policy.
        started_s: when the request was routed (the clock's seconds).
        token_fields: the request's fields that carry ``max_tokens`` (the planned limit is written to them).
        routed: whether costmux chose the model (``auto``) or capped a named one.
    """

    def __init__(
        self,
        decision: RoutingDecision,
        *,
        prompt_bound_tokens: int,
        caller_max_tokens: int | None,
        min_output_tokens: int,
        default_max_output_tokens: int,
        started_s: float,
        token_fields: tuple[str, ...] = ("max_tokens",),
        routed: bool = True,
        prompt_bound_of: Callable[[str], int] | None = None,
    ) -> None:
        self.decision = decision
        self.prompt_bound_of = prompt_bound_of
        self.token_fields = token_fields
        self.routed = routed
        #: the two ends LiteLLM reports (in either order): the response headers, and the answer's log (or a failure)
        self.headers_sent = False
        self.ended = False
        self.max_cost_usd = decision.max_cost_usd
        self.prompt_bound_tokens = prompt_bound_tokens
        self.caller_max_tokens = caller_max_tokens
        self.min_output_tokens = min_output_tokens
        self.default_max_output_tokens = default_max_output_tokens
        self.started_s = started_s
        self.spent = Decimal(0)
        self.attempts: list[ProxyAttempt] = []

    @property
    def remaining_usd(self) -> Decimal | None:
        """What is left of ``max_cost`` (``None``: no cap)."""
        return None if self.max_cost_usd is None else self.max_cost_usd - self.spent

    @property
    def last(self) -> ProxyAttempt | None:
        return self.attempts[-1] if self.attempts else None

    def open(
        self,
        group: str,
        model_id: str | None,
        pricing: ModelPricing | None,
        max_output_tokens: int | None,
        now_s: float,
    ) -> ProxyAttempt:
        """Plan the next attempt within what is left (closing an open one at its worst case first).

        Raises:
            AttemptRefusedError: the deployment is unpriced, or what is left affords it no answer.
        """
        previous = self.last
        if previous is not None and previous.state == "open":
            self.close(previous, "failed", previous.worst_case_cost_usd, "other")
        remaining = self.remaining_usd
        if pricing is None:
            if remaining is None:
                attempt = ProxyAttempt(group, model_id, self.caller_max_tokens, Decimal(0), now_s)
                self.attempts.append(attempt)
                return attempt
            raise self._refusal(f"{group} has no known price (never routed as if free)", None)
        bound = self.prompt_bound_of(group) if self.prompt_bound_of is not None else self.prompt_bound_tokens
        plan = plan_output(
            pricing,
            prompt_bound_tokens=bound,
            max_cost_usd=remaining,
            caller_max_tokens=self.caller_max_tokens,
            model_max_output_tokens=max_output_tokens or self.default_max_output_tokens,
            min_output_tokens=self.min_output_tokens,
        )
        if not plan.feasible:
            raise self._refusal(f"what is left of max_cost affords no answer from {group} ({plan.detail})", plan)
        attempt = ProxyAttempt(group, model_id, plan.max_tokens, plan.worst_case_cost_usd, now_s)
        self.attempts.append(attempt)
        return attempt

    def _refusal(self, why: str, plan: object) -> AttemptRefusedError:
        cap = self.max_cost_usd if self.max_cost_usd is not None else Decimal(0)
        worst = getattr(plan, "worst_case_cost_usd", None)
        left = decimal_str(self.remaining_usd) if self.remaining_usd is not None else "-"
        return AttemptRefusedError(
            f"costmux: ${left} of max_cost ${decimal_str(cap)} is left after {len(self.attempts)} attempt(s); {why}",
            max_cost_usd=float(cap),
            cheapest_cost_usd=float(worst) if isinstance(worst, Decimal) else None,
        )

    def close(
        self, attempt: ProxyAttempt, state: Literal["failed", "answered"], cost_usd: Decimal, error: str | None
    ) -> None:
        """Charge ``attempt`` ``cost_usd`` and mark how it ended (an attempt is charged once)."""
        if attempt.state != "open":
            return
        attempt.state = state
        attempt.cost_usd = cost_usd
        attempt.error = error
        self.spent += cost_usd

    def failed(self, *, answered: bool, error: str) -> ProxyAttempt | None:
        """The open attempt failed: 0 if the upstream answered with an error, else its worst case."""
        attempt = self.last
        if attempt is None or attempt.state != "open":
            return None
        self.close(attempt, "failed", Decimal(0) if answered else attempt.worst_case_cost_usd, error)
        return attempt

    def answered(self, cost_usd: Decimal | None) -> ProxyAttempt | None:
        """The open attempt answered at ``cost_usd`` (unknown: its worst case)."""
        attempt = self.last
        if attempt is None or attempt.state != "open":
            return None
        self.close(attempt, "answered", cost_usd if cost_usd is not None else attempt.worst_case_cost_usd, None)
        return attempt

    @property
    def fallbacks(self) -> int:
        """Attempts on another model group before the last one."""
        groups = [attempt.group for attempt in self.attempts]
        return sum(1 for before, after in itertools.pairwise(groups) if before != after)


class LedgerBook:
    """The ledgers of the requests in flight, by ledger id: bounded in number and age (a request whose end
    LiteLLM never reported is forgotten after ``max_age_s``)."""

    def __init__(
        self, *, max_entries: int = 10_000, max_age_s: float = 900.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.max_age_s = max_age_s
        self._clock = clock
        self._ledgers: OrderedDict[str, tuple[float, RequestLedger]] = OrderedDict()

    def add(self, ledger_id: str, ledger: RequestLedger) -> None:
        now = self._clock()
        self._ledgers[ledger_id] = (now, ledger)
        self._ledgers.move_to_end(ledger_id)
        while self._ledgers:
            oldest_key, (added, _) = next(iter(self._ledgers.items()))
            if len(self._ledgers) <= self.max_entries and now - added < self.max_age_s:
                break
            del self._ledgers[oldest_key]

    def get(self, ledger_id: object) -> RequestLedger | None:
        found = self._ledgers.get(ledger_id) if isinstance(ledger_id, str) else None
        return found[1] if found is not None else None

    def pop(self, ledger_id: object) -> RequestLedger | None:
        found = self._ledgers.pop(ledger_id, None) if isinstance(ledger_id, str) else None
        return found[1] if found is not None else None

    def __len__(self) -> int:
        return len(self._ledgers)
