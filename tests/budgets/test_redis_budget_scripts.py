"""The budget Lua scripts against a real redis-server, beyond the store contract: each budget window is read with
one HMGET and written with one HSET per script call (counted by Redis's ``INFO commandstats``), a batch decides its
holds one after the other on the same in-script copy of the windows, a window gets its expiry when a reservation
creates it and keeps it, and a window that is gone is never created again by a settlement or an expired hold."""

from __future__ import annotations

from typing import Any

from app.budgets.store import LineSpec, LineState, RedisBudgetStore, _Reserve
from app.stores import RedisConnection

USD = 10**18
WINDOWS = [LineSpec(f"w{i}:day:2026-11-22", 10 * USD, 2e9) for i in range(5)]


async def _calls(connection: RedisConnection) -> dict[str, int]:
    stats: dict[str, Any] = await connection.client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


async def test_one_reservation_and_its_settlement_read_and_write_each_window_once(
    redis_connection: RedisConnection,
) -> None:
    store = RedisBudgetStore(redis_connection)
    assert (await store.reserve("warm", WINDOWS, USD, ttl_s=60, now=0)).ok  # the windows exist from now on
    await redis_connection.client.config_resetstat()
    assert (await store.reserve("h", WINDOWS, USD, ttl_s=60, now=0)).ok
    reserve = await _calls(redis_connection)
    assert reserve.get("hmget") == 5 and reserve.get("hset") == 5 + 1  # the windows, then the hold
    assert "expireat" not in reserve  # the windows' expiry was set when they were created
    await redis_connection.client.config_resetstat()
    settled = await store.settle("h", USD // 2, now=1)
    settle = await _calls(redis_connection)
    assert settle.get("hmget") == 1 + 5 and settle.get("hset") == 5 + 1  # the hold, then its windows
    assert settled.before == "reserved" and settled.states == (LineState(USD // 2, USD),) * 5


async def test_a_batch_decides_each_hold_after_the_previous_ones_and_writes_each_window_once(
    redis_connection: RedisConnection,
) -> None:
    store = RedisBudgetStore(redis_connection)
    day = LineSpec("key:a:day:2026-11-22", 5 * USD, 2e9)
    team = LineSpec("team:t:day:2026-11-22", 3 * USD, 2e9)
    await redis_connection.client.config_resetstat()
    batch = [
        _Reserve("a", (day, team), 2 * USD, 60, 0),
        _Reserve("b", (day, team), 2 * USD, 60, 0),  # the team has 1 USD left after a
        _Reserve("a", (day,), 2 * USD, 60, 0),  # a again: it exists, nothing changes
        _Reserve("c", (day,), 3 * USD, 60, 0),  # exactly to the day's limit
        _Reserve("d", (day,), 1, 60, 0),
    ]
    a, b, again, c, d = await store._reserve_batch(batch)
    assert a.ok and a.states == (LineState(0, 2 * USD), LineState(0, 2 * USD))
    assert not b.ok and b.refused == 1 and b.states == a.states
    assert not again.ok and again.existing == "reserved" and again.states == (LineState(0, 2 * USD),)
    assert c.ok and c.states == (LineState(0, 5 * USD),)
    assert not d.ok and d.refused == 0
    calls = await _calls(redis_connection)
    assert calls.get("hmget") == 2 and calls.get("hset") == 2 + 2  # two windows; holds a and c
    assert calls.get("expireat") == 2  # both windows were created by this call
    assert await store.usage([day.key, team.key], now=0) == (LineState(0, 5 * USD), LineState(0, 2 * USD))


async def test_a_window_created_by_a_reservation_keeps_its_expiry_and_a_gone_one_is_never_recreated(
    redis_connection: RedisConnection,
) -> None:
    store = RedisBudgetStore(redis_connection)
    line = LineSpec("key:a:hour:2026-11-22T10", 5 * USD, 2e9)
    key = store.line_key(line.key)
    assert (await store.reserve("h1", [line], USD, ttl_s=30, now=0)).ok
    assert await redis_connection.client.expiretime(key) == int(line.expires_at) + 1
    assert (await store.reserve("h2", [line], USD, ttl_s=30, now=0)).ok
    await store.settle("h1", USD // 4, now=1)
    assert await redis_connection.client.expiretime(key) == int(line.expires_at) + 1  # kept by the writes
    await redis_connection.client.delete(key)  # the calendar window ended
    assert (await store.settle("h2", USD, now=2)).before == "reserved"
    assert await redis_connection.client.exists(key) == 0
    assert (await store.reserve("h3", [line], USD, ttl_s=30, now=3)).ok
    await redis_connection.client.delete(key)
    assert await store.usage([line.key], now=100) == (LineState(0, 0),)  # h3 expired: charged to no window
    assert await redis_connection.client.exists(key) == 0


async def test_an_expired_hold_is_charged_in_the_same_call_that_reserves_on_its_window(
    redis_connection: RedisConnection,
) -> None:
    a, b = RedisBudgetStore(redis_connection), RedisBudgetStore(redis_connection)
    line = LineSpec("key:a:day:2026-11-22", 5 * USD, 2e9)
    assert (await a.reserve("dead", [line], 3 * USD, ttl_s=30, now=0)).ok
    refused = await b.reserve("new", [line], 3 * USD, ttl_s=30, now=29)
    assert not refused.ok and refused.states == (LineState(0, 3 * USD),)
    # at 30 the dead replica's hold is charged in full (reserved -> spent) before the new one is decided
    result = await b.reserve("new", [line], 2 * USD, ttl_s=30, now=30)
    assert result.ok and result.states == (LineState(3 * USD, 2 * USD),)
    late = await a.settle("dead", USD, now=31)
    assert late.before == "expired" and late.states == (LineState(USD, 2 * USD),)
