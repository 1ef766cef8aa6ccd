"""``BudgetLedger``: the spend budgets of gateway keys, teams and the whole gateway, enforced with reservations.

For one request (:meth:`BudgetLedger.for_request`) the budgets that apply are the key's, its team's and the
gateway's, each in its current calendar window. Before each attempt the router reserves the attempt's worst case
(the figure the per-request cap is checked against) on every one of them, all or nothing
(:meth:`RequestBudget.reserve`); afterwards the hold is settled at what the attempt cost by the router's rules (the
actual cost; the worst case for a failure with no answer; 0 for an error answer). Over budget:
:class:`~app.errors.SpendLimitExceededError` naming the budget and when its window resets. The store unreachable:
:class:`~app.errors.StoreUnavailableError` (budgets fail closed: nothing is sent unaccounted).

A settle that cannot reach the store is retried in the background (the hold stays reserved meanwhile); holds of
requests still running are kept alive (their expiry pushed back) every ``hold_ttl_s / 3`` seconds, so only a dead
replica's holds expire (and are then charged in full, see :mod:`app.budgets.store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import TypeVar

from app.budgets.config import BudgetSpec, KeysFile, Principal
from app.budgets.lease import Lease, LeasePool
from app.budgets.store import BudgetStore, LineSpec, LineState, SettleResult
from app.budgets.windows import CalendarWindow, window_at
from app.errors import SpendLimitExceededError, StoreUnavailableError
from app.events import BudgetUsage, EventBus, SpendRefused, SpendSettled, StoreFailed
from app.pricing import ATTO_USD_PER_USD, atto_to_usd, decimal_str

__all__ = ["BudgetLedger", "BudgetLine", "LineReport", "RequestBudget", "SpendHold"]

logger = logging.getLogger("costmux.budgets")

Clock = Callable[[], float]
_ADJECTIVE = {"hour": "hourly", "day": "daily", "month": "monthly"}
T = TypeVar("T")
_RETENTION_S = 86_400.0  # a window's counters are kept this long after it ends (the status of the last window)
_LINE_CACHE_SIZE = 4096  # principals whose budget lines are kept
_REPORT_EVERY_S = 1.0  # budget gauges are refreshed from settlements at most this often per window
_STATUS_EVERY_S = 15.0  # and from the store by the upkeep this often


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
        left = [
            spec.limit_atto - s.spent_atto - s.reserved_atto for spec, s in zip(self.specs, self._states, strict=True)
        ]
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
            lease = await self._lease(pool, amount, worst_case_cost_usd)
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


class BudgetLedger:
    """Budgets of the keys file, counted in ``store``.

    Args:
        keys: the keys file (budgets of keys, teams and the gateway, and the time zone of the windows).
        store: where spent and reserved amounts are kept (memory, or Redis for several replicas).
        clock: wall-clock seconds since the epoch (replicas sharing a store must agree on it).
        hold_ttl_s: how long a reservation lives without being kept alive (a dead replica's holds expire then).
        hint_ttl_s: how old this process's knowledge of a budget may be to cap a request's plan without asking the
            store (the reservation itself always asks).
        events: where usage, settlements, refusals and store failures are reported (the metrics).
        sleep: how the background task waits (tests inject one).
    """

    def __init__(
        self,
        keys: KeysFile,
        store: BudgetStore,
        *,
        clock: Clock = time.time,
        hold_ttl_s: float = 300.0,
        hint_ttl_s: float = 1.0,
        lease_requests: int = 1,
        lease_share: float = 0.1,
        events: EventBus | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if lease_requests < 1 or not 0 < lease_share <= 1:
            raise ValueError("lease_requests must be at least 1 and lease_share within (0, 1]")
        self.keys = keys
        self.store = store
        self.now = clock
        self.hold_ttl_s = hold_ttl_s
        self.hint_ttl_s = hint_ttl_s
        self.lease_requests = lease_requests
        self.lease_share = lease_share
        self._pools: dict[tuple[str, ...], LeasePool] = {}  # windows' keys -> their leases here
        self._line_cache: dict[Principal | None, tuple[float, float, tuple[BudgetLine, ...], tuple[LineSpec, ...]]] = {}
        self._known: dict[str, tuple[LineState, float, float]] = {}  # key -> (state, learned at, reported at)
        self.events = events if events is not None else EventBus()
        self._sleep = sleep
        self._zone = keys.zone
        self._teams = {name: team.budgets for name, team in keys.teams.items()}
        self._live: set[str] = set()  # holds (leases) of requests still running
        self._pending: dict[str, tuple[Lease, RequestBudget]] = {}  # retired leases whose settlement is retried
        self._tasks: set[asyncio.Task[None]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._last_status = -math.inf

    def scopes(self, principal: Principal | None) -> list[tuple[str, tuple[BudgetSpec, ...]]]:
        """``(scope, budgets)`` that apply to a request of ``principal`` (``None``: an unauthenticated gateway)."""
        found: list[tuple[str, tuple[BudgetSpec, ...]]] = []
        if principal is not None:
            found.append((f"key:{principal.name}", principal.budgets))
            if principal.team is not None:
                found.append((f"team:{principal.team}", self._teams.get(principal.team, ())))
        found.append(("gateway", self.keys.gateway.budgets))
        return [(scope, budgets) for scope, budgets in found if budgets]

    def lines(
        self, scopes: Sequence[tuple[str, tuple[BudgetSpec, ...]]], now: float | None = None
    ) -> tuple[BudgetLine, ...]:
        at = self.now() if now is None else now
        return tuple(
            BudgetLine(scope, window_at(b.window, at, self._zone), b.max_usd)
            for scope, budgets in scopes
            for b in budgets
        )

    def for_request(self, principal: Principal | None) -> RequestBudget | None:
        """The budgets of one request of ``principal``, or ``None`` when none applies (nothing to count). The lines
        of a principal are kept until one of its windows ends."""
        now = self.now()
        cached = self._line_cache.get(principal)
        if cached is None or not cached[0] <= now < cached[1]:
            lines = self.lines(self.scopes(principal), now)
            start = max((line.window.start for line in lines), default=-math.inf)
            end = min((line.window.end for line in lines), default=math.inf)
            if len(self._line_cache) >= _LINE_CACHE_SIZE:
                self._line_cache.clear()
            cached = self._line_cache[principal] = (start, end, lines, tuple(line.spec() for line in lines))
        return RequestBudget(self, cached[2], cached[3]) if cached[2] else None

    def _learn(
        self, specs: Sequence[LineSpec], states: Sequence[LineState], *, report: RequestBudget | bool = False
    ) -> None:
        """Remember the windows' states (the plan's hint); with ``report`` (the request's budget), tell the metrics
        about each window last reported more than a second ago."""
        at = self.now()
        known = self._known
        stale = []
        for index, (spec, state) in enumerate(zip(specs, states, strict=True)):
            previous = known.get(spec.key)
            if report and (previous is None or previous[2] + _REPORT_EVERY_S <= at):
                stale.append(index)
                known[spec.key] = (state, at, at)
            else:
                known[spec.key] = (state, at, previous[2] if previous is not None else -math.inf)
        if len(known) > 4 * _LINE_CACHE_SIZE:
            known.clear()
        if stale and isinstance(report, RequestBudget) and self.events.active:
            self._usage([_report(report.lines[i], states[i]) for i in stale])

    def _recent(self, specs: Sequence[LineSpec]) -> list[LineState] | None:
        """The windows' states this process learned less than ``hint_ttl_s`` ago, or ``None``."""
        oldest = self.now() - self.hint_ttl_s
        states = []
        for spec in specs:
            known = self._known.get(spec.key)
            if known is None or known[1] < oldest:
                return None
            states.append(known[0])
        return states

    def configured_scopes(self) -> list[tuple[str, tuple[BudgetSpec, ...]]]:
        """Every configured budget: the keys', the teams' and the gateway's."""
        scopes = [(f"key:{k.name}", k.budgets) for k in self.keys.keys]
        scopes += [(f"team:{name}", budgets) for name, budgets in self._teams.items()]
        scopes.append(("gateway", self.keys.gateway.budgets))
        return [(scope, budgets) for scope, budgets in scopes if budgets]

    async def status(self) -> list[LineReport]:
        """Spent, reserved and remaining of every configured budget in its current window.

        Raises:
            StoreUnavailableError: the store did not answer.
        """
        lines = self.lines(self.configured_scopes())
        if not lines:
            return []
        states = await self._call("usage", self.store.usage([line.key for line in lines], now=self.now()))
        reports = [_report(line, state) for line, state in zip(lines, states, strict=True)]
        self._usage(reports)
        return reports

    # -- internals -------------------------------------------------------------------------------------------------

    async def _call(self, operation: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except StoreUnavailableError as exc:
            logger.error("spend budgets fail closed: %s", exc)
            if self.events.active:
                self.events.emit(StoreFailed("budgets", operation, fallback=False))
            raise

    def _pool(self, specs: tuple[LineSpec, ...]) -> LeasePool:
        key = tuple(spec.key for spec in specs)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = LeasePool(self.lease_requests, self.lease_share)
        return pool

    async def _end(self, hold: SpendHold, cost_usd: Decimal, budget: RequestBudget) -> None:
        """A request's reservation ends at ``cost_usd``: counted on its lease in memory; the leases that retire with
        it are settled in the store. A store that settles without waiting (Redis) gets them queued, nothing is
        awaited (the request's answer does not wait for the store; the next call of this replica is sent after
        them on the ordered queue of the store); else (memory) they are awaited."""
        actual = usd_to_atto_ceil(cost_usd)
        key = tuple(spec.key for spec in budget.specs)
        pool = self._pools.get(key)
        retired = pool.end(hold.lease, hold.amount_atto, actual) if pool is not None else []
        if pool is not None and pool.idle:
            del self._pools[key]
        if self.events.active:
            for scope in dict.fromkeys(line.scope for line in budget.lines):  # once per scope, whatever its windows
                self.events.emit(SpendSettled(scope, cost_usd))
        for lease in retired:
            budget._retired(lease)
            await self._retire(lease, budget)

    async def _retire(self, lease: Lease, budget: RequestBudget) -> None:
        """Settle a retired lease at what its requests cost (never raises: a failure is retried by the upkeep)."""
        self._live.discard(lease.hold_id)
        settle_nowait = getattr(self.store, "settle_nowait", None)
        if settle_nowait is not None:
            future = settle_nowait(lease.hold_id, lease.used_atto, now=self.now())
            future.add_done_callback(lambda done: self._settled(lease, budget, done))
            return
        try:
            result = await self.store.settle(lease.hold_id, lease.used_atto, now=self.now())
        except StoreUnavailableError as exc:
            self._settle_failed(lease, budget, exc)
            return
        self._settled_with(lease, budget, result)

    def _settled(self, lease: Lease, budget: RequestBudget, done: asyncio.Future[SettleResult]) -> None:
        if done.cancelled():
            self._settle_failed(lease, budget, StoreUnavailableError("cancelled", store="budgets", operation="settle"))
            return
        exc = done.exception()
        if isinstance(exc, StoreUnavailableError):
            self._settle_failed(lease, budget, exc)
        elif exc is not None:
            logger.error("settling a spend reservation failed: %r", exc)
            self._pending[lease.hold_id] = (lease, budget)
        else:
            self._settled_with(lease, budget, done.result())

    def _settle_failed(self, lease: Lease, budget: RequestBudget, exc: StoreUnavailableError) -> None:
        logger.warning("settling a spend reservation failed, retrying in the background: %s", exc)
        if self.events.active:
            self.events.emit(StoreFailed("budgets", "settle", fallback=False))
        self._pending[lease.hold_id] = (lease, budget)

    def _settled_with(self, lease: Lease, budget: RequestBudget, result: SettleResult) -> None:
        self._pending.pop(lease.hold_id, None)
        if result.before == "unknown":
            logger.warning("a spend reservation was gone when settled (forgotten by the store)")
            return
        budget._update(result.states, report=True)

    def _usage(self, reports: Sequence[LineReport]) -> None:
        if self.events.active:
            for r in reports:
                self.events.emit(
                    BudgetUsage(r.line.scope, r.line.window.kind, r.line.max_usd, r.spent_usd, r.reserved_usd)
                )

    def refused(self, error: SpendLimitExceededError) -> None:
        """Report a request refused for ``error`` (once per answered refusal)."""
        if self.events.active:
            self.events.emit(SpendRefused(error.scope, error.window))

    def _spawn(self, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the settles running in the background (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def maintain(self) -> None:
        """One round of upkeep: keep live holds alive, retry failed settles, refresh the budget gauges every
        ``_STATUS_EVERY_S`` (an idle replica's too)."""
        now = self.now()
        if self.events.active and now - self._last_status >= _STATUS_EVERY_S:
            self._last_status = now
            with contextlib.suppress(StoreUnavailableError):  # logged and counted by _call
                await self.status()
        if self._live:
            try:
                await self.store.extend(sorted(self._live), ttl_s=self.hold_ttl_s, now=now)
            except StoreUnavailableError as exc:
                logger.warning("keeping spend reservations alive failed: %s", exc)
        for lease, budget in list(self._pending.values()):
            await self._retire(lease, budget)

    def start(self) -> None:
        """Start the upkeep task (every ``hold_ttl_s / 3`` s). Needs a running event loop; no-op if running."""
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="costmux-budget-upkeep")

    async def _keep(self) -> None:
        while True:
            await self._sleep(max(0.05, self.hold_ttl_s / 3))  # type: ignore[misc]
            try:
                await self.maintain()
            except Exception:  # never let the upkeep die
                logger.exception("spend budget upkeep failed")

    async def aclose(self) -> None:
        """Stop the upkeep, finish the background settles, retry the failed ones once."""
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        await self.drain()
        for lease, budget in list(self._pending.values()):
            await self._retire(lease, budget)
        await self.store.aclose()  # what the store still sends for callers that gave up
