"""The budget store contract, run on the memory store and on the Redis store (its Lua scripts, against a real
redis-server): all-or-nothing reservations, exact amounts beyond 2^53 atto-USD, expiring holds charged in full,
idempotent settlement, keep-alive. Several "replicas" are several store objects on one Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from app.budgets.store import BudgetStore, LineSpec, LineState

USD = 10**18
DAY = LineSpec("key:alice:day:2026-11-22", 5 * USD, 2e9)
TEAM = LineSpec("team:research:day:2026-11-22", 3 * USD, 2e9)


async def test_a_reservation_takes_every_budget_or_none(stores: Callable[[], BudgetStore]) -> None:
    store = stores()
    first = await store.reserve("h1", [DAY, TEAM], 2 * USD, ttl_s=60, now=0)
    assert first.ok and first.states == (LineState(0, 2 * USD), LineState(0, 2 * USD))
    refused = await store.reserve("h2", [DAY, TEAM], 2 * USD, ttl_s=60, now=0)  # the team has 1 USD left
    assert not refused.ok and refused.refused == 1
    assert await store.usage([DAY.key, TEAM.key], now=0) == (LineState(0, 2 * USD), LineState(0, 2 * USD))
    assert (await store.reserve("h3", [DAY, TEAM], 1 * USD, ttl_s=60, now=0)).ok  # exactly to the limit


async def test_amounts_are_exact_far_beyond_double_precision(stores: Callable[[], BudgetStore]) -> None:
    store = stores()
    big = LineSpec("gateway:month:2026-11", 10**9 * USD + 7, 2e9)  # a billion USD and 7 atto-USD
    odd = 123_456_789 * USD + 987_654_321_987_654_321
    assert (await store.reserve("a", [big], odd, ttl_s=60, now=0)).ok
    settled = await store.settle("a", odd - 1, now=1)
    assert settled.states == (LineState(odd - 1, 0),)
    rest = big.limit_atto - (odd - 1)
    assert not (await store.reserve("b", [big], rest + 1, ttl_s=60, now=1)).ok
    assert (await store.reserve("c", [big], rest, ttl_s=60, now=1)).ok


async def test_settlement_counts_once(stores: Callable[[], BudgetStore]) -> None:
    a, b = stores(), stores()
    await a.reserve("h", [DAY], 2 * USD, ttl_s=60, now=0)
    first = await a.settle("h", USD // 2, now=1)
    assert first.before == "reserved" and first.states == (LineState(USD // 2, 0),)
    again = await b.settle("h", USD // 2, now=2)  # another replica retrying
    assert again.before == "settled" and again.states == (LineState(USD // 2, 0),)
    assert (await a.settle("nope", 1, now=2)).before == "unknown"


async def test_reserving_the_same_hold_twice_counts_once(stores: Callable[[], BudgetStore]) -> None:
    store = stores()
    assert (await store.reserve("h", [DAY], USD, ttl_s=60, now=0)).ok
    again = await store.reserve("h", [DAY], USD, ttl_s=60, now=0)
    assert not again.ok and again.existing == "reserved" and again.states == (LineState(0, USD),)


async def test_an_expired_hold_is_charged_in_full_and_a_late_settle_corrects_it(
    stores: Callable[[], BudgetStore],
) -> None:
    store = stores()
    await store.reserve("dead", [DAY], 2 * USD, ttl_s=30, now=0)
    assert await store.usage([DAY.key], now=29) == (LineState(0, 2 * USD),)
    assert await store.usage([DAY.key], now=30) == (LineState(2 * USD, 0),)  # its replica died: worst case kept
    late = await store.settle("dead", USD // 4, now=40)
    assert late.before == "expired" and late.states == (LineState(USD // 4, 0),)
    assert (await store.settle("dead", USD // 4, now=41)).states == (LineState(USD // 4, 0),)


async def test_keep_alive_pushes_the_expiry_back(stores: Callable[[], BudgetStore]) -> None:
    store = stores()
    await store.reserve("long", [DAY], USD, ttl_s=30, now=0)
    await store.reserve("done", [DAY], USD, ttl_s=30, now=0)
    await store.settle("done", USD, now=1)
    assert await store.extend(["long", "done", "missing"], ttl_s=30, now=25) == 1
    assert await store.usage([DAY.key], now=50) == (LineState(USD, USD),)  # still reserved
    assert await store.usage([DAY.key], now=55) == (LineState(2 * USD, 0),)


async def test_concurrent_replicas_never_overshoot(stores: Callable[[], BudgetStore]) -> None:
    replicas = [stores() for _ in range(3)]
    cost = USD // 7  # 5 USD takes 35 of them

    async def one(i: int) -> bool:
        return (await replicas[i % 3].reserve(f"h{i}", [DAY], cost, ttl_s=60, now=0)).ok

    admitted = sum(await asyncio.gather(*(one(i) for i in range(100))))
    assert admitted == 35
    assert await replicas[0].usage([DAY.key], now=0) == (LineState(0, 35 * cost),)


async def test_a_zero_budget_takes_only_free_requests(stores: Callable[[], BudgetStore]) -> None:
    store = stores()
    zero = LineSpec("key:free:day:2026-11-22", 0, 2e9)
    assert (await store.reserve("free", [zero], 0, ttl_s=60, now=0)).ok
    assert not (await store.reserve("paid", [zero], 1, ttl_s=60, now=0)).ok
