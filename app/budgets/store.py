"""Where spend budgets are counted: :class:`MemoryBudgetStore` (one process) and :class:`RedisBudgetStore` (shared by
every replica), with the same semantics (the contract tests run both).

Amounts are atto-USD ints (10⁻¹⁸ USD, :data:`app.pricing.ATTO_USD_PER_USD`). Each budget window (``line``) holds
``spent`` and ``reserved``. A request's reservation (a *hold*) is one amount on every window that applies:

* :meth:`reserve` checks ``spent + reserved + amount <= limit`` on every window, then adds the amount to each
  ``reserved``, all or nothing, and records the hold with an expiry (``ttl_s``). Reserving an id again changes
  nothing and returns the hold's state.
* :meth:`settle` moves the hold to ``spent`` at the actual cost, exactly once: a second settle changes nothing.
* A hold whose expiry passed (its replica died mid-request, or never settled) is charged its whole amount at the
  next operation: the request may have been generated and billed, which is the rule for a failure with no answer.
  A settle arriving after that corrects the charge to the actual cost (still once).
* :meth:`extend` pushes back the expiry of holds whose requests still run (a long stream).

Times are seconds on the caller's clock (``now``): replicas sharing a Redis must share a clock (wall time).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.stores.batch import Coalescer
from app.stores.redis_client import RedisConnection

__all__ = [
    "BudgetStore",
    "HoldStatus",
    "LineSpec",
    "LineState",
    "MemoryBudgetStore",
    "RedisBudgetStore",
    "ReserveResult",
    "SettleResult",
]

logger = logging.getLogger("costmux.budgets")

HoldStatus = Literal["reserved", "expired", "settled", "unknown"]
_LIMB = 10**15  # the two limbs of an amount in Lua (app/stores/lua/common.lua)
_SETTLED_KEPT_S = 2 * 86_400.0  # how long a settled hold is remembered (a late duplicate settle stays a no-op)
_STORE = "budgets"
_RETRY_KEPT = 10_000  # failed settlements no caller waits for, kept to send again


@dataclass(frozen=True, slots=True)
class LineSpec:
    """One budget window a hold applies to: its key, its limit (atto-USD), when it may be forgotten (unix s)."""

    key: str
    limit_atto: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class LineState:
    """Spent and reserved atto-USD of one window."""

    spent_atto: int
    reserved_atto: int

    def left_atto(self, spec: LineSpec) -> int:
        """What the window ``spec`` can still take: its limit less what is spent and reserved (may be negative)."""
        return spec.limit_atto - self.spent_atto - self.reserved_atto


@dataclass(frozen=True, slots=True)
class ReserveResult:
    """``ok``; else ``refused`` is the index of the first window that could not take it (``None``: the id existed,
    ``existing`` its state). ``states`` are the windows' after the call, in the order given."""

    ok: bool
    refused: int | None
    states: tuple[LineState, ...]
    existing: HoldStatus | None = None
    now: float = 0.0  # when it was asked (to give a reservation back on the same clock)


@dataclass(frozen=True, slots=True)
class SettleResult:
    """The hold's state before the settle and its windows' states after it (``unknown``: no such hold)."""

    before: HoldStatus
    states: tuple[LineState, ...]


class BudgetStore(Protocol):
    """Budget windows and holds (see the module doc). Every method is atomic."""

    async def reserve(
        self, hold_id: str, lines: Sequence[LineSpec], amount_atto: int, *, ttl_s: float, now: float
    ) -> ReserveResult: ...

    async def settle(self, hold_id: str, actual_atto: int, *, now: float) -> SettleResult: ...

    async def extend(self, hold_ids: Sequence[str], *, ttl_s: float, now: float) -> int: ...

    async def usage(self, keys: Sequence[str], *, now: float) -> tuple[LineState, ...]: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Hold:
    amount: int
    keys: tuple[str, ...]
    state: HoldStatus
    expires_at: float  # while reserved: when it is charged; once settled: when it is forgotten


class MemoryBudgetStore:
    """The budgets of one process, in dicts (the embedded default). Expiries sit in heaps: each operation looks only
    at what is due."""

    def __init__(self) -> None:
        self._lines: dict[str, list[int]] = {}  # key -> [spent, reserved]
        self._line_expiry: dict[str, float] = {}  # key -> when it may be forgotten
        self._holds: dict[str, _Hold] = {}
        self._due: list[tuple[float, str]] = []  # (when, hold id): a hold to charge or forget then (lazy heap)
        self._lines_due: list[tuple[float, str]] = []  # (when, line key)

    def _line(self, key: str) -> list[int]:
        return self._lines.setdefault(key, [0, 0])

    def _state(self, key: str) -> LineState:
        spent, reserved = self._lines.get(key, (0, 0))
        return LineState(spent, reserved)

    def _schedule(self, hold_id: str, hold: _Hold, at: float) -> None:
        hold.expires_at = at
        heapq.heappush(self._due, (at, hold_id))

    def _reap(self, now: float) -> None:
        due = self._due
        while due and due[0][0] <= now:
            at, hold_id = heapq.heappop(due)
            hold = self._holds.get(hold_id)
            if hold is None or hold.expires_at != at:
                continue  # forgotten, or its expiry was moved (a later entry stands for it)
            if hold.state == "reserved":
                for key in hold.keys:
                    if key in self._lines:
                        line = self._lines[key]
                        line[1] -= hold.amount
                        line[0] += hold.amount
                hold.state = "expired"
                self._schedule(hold_id, hold, now + _SETTLED_KEPT_S)
            else:  # settled or expired, and remembered long enough
                del self._holds[hold_id]
        lines_due = self._lines_due
        while lines_due and lines_due[0][0] <= now:
            at, key = heapq.heappop(lines_due)
            if self._line_expiry.get(key) == at:
                del self._line_expiry[key]
                self._lines.pop(key, None)

    async def reserve(
        self, hold_id: str, lines: Sequence[LineSpec], amount_atto: int, *, ttl_s: float, now: float
    ) -> ReserveResult:
        self._reap(now)
        keys = tuple(line.key for line in lines)
        existing = self._holds.get(hold_id)
        if existing is not None:
            return ReserveResult(False, None, tuple(self._state(k) for k in keys), existing.state)
        for index, line in enumerate(lines):
            spent, reserved = self._lines.get(line.key, (0, 0))
            if spent + reserved + amount_atto > line.limit_atto:
                return ReserveResult(False, index, tuple(self._state(k) for k in keys))
        for line in lines:
            self._line(line.key)[1] += amount_atto
            if self._line_expiry.get(line.key) != line.expires_at:
                self._line_expiry[line.key] = line.expires_at
                heapq.heappush(self._lines_due, (line.expires_at, line.key))
        hold = self._holds[hold_id] = _Hold(amount_atto, keys, "reserved", 0.0)
        self._schedule(hold_id, hold, now + ttl_s)
        return ReserveResult(True, None, tuple(self._state(k) for k in keys))

    async def settle(self, hold_id: str, actual_atto: int, *, now: float) -> SettleResult:
        self._reap(now)
        hold = self._holds.get(hold_id)
        if hold is None:
            return SettleResult("unknown", ())
        before = hold.state
        for key in hold.keys:
            if key not in self._lines:
                continue
            line = self._lines[key]
            if before == "reserved":
                line[1] -= hold.amount
                line[0] += actual_atto
            elif before == "expired":
                line[0] += actual_atto - hold.amount
        if before != "settled":
            hold.state = "settled"
            self._schedule(hold_id, hold, now + _SETTLED_KEPT_S)
        return SettleResult(before, tuple(self._state(k) for k in hold.keys))

    async def extend(self, hold_ids: Sequence[str], *, ttl_s: float, now: float) -> int:
        extended = 0
        for hold_id in hold_ids:
            hold = self._holds.get(hold_id)
            if hold is not None and hold.state == "reserved":
                self._schedule(hold_id, hold, now + ttl_s)
                extended += 1
        return extended

    async def usage(self, keys: Sequence[str], *, now: float) -> tuple[LineState, ...]:
        self._reap(now)
        return tuple(self._state(k) for k in keys)

    async def aclose(self) -> None:
        return None


def _limbs(atto: int) -> tuple[str, str]:
    high, low = divmod(atto, _LIMB)
    return str(high), str(low)


def _states(flat: Sequence[object]) -> tuple[LineState, ...]:
    values = [int(str(v)) for v in flat]
    return tuple(
        LineState(values[i] * _LIMB + values[i + 1], values[i + 2] * _LIMB + values[i + 3])
        for i in range(0, len(values), 4)
    )


class RedisBudgetStore:
    """The budgets of every replica, in Redis: one Lua script per operation, all keys under the ``budgets`` hash tag.
    Concurrent reservations go to Redis together, one script call per batch, and so do settlements
    (:class:`~app.stores.batch.Coalescer`); each is still decided on its own, all or nothing. A caller that gives up
    (cancelled, timed out) loses nothing: a reservation made for it is given back at once, its settlement is still
    applied (sent again with the next call if it failed). The ledger queues settlements without awaiting them
    (:meth:`settle_nowait`): a request's answer never waits for Redis to settle it.

    Args:
        connection: the process's :class:`~app.stores.RedisConnection` (closed by whoever created it).
    """

    def __init__(self, connection: RedisConnection) -> None:
        self._redis = connection
        self._expiry_key = connection.key("budgets", "expiry")
        self._hold_prefix = connection.key("budgets", "h", "")
        self._line_keys: dict[str, str] = {}
        self._reserves: Coalescer[_Reserve, ReserveResult] = Coalescer(
            self._reserve_batch, on_orphan=self._reserve_orphaned
        )
        self._settles: Coalescer[_Settle, SettleResult] = Coalescer(self._settle_batch, on_orphan=self._settle_orphaned)
        self._retry: dict[str, _Settle] = {}  # settlements no caller waits for that failed: sent again with the next

    def line_key(self, key: str) -> str:
        """The Redis key of the budget window ``key``."""
        found = self._line_keys.get(key)
        if found is None:
            if len(self._line_keys) > 65_536:
                self._line_keys.clear()
            found = self._line_keys[key] = self._redis.key("budgets", "w", key)
        return found

    def _hold_key(self, hold_id: str) -> str:
        return self._hold_prefix + hold_id  # ids are hex: nothing to escape

    async def reserve(
        self, hold_id: str, lines: Sequence[LineSpec], amount_atto: int, *, ttl_s: float, now: float
    ) -> ReserveResult:
        self._resend()
        return await self._reserves.enqueue(_Reserve(hold_id, tuple(lines), amount_atto, ttl_s, now))

    def _reserve_orphaned(self, item: _Reserve, result: ReserveResult | None, error: BaseException | None) -> None:
        """The caller gave up on a reservation: one that was made (or may have been: its batch failed) is given back
        at once (a settlement at 0 of a hold that was never made changes nothing)."""
        if error is not None or (result is not None and result.ok):
            self._settle_in_background(_Settle(item.hold_id, 0, item.now))

    def _settle_orphaned(self, item: _Settle, result: SettleResult | None, error: BaseException | None) -> None:
        """The caller gave up on a settlement: it was applied, or it failed and is sent again later."""
        if error is not None:
            self._keep_for_retry(item)

    def _settle_in_background(self, item: _Settle) -> None:
        future = self._settles.enqueue(item)
        future.add_done_callback(lambda done: self._keep_for_retry(item) if done.exception() is not None else None)

    def _keep_for_retry(self, item: _Settle) -> None:
        if len(self._retry) >= _RETRY_KEPT and item.hold_id not in self._retry:
            dropped = self._retry.pop(next(iter(self._retry)))
            logger.warning("too many settlements to retry: hold %s is charged in full at its expiry", dropped.hold_id)
        self._retry[item.hold_id] = item

    def _resend(self) -> None:
        """Send the failed settlements no caller waits for again (with the next call: the store may be back)."""
        if self._retry:
            items, self._retry = list(self._retry.values()), {}
            for item in items:
                self._settle_in_background(item)

    async def _reserve_batch(self, batch: Sequence[_Reserve]) -> list[ReserveResult]:
        holds = []
        for item in batch:
            high, low = _limbs(item.amount_atto)
            lines = []
            for line in item.lines:
                limit_high, limit_low = _limbs(line.limit_atto)
                key = self.line_key(line.key)
                lines.append({"key": key, "lh": limit_high, "ll": limit_low, "exp": str(int(line.expires_at) + 1)})
            holds.append(
                {"hold": self._hold_key(item.hold_id), "ttl": repr(item.ttl_s), "ah": high, "al": low, "lines": lines}
            )
        payload = json.dumps({"now": repr(batch[-1].now), "keep": repr(_SETTLED_KEPT_S), "holds": holds})
        reply = await self._redis.run(
            "budget_reserve.lua", [self._expiry_key], [payload], store=_STORE, operation="reserve"
        )
        results, at = [], 0
        for item in batch:
            status, index, n = str(reply[at]), int(reply[at + 1]), int(reply[at + 2])
            states = _states(reply[at + 3 : at + 3 + 4 * n])
            at += 3 + 4 * n
            if status == "ok":
                results.append(ReserveResult(True, None, states, now=item.now))
            elif status == "refused":
                results.append(ReserveResult(False, index - 1, states, now=item.now))
            else:
                results.append(ReserveResult(False, None, states, _status(status), now=item.now))
        return results

    async def settle(self, hold_id: str, actual_atto: int, *, now: float) -> SettleResult:
        self._resend()
        return await self._settles.enqueue(_Settle(hold_id, actual_atto, now))

    def settle_nowait(self, hold_id: str, actual_atto: int, *, now: float) -> asyncio.Future[SettleResult]:
        """:meth:`settle` queued now, not awaited: the future gets its result (or its error). Calls of this store made
        after it that read the windows (:meth:`usage`) are sent once it is answered; a reservation may be sent
        before (it then sees the hold still reserved: it is refused, never overshoots)."""
        self._resend()
        return self._settles.enqueue(_Settle(hold_id, actual_atto, now))

    async def _settle_batch(self, batch: Sequence[_Settle]) -> list[SettleResult]:
        holds = [[self._hold_key(item.hold_id), *_limbs(item.actual_atto)] for item in batch]
        payload = json.dumps({"now": repr(batch[-1].now), "keep": repr(_SETTLED_KEPT_S), "holds": holds})
        reply = await self._redis.run(
            "budget_settle.lua", [self._expiry_key], [payload], store=_STORE, operation="settle"
        )
        results, at = [], 0
        for _ in batch:
            status, n = str(reply[at]), int(reply[at + 1])
            results.append(SettleResult(_status(status), _states(reply[at + 2 : at + 2 + 4 * n])))
            at += 2 + 4 * n
        return results

    async def extend(self, hold_ids: Sequence[str], *, ttl_s: float, now: float) -> int:
        if not hold_ids:
            return 0
        keys = [self._expiry_key, *(self._hold_key(h) for h in hold_ids)]
        args = [repr(now), repr(ttl_s), repr(_SETTLED_KEPT_S)]
        return int(await self._redis.run("budget_extend.lua", keys, args, store=_STORE, operation="extend"))

    async def usage(self, keys: Sequence[str], *, now: float) -> tuple[LineState, ...]:
        await self._settles.drain()  # this replica's settlements queued before: read after them
        redis_keys = [self._expiry_key, *(self.line_key(k) for k in keys)]
        reply = await self._redis.run("budget_usage.lua", redis_keys, [repr(now)], store=_STORE, operation="usage")
        return _states(reply)

    async def drain(self) -> None:
        """Wait for the calls on the wire and those queued (given-back reservations, settlements sent again)."""
        await self._reserves.drain()
        await self._settles.drain()

    async def aclose(self) -> None:
        """Send the failed background settlements once more and wait for every call queued."""
        self._resend()
        await self.drain()


@dataclass(frozen=True, slots=True)
class _Settle:
    hold_id: str
    actual_atto: int
    now: float


@dataclass(frozen=True, slots=True)
class _Reserve:
    hold_id: str
    lines: tuple[LineSpec, ...]
    amount_atto: int
    ttl_s: float
    now: float


def _status(text: str) -> HoldStatus:
    if text in ("reserved", "expired", "settled"):
        return text  # type: ignore[return-value]
    return "unknown"
