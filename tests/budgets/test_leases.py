"""Budget leases (app/budgets/lease.py) on the memory store and on a real redis-server: several replicas' ledgers
sharing one store, many concurrent requests, never more spent than the budget, no needless refusal once nothing
runs, far fewer store reservations than requests, a dead replica's lease charged in full at its expiry and nothing
after, slices that shrink to one worst case near the limit, and (Redis) settlements the request does not wait for.
Clocks are injected; nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from app.budgets import BudgetLedger, KeyTable, RedisBudgetStore, parse_keys
from app.budgets.lease import LeasePool
from app.budgets.store import BudgetStore, LineSpec, LineState
from app.errors import SpendLimitExceededError
from app.stores import RedisConnection
from tests.scripted import FakeClock

USD = 10**18
WORST = Decimal("0.001")  # each request's worst case
ACTUAL = Decimal("0.0004")  # what each one costs
BUDGET = Decimal("0.1")  # 250 requests' actual cost, 100 worst cases


def keys(budget: Decimal = BUDGET) -> Any:
    return parse_keys(
        {
            "keys": [
                {"name": "a", "key": "sk-a-000000", "team": "t", "budgets": [{"window": "day", "max_usd": budget}]}
            ],
            "teams": {"t": {"budgets": [{"window": "day", "max_usd": 100}]}},
        }
    )


class Counting:
    """A store whose reservations are counted (store calls on the request path)."""

    def __init__(self, store: BudgetStore) -> None:
        self.store = store
        self.reserves = 0

    async def reserve(self, *args: Any, **kwargs: Any) -> Any:
        self.reserves += 1
        return await self.store.reserve(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


async def _request(ledger: BudgetLedger, principal: Any, turns: int) -> Decimal | None:
    """One request: reserve its worst case, run ``turns`` turns of the loop, settle at its actual cost; ``None``
    when refused."""
    budget = ledger.for_request(principal)
    assert budget is not None
    try:
        hold = await budget.reserve(WORST)
    except SpendLimitExceededError:
        return None
    for _ in range(turns):
        await asyncio.sleep(0)
    await hold.settle(ACTUAL)
    return ACTUAL


async def _quiet(ledgers: list[BudgetLedger]) -> None:
    for ledger in ledgers:
        await ledger.drain()
        drain = getattr(ledger.store, "drain", None)
        if drain is not None:
            await drain()


def test_a_lease_is_one_worst_case_alone_and_shrinks_near_the_limit() -> None:
    spec = LineSpec("k", 1000 * USD, 2e9)
    pool = LeasePool(lease_requests=64, lease_share=0.1)
    assert pool.size(USD, [spec], [LineState(0, 0)]) == USD  # nothing else runs here: exactly its own
    pool.running = 10
    assert pool.size(USD, [spec], [LineState(0, 0)]) == 22 * USD  # twice the requests running, and this one
    pool.running = 100
    assert pool.size(USD, [spec], [LineState(0, 0)]) == 64 * USD  # at most lease_requests worst cases
    assert pool.size(USD, [spec], [LineState(900 * USD, 50 * USD)]) == 5 * USD  # a tenth of the 50 left
    assert pool.size(USD, [spec], [LineState(990 * USD, 5 * USD)]) == USD  # near the limit: exactly its own
    assert pool.size(USD, [spec], None) == USD  # the windows' state unknown: exactly its own
    assert LeasePool(lease_requests=1, lease_share=0.1).size(USD, [spec], [LineState(0, 0)]) == USD


async def test_replicas_with_leases_never_overshoot_and_refuse_only_what_does_not_fit(
    stores: Callable[[], BudgetStore], clock: FakeClock
) -> None:
    ledgers = [BudgetLedger(keys(), stores(), clock=clock, lease_requests=64, lease_share=0.1) for _ in range(3)]
    principal = KeyTable(keys()).lookup("Bearer sk-a-000000")
    results = await asyncio.gather(*(_request(ledgers[i % 3], principal, 1 + i % 7) for i in range(300)))
    await _quiet(ledgers)
    answered = [r for r in results if r is not None]
    assert answered and len(answered) < 300
    spent = sum(answered, Decimal(0))
    while True:  # nothing runs now: one request at a time, on each replica in turn, until one is refused
        budget = ledgers[len(answered) % 3].for_request(principal)
        assert budget is not None
        try:
            hold = await budget.reserve(WORST)
        except SpendLimitExceededError as exc:
            refused = exc
            break
        await hold.settle(ACTUAL)
        await _quiet(ledgers)
        answered.append(ACTUAL)
        spent += ACTUAL
    assert spent <= BUDGET  # 0 overshoot
    assert refused.remaining_usd < WORST and refused.remaining_usd == BUDGET - spent  # no needless refusal
    key = next(r for r in await ledgers[1].status() if r.line.scope == "key:a")
    assert key.spent_usd == spent and key.reserved_usd == 0  # every lease settled at what its requests cost
    assert not any(ledger._pools for ledger in ledgers)  # idle replicas hold no lease


async def test_far_from_the_limit_busy_replicas_reserve_a_lease_per_many_requests(
    stores: Callable[[], BudgetStore], clock: FakeClock
) -> None:
    counting = [Counting(stores()) for _ in range(3)]
    roomy = keys(Decimal(1000))
    ledgers = [BudgetLedger(roomy, c, clock=clock, lease_requests=64) for c in counting]  # type: ignore[arg-type]
    principal = KeyTable(roomy).lookup("Bearer sk-a-000000")
    for ledger in ledgers:  # each replica has read the windows once (as a request's cap does)
        await ledger.for_request(principal).remaining_usd()  # type: ignore[union-attr]
    results = await asyncio.gather(*(_request(ledgers[i % 3], principal, 1 + i % 7) for i in range(600)))
    await _quiet(ledgers)
    assert all(r == ACTUAL for r in results)
    assert sum(c.reserves for c in counting) <= 600 // 10  # one store call per ten requests at most
    key = next(r for r in await ledgers[0].status() if r.line.scope == "key:a")
    assert key.spent_usd == 600 * ACTUAL and key.reserved_usd == 0


async def test_a_dead_replica_s_lease_is_charged_in_full_at_its_expiry_and_nothing_after(
    stores: Callable[[], BudgetStore], clock: FakeClock
) -> None:
    dead = BudgetLedger(keys(), stores(), clock=clock, hold_ttl_s=30, lease_requests=8)
    live = BudgetLedger(keys(), stores(), clock=clock, hold_ttl_s=30, lease_requests=8)
    principal = KeyTable(keys()).lookup("Bearer sk-a-000000")
    budget = dead.for_request(principal)
    assert budget is not None
    await budget.remaining_usd()  # the windows' state is known: later requests share a lease
    first = await budget.reserve(WORST)  # alone: exactly its worst case
    second, third = await asyncio.gather(budget.reserve(WORST), budget.reserve(WORST))  # one lease for both
    assert first.hold_id != second.hold_id == third.hold_id
    await _quiet([dead])
    (held,) = [r for r in await live.status() if r.line.scope == "key:a"]
    leased = held.reserved_usd - WORST
    assert WORST * 2 <= leased <= WORST * 8  # the lease: at most lease_requests worst cases
    clock.now += 31  # the dead replica never settles nor keeps them alive
    (charged,) = [r for r in await live.status() if r.line.scope == "key:a"]
    assert charged.spent_usd == WORST + leased and charged.reserved_usd == 0  # charged in full, nothing held on
    clock.now += 3600
    (later,) = [r for r in await live.status() if r.line.scope == "key:a"]
    assert later.spent_usd == charged.spent_usd and later.reserved_usd == 0


async def test_a_slice_the_store_refuses_is_asked_again_at_one_worst_case(
    stores: Callable[[], BudgetStore], clock: FakeClock
) -> None:
    small = keys(Decimal("0.01"))
    mine = BudgetLedger(small, stores(), clock=clock, lease_requests=64, lease_share=1.0)
    other = BudgetLedger(small, stores(), clock=clock)
    principal = KeyTable(small).lookup("Bearer sk-a-000000")
    budget = mine.for_request(principal)
    assert budget is not None
    assert await budget.remaining_usd() == Decimal("0.01")  # what this replica knows: 10 worst cases left
    running = await budget.reserve(WORST)
    taken = await other.for_request(principal).reserve(Decimal("0.0075"))  # type: ignore[union-attr]
    second = await budget.reserve(WORST)  # a slice of 4 no longer fits the 1.5 worst cases left: 1 does
    assert second.hold_id != running.hold_id
    with pytest.raises(SpendLimitExceededError) as refused:
        await budget.reserve(WORST)
    assert refused.value.remaining_usd == Decimal("0.0005") < WORST
    for hold in (running, second, taken):
        await hold.settle(Decimal(0))
    await _quiet([mine, other])
    assert not mine._pools and not other._pools  # nothing runs: no lease held, nothing remembered


async def test_with_redis_the_request_does_not_wait_for_its_settlement(
    redis_connection: RedisConnection, clock: FakeClock
) -> None:
    store = RedisBudgetStore(redis_connection)
    ledger = BudgetLedger(keys(), store, clock=clock, lease_requests=64)
    principal = KeyTable(keys()).lookup("Bearer sk-a-000000")
    budget = ledger.for_request(principal)
    assert budget is not None
    hold = await budget.reserve(WORST)
    assert budget.headers()["x-costmux-budget-remaining"] == "0.099"
    gate = asyncio.Event()
    settle_batch = store._settle_batch

    async def held_up(batch: Any) -> Any:
        await gate.wait()
        return await settle_batch(batch)

    store._settle_batch = held_up  # type: ignore[method-assign]
    await hold.settle(ACTUAL)  # returns while Redis has not answered
    assert not gate.is_set() and budget.headers()["x-costmux-budget-remaining"] == "0.0996"
    status = asyncio.ensure_future(ledger.status())  # a read of this replica waits for its settlement
    for _ in range(5):
        await asyncio.sleep(0)
    assert not status.done()
    gate.set()
    key = next(r for r in await status if r.line.scope == "key:a")
    assert key.spent_usd == ACTUAL and key.reserved_usd == 0
