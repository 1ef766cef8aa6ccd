"""``BudgetLedger``: the spend budgets of gateway keys, teams and the whole gateway, enforced with reservations.

For one request (:meth:`BudgetLedger.for_request`) the budgets that apply are the key's, its team's and the
gateway's, each in its current calendar window. Before each attempt the router reserves the attempt's worst case
(the figure the per-request cap is checked against) on every one of them, all or nothing
(:meth:`RequestBudget.reserve`); afterwards the hold is settled at what the attempt cost by the router's rules (the
actual cost; the worst case for a failure with no answer; 0 for an error answer). Over budget:
:class:`~app.errors.SpendLimitExceededError` naming the budget and when its window resets. The store unreachable:
:class:`~app.errors.StoreUnavailableError` (budgets fail closed: nothing is sent unaccounted).

Reservations are taken from leases (:mod:`app.budgets.lease`): a hold in the store that one request (alone) or
several requests of this replica (busy on the same windows, ``lease_requests`` > 1, the gateway's setting with
Redis) share; a request's settlement is counted in memory, and a lease is settled in the store when it retires. With
a store that queues settlements (``settle_nowait``: Redis) nothing is awaited then: the request's answer does not
wait for the store. A settle that cannot reach the store is retried in the background (the hold stays reserved
meanwhile); holds of requests still running are kept alive (their expiry pushed back) every ``hold_ttl_s / 3``
seconds, so only a dead replica's holds expire (and are then charged in full, see :mod:`app.budgets.store`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TypeVar

from app.budgets.config import BudgetSpec, KeysFile, Principal
from app.budgets.lease import Lease, LeasePool
from app.budgets.request import BudgetLine, LineReport, RequestBudget, SpendHold, _report, usd_to_atto_ceil
from app.budgets.store import BudgetStore, LineSpec, LineState, SettleResult
from app.budgets.windows import window_at
from app.errors import SpendLimitExceededError, StoreUnavailableError
from app.events import BudgetUsage, EventBus, SpendRefused, SpendSettled, StoreFailed

__all__ = ["BudgetLedger", "BudgetLine", "LineReport", "RequestBudget", "SpendHold", "usd_to_atto_ceil"]

logger = logging.getLogger("costmux.budgets")

Clock = Callable[[], float]
T = TypeVar("T")
_LINE_CACHE_SIZE = 4096  # principals whose budget lines are kept
_REPORT_EVERY_S = 1.0  # budget gauges are refreshed from settlements at most this often per window
_STATUS_EVERY_S = 15.0  # and from the store by the upkeep this often


class BudgetLedger:
    """Budgets of the keys file, counted in ``store``.

    Args:
        keys: the keys file (budgets of keys, teams and the gateway, and the time zone of the windows).
        store: where spent and reserved amounts are kept (memory, or Redis for several replicas).
        clock: wall-clock seconds since the epoch (replicas sharing a store must agree on it).
        hold_ttl_s: how long a reservation lives without being kept alive (a dead replica's holds expire then).
        hint_ttl_s: how old this process's knowledge of a budget may be to cap a request's plan without asking the
            store (the reservation itself always asks, or takes from a lease the store granted).
        lease_requests: the most requests' worst cases one lease may hold (1: each request reserves its own).
        lease_share: the most of what the windows had left that one lease may take.
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

    def _forget_if_idle(self, specs: tuple[LineSpec, ...]) -> None:
        """Forget the pool of ``specs`` if nothing runs, waits or is leased on it (a refused request's)."""
        key = tuple(spec.key for spec in specs)
        pool = self._pools.get(key)
        if pool is not None and pool.idle:
            del self._pools[key]

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
