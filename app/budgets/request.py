"""One request's spend budgets (:class:`RequestBudget`, the router's ``spend`` guard) and its reservations
(:class:`SpendHold`), taken from leases (:mod:`app.budgets.lease`); the ledger that counts them is
:mod:`app.budgets.ledger`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TYPE_CHECKING

from app.budgets.lease import Lease, LeasePool
from app.budgets.store import LineSpec, LineState
from app.budgets.windows import CalendarWindow
from app.errors import SpendLimitExceededError
from app.pricing import ATTO_USD_PER_USD, atto_to_usd, decimal_str

if TYPE_CHECKING:
    from app.budgets.ledger import BudgetLedger

__all__ = ["BudgetLine", "LineReport", "RequestBudget", "SpendHold", "usd_to_atto_ceil"]

_ADJECTIVE = {"hour": "hourly", "day": "daily", "month": "monthly"}
_RETENTION_S = 86_400.0  # a window's counters are kept this long after it ends (the status of the last window)


def usd_to_atto_ceil(usd: Decimal) -> int:
    """USD in whole atto-USD, rounded up (a price finer than 10⁻¹⁸ USD is reserved and charged never less)."""
    return int((usd * ATTO_USD_PER_USD).to_integral_value(rounding=ROUND_CEILING))


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget in force now: its scope (``key:<name>``, ``team:<name>``, ``gateway``), its window, its limit."""

    scope: str
    window: CalendarWindow
    max_usd: Decimal

    @property
    def key(self) -> str:
        return f"{self.scope}:{self.window.kind}:{self.window.label}"

    def spec(self) -> LineSpec:
        return LineSpec(self.key, usd_to_atto_ceil(self.max_usd), self.window.end + _RETENTION_S)


@dataclass(frozen=True, slots=True)
class LineReport:
    """A budget line with its spent and reserved amounts (USD)."""

    line: BudgetLine
    spent_usd: Decimal
    reserved_usd: Decimal

    @property
    def remaining_usd(self) -> Decimal:
        return max(Decimal(0), self.line.max_usd - self.spent_usd - self.reserved_usd)

    def as_dict(self) -> dict[str, object]:
        window = self.line.window
        return {
            "scope": self.line.scope,
            "window": window.kind,
            "window_start": window.label,
            "resets_at": window.resets_at_iso,
            "max_usd": decimal_str(self.line.max_usd),
            "spent_usd": decimal_str(self.spent_usd),
            "reserved_usd": decimal_str(self.reserved_usd),
            "remaining_usd": decimal_str(self.remaining_usd),
        }


def _report(line: BudgetLine, state: LineState) -> LineReport:
    return LineReport(line, atto_to_usd(state.spent_atto), atto_to_usd(state.reserved_atto))


class SpendHold:
    """One attempt's reservation (on a lease, :mod:`app.budgets.lease`); settle it once with what the attempt cost."""

    __slots__ = ("_budget", "_done", "amount_atto", "lease", "worst_case_usd")

    def __init__(self, budget: RequestBudget, lease: Lease, amount_atto: int, worst_case_usd: Decimal) -> None:
        self._budget = budget
        self._done = False
        self.lease = lease
        self.amount_atto = amount_atto
        self.worst_case_usd = worst_case_usd

    @property
    def hold_id(self) -> str:
        """The store's hold this reservation is part of (its lease's)."""
        return self.lease.hold_id

    async def settle(self, cost_usd: Decimal) -> None:
        """Charge ``cost_usd`` (USD) instead of the reservation. Only the first call counts; never raises (a store
        failure is retried in the background). With a shared store (Redis) it does not wait for the store: the
        settlement is on its way when it returns (see :meth:`BudgetLedger._end`)."""
        if self._done:
            return
        self._done = True
        await self._budget.ledger._end(self, cost_usd, self._budget)

    def settle_soon(self, cost_usd: Decimal) -> None:
        """:meth:`settle` in a background task (for callers that cannot wait, such as a closing stream)."""
        if self._done:
            return
        self._done = True
        self._budget.ledger._spawn(self._budget.ledger._end(self, cost_usd, self._budget))


class RequestBudget:
    """The budgets of one request (see the module doc); the router's ``spend`` guard."""

    def __init__(self, ledger: BudgetLedger, lines: tuple[BudgetLine, ...], specs: tuple[LineSpec, ...]) -> None:
        self.ledger = ledger
        self.lines = lines
        self.specs = specs
        self._states: Sequence[LineState] = ()

    def _update(self, states: Sequence[LineState], *, report: bool = False) -> None:
        """Learn the windows' states from a store answer (``report``: also tell the metrics, at most once a second
        per window)."""
        if len(states) == len(self.lines):
            self._states = states
            self.ledger._learn(self.specs, states, report=report and self)

    @property
    def reports(self) -> tuple[LineReport, ...]:
        """Every budget of the request with its last known state."""
        return tuple(_report(line, state) for line, state in zip(self.lines, self._states, strict=True))

    def tightest(self) -> LineReport | None:
        """The budget with the least remaining (the one the headers show), from the last known state."""
        if not self._states:
            return None
        left = [state.left_atto(spec) for spec, state in zip(self.specs, self._states, strict=True)]
        index = left.index(min(left))
        return _report(self.lines[index], self._states[index])

    async def remaining_usd(self, *, fresh: bool = False) -> Decimal:
        """What every budget of the request can still take (the least remaining): from this process's last store
        answers about them when all are younger than the ledger's ``hint_ttl_s`` (a hint: the reservation decides),
        else (or with ``fresh``) read from the store now.

        Raises:
            StoreUnavailableError: the store did not answer.
        """
        ledger = self.ledger
        states: Sequence[LineState] | None = None if fresh else ledger._recent(self.specs)
        if states is None:
            keys = [spec.key for spec in self.specs]
            states = await ledger._call("usage", ledger.store.usage(keys, now=ledger.now()))
        self._update(states)
        tight = self.tightest()
        if tight is None:
            return Decimal(0)
        pool = ledger._pools.get(tuple(spec.key for spec in self.specs))
        free = atto_to_usd(pool.free_atto) if pool is not None else Decimal(0)  # this replica's leases: it can use
        return tight.remaining_usd + free

    def _retired(self, lease: Lease) -> None:
        """The headers of a request whose lease retires now show its settlement (as of the last store answer)."""
        self._states = tuple(
            LineState(s.spent_atto + lease.used_atto, max(0, s.reserved_atto - lease.amount_atto)) for s in self._states
        )

    def exceeded(self, needed_usd: Decimal | None, report: LineReport | None = None) -> SpendLimitExceededError:
        """The refusal for a request needing ``needed_usd`` (``None``: the budget is used up) on ``report``'s budget
        (default: the tightest)."""
        report = report or self.tightest()
        assert report is not None
        line = report.line
        need = f"the request needs up to ${decimal_str(needed_usd)}" if needed_usd is not None else "it is used up"
        return SpendLimitExceededError(
            f"the {_ADJECTIVE[line.window.kind]} budget of {line.scope} (${decimal_str(line.max_usd)}) has "
            f"${decimal_str(report.remaining_usd)} left and {need}; it resets at {line.window.resets_at_iso}",
            scope=line.scope,
            window=line.window.kind,
            max_usd=line.max_usd,
            remaining_usd=report.remaining_usd,
            needed_usd=needed_usd,
            resets_at=line.window.end,
        )

    async def reserve(self, worst_case_cost_usd: Decimal) -> SpendHold:
        """Reserve ``worst_case_cost_usd`` on every budget of the request, all or nothing: from a lease this
        replica holds on them when one has room (no store call), else from a new lease (:mod:`app.budgets.lease`).

        Raises:
            SpendLimitExceededError: a budget cannot take it (the first one, in key, team, gateway order).
            StoreUnavailableError: the store did not answer.
        """
        ledger = self.ledger
        amount = usd_to_atto_ceil(worst_case_cost_usd)
        pool = ledger._pool(self.specs)
        lease = pool.take(amount)
        while lease is None and pool.pending is not None:  # a lease on its way may have room: wait for it
            pool.waiting += 1
            try:
                await asyncio.shield(pool.pending)
            finally:
                pool.waiting -= 1
            lease = pool.take(amount)
        if lease is None:
            try:
                lease = await self._lease(pool, amount, worst_case_cost_usd)
            finally:
                ledger._forget_if_idle(self.specs)
        elif not self._states:
            self._update(ledger._recent(self.specs) or ())
        return SpendHold(self, lease, amount, worst_case_cost_usd)

    async def _lease(self, pool: LeasePool, amount: int, worst_case_cost_usd: Decimal) -> Lease:
        """Reserve a new lease for a request of ``amount`` atto-USD (its size: :meth:`LeasePool.size`); one the store
        refuses is asked again at exactly ``amount`` before the request is refused."""
        ledger = self.ledger
        pending = pool.pending = asyncio.get_running_loop().create_future()
        try:
            size = pool.size(amount, self.specs, ledger._recent(self.specs))
            while True:
                hold_id = uuid.uuid4().hex
                call = ledger.store.reserve(hold_id, self.specs, size, ttl_s=ledger.hold_ttl_s, now=ledger.now())
                result = await ledger._call("reserve", call)
                self._update(result.states)
                if result.ok or result.existing == "reserved":
                    break
                if size > amount:
                    size = amount  # the slice did not fit: exactly this request's worst case
                    continue
                index = result.refused if result.refused is not None else 0
                report = _report(self.lines[index], self._states[index]) if self._states else None
                raise self.exceeded(worst_case_cost_usd, report)
        finally:
            pool.pending = None
            pending.set_result(None)
        ledger._live.add(hold_id)
        return pool.add(hold_id, size, amount)

    def headers(self) -> dict[str, str]:
        """``x-costmux-budget-*`` headers of the tightest budget (empty before the first store answer)."""
        tight = self.tightest()
        if tight is None:
            return {}
        window = tight.line.window
        return {
            "x-costmux-budget-scope": tight.line.scope,
            "x-costmux-budget-window": window.kind,
            "x-costmux-budget-limit": decimal_str(tight.line.max_usd),
            "x-costmux-budget-remaining": decimal_str(tight.remaining_usd),
            "x-costmux-budget-reset": window.resets_at_iso,
        }
