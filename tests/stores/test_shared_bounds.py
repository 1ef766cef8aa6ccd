"""The Redis prompt-bound store beyond the contract: it exchanges in the background by itself, keeps learning locally
while Redis is down (failures logged and reported, values kept for later) and recovers by itself, reads everything
again after Redis lost its data, keeps its keys under one hash tag, bounds Redis's memory, and pushes a large queue
in several calls. The gateway wires it when it runs with a Redis URL."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.events import Event, EventBus, StoreFailed
from app.gateway.settings import GatewaySettings
from app.gateway.state import GatewayState
from app.sandbox.redis_server import RedisServer
from app.settings import ProviderSettings
from app.stores import RedisConnection
from app.stores.bounds import RedisBoundStore
from app.tokens.learning import ALL_SERIES, PRIOR_SERIES, SERIES
from tests.scripted import FakeClock


async def test_values_are_pushed_and_read_in_the_background(redis_connection: RedisConnection) -> None:
    clock = FakeClock()
    a = RedisBoundStore(redis_connection, clock=clock)
    b = RedisBoundStore(redis_connection, clock=clock)
    b.revision()  # b's first sync (nothing to read yet)
    await b.aclose()
    a.append("m", PRIOR_SERIES, 1.3)
    assert a.pending == 1
    await asyncio.sleep(a.batch_s * 3)  # pushed within batch_s, without anyone asking
    assert a.pending == 0
    seen = b.revision()
    assert b.window("m", PRIOR_SERIES) == ()  # b synced less than sync_interval_s ago
    clock.now += b._link.sync_interval_s
    b.revision()  # due: a sync starts in the background
    await b.aclose()
    assert list(b.window("m", PRIOR_SERIES)) == [1.3] and b.revision() != seen
    await a.aclose()


@pytest.mark.usefixtures("redis_binary")
async def test_redis_down_the_mirror_learns_alone_then_shares_what_it_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    connection = RedisConnection(server.url, prefix="bounds-down", timeout_s=0.5, connect_timeout_s=0.5)
    clock = FakeClock()
    events: list[Event] = []
    a = RedisBoundStore(connection, clock=clock)
    a.bind(EventBus([events.append]), "litellm")
    try:
        a.append("m", PRIOR_SERIES, 1.0)
        await a.sync()
        server.stop(remove=False)
        with caplog.at_level(logging.INFO, logger="costmux.stores"):
            for value in (1.1, 1.2):
                a.append("m", PRIOR_SERIES, value)
                await a.sync()
            assert list(a.window("m", PRIOR_SERIES)) == [1.0, 1.1, 1.2]  # the mirror goes on
            assert a.degraded and a.pending == 2
            failures = [e for e in events if isinstance(e, StoreFailed)]
            assert len(failures) >= 2  # each failed sync (also the background push of an append)
            assert all(e.store == "prompt_bounds" and e.operation == "sync" and e.fallback for e in failures)
            assert sum("prompt_bounds unavailable" in r.getMessage() for r in caplog.records) == 1  # once per episode
            a.append("m", PRIOR_SERIES, 1.25)  # no push is attempted while degraded
            await asyncio.sleep(a.batch_s * 2)
            assert a.pending == 3
            server.start()
            clock.now += a._link.retry_after_s
            assert not a.degraded
            a.revision()  # the periodic sync: pushes what waited
            await a.aclose()
            assert a.pending == 0
            assert any("prompt bounds of litellm are back" in r.getMessage() for r in caplog.records)
        b = RedisBoundStore(connection)
        await b.sync()
        assert list(b.window("m", PRIOR_SERIES)) == [1.0, 1.1, 1.2, 1.25]
    finally:
        await connection.aclose()
        server.stop()


@pytest.mark.usefixtures("redis_binary")
async def test_what_waits_for_redis_is_bounded(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    connection = RedisConnection(server.url, prefix="bounds-pending", timeout_s=0.5, connect_timeout_s=0.5)
    a = RedisBoundStore(connection, max_pending=5)
    try:
        server.stop(remove=False)
        for value in range(8):
            a.append("m", PRIOR_SERIES, float(value))
        await a.sync()
        assert a.pending == 5
        server.start()
        await a.sync()
        b = RedisBoundStore(connection)
        await b.sync()
        assert list(b.window("m", PRIOR_SERIES)) == [3.0, 4.0, 5.0, 6.0, 7.0]  # the newest were kept
        assert len(a.window("m", PRIOR_SERIES)) == 8
    finally:
        await connection.aclose()
        server.stop()


async def test_a_calibration_lost_by_redis_is_read_again_in_full(redis_connection: RedisConnection) -> None:
    a, b = RedisBoundStore(redis_connection), RedisBoundStore(redis_connection)
    a.append("m", ALL_SERIES, 1.1)
    await a.sync()
    await b.sync()
    await redis_connection.client.flushdb()  # Redis restarted without persistence
    for value in (1.2, 1.3):
        a.append("m", ALL_SERIES, value)
        await a.sync()  # a new calibration: a pushes into it
    b.append("m", ALL_SERIES, 1.4)
    await b.sync()  # b sees the change of epoch: reads all of it, not only what is newer than its last sync
    assert list(b.window("m", ALL_SERIES)) == [1.1, 1.4, 1.2, 1.3]
    await a.sync()
    assert list(a.window("m", ALL_SERIES)) == [1.1, 1.2, 1.3, 1.4]


async def test_keys_share_one_hash_tag_and_names_cannot_collide(redis_connection: RedisConnection) -> None:
    a = RedisBoundStore(redis_connection, "prov{x}")
    a.append("a:b", "c", 1.0)
    a.append("a", "b:c", 2.0)
    a.append("{m}", "group:all", 3.0)
    await a.sync()
    keys = [key async for key in redis_connection.client.scan_iter("*")]
    tag = "{costmux-test:bounds:prov%7Bx%7D}"
    assert keys and all(key.startswith(tag + ":") for key in keys), keys
    b = RedisBoundStore(redis_connection, "prov{x}")
    await b.sync()
    assert list(b.window("a:b", "c")) == [1.0] and list(b.window("a", "b:c")) == [2.0]
    assert list(b.window("{m}", "group:all")) == [3.0]
    other = RedisBoundStore(redis_connection, "another")
    await other.sync()
    assert other.models() == []  # each provider's calibration is its own


async def test_redis_keeps_at_most_max_keys_models_and_forgets_their_keys(redis_connection: RedisConnection) -> None:
    a = RedisBoundStore(redis_connection, max_keys=2)
    for model in ("a", "b", "c"):
        for series in SERIES:
            a.append(model, series, 1.0)
        await a.sync()
    keys = {key async for key in redis_connection.client.scan_iter("*")}
    assert not any(":a:" in key or key.endswith(":a") for key in keys), keys  # the windows and series of "a"
    members = await redis_connection.client.zrange("{costmux-test:bounds:litellm}:models", 0, -1)
    assert members == ["b", "c"]


async def test_a_large_queue_goes_in_several_calls_and_comes_back_once(redis_connection: RedisConnection) -> None:
    a, b = RedisBoundStore(redis_connection), RedisBoundStore(redis_connection)
    for model in range(8):
        for series in SERIES:
            for value in range(60):  # 8 x 12 x 60 = 5,760 values (under max_pending): two script calls
                a.append(f"m{model}", series, float(value))
    await a.sync()
    await b.sync()
    for store in (a, b):
        assert all(len(store.window(f"m{m}", s)) == 60 for m in range(8) for s in SERIES)


def test_the_gateway_shares_its_provider_s_calibration_through_redis() -> None:
    upstream = ProviderSettings(base_url="http://127.0.0.1:9", api_key="k")  # nothing connects until a request
    shared = GatewayState.build(GatewaySettings.load(redis_url="redis://127.0.0.1:9/0"), upstream, None, None)
    alone = GatewayState.build(GatewaySettings.load(), upstream, None, None)
    stores = [state.registry["litellm"].prompt_bounds.store for state in (shared, alone)]  # type: ignore[attr-defined]
    assert isinstance(stores[0], RedisBoundStore) and stores[0].name == "litellm"
    assert not isinstance(stores[1], RedisBoundStore)
    for state in (shared, alone):
        asyncio.run(state.aclose())


async def test_a_value_that_is_not_a_number_is_not_merged(redis_connection: RedisConnection) -> None:
    """A NaN in Redis (no replica pushes one: someone wrote it by hand) is skipped, so the mirror's sorted windows
    stay ordered; the other values are read."""
    a = RedisBoundStore(redis_connection)
    for value in (1.1, 1.2):
        a.append("m", PRIOR_SERIES, value)
    await a.sync()
    (key,) = [key async for key in redis_connection.client.scan_iter("*:w:*")]
    revision, _ = str(await redis_connection.client.lindex(key, 0)).split(":", 1)
    await redis_connection.client.lset(key, 0, f"{revision}:nan")  # the oldest entry, 1.1
    b = RedisBoundStore(redis_connection)
    await b.sync()
    assert list(b.window("m", PRIOR_SERIES)) == [1.2] and list(b.ranked("m", PRIOR_SERIES)) == [1.2]
