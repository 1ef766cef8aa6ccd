"""Providers sharing their guard state through a store: several ``LiteLLMProvider`` replicas (each with its own
store object) on one memory store or one real redis-server. A limit, a 429 hold-off and an open breaker seen by one
replica apply to all; with Redis down each replica falls back to its own state, and comes back by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.errors import ProviderUnavailableError, RateLimitError
from app.events import Event, HealthChanged, StoreFailed
from app.providers import LiteLLMProvider, RetryPolicy
from app.providers.guard_store import BucketSpec, GuardStore, MemoryGuardStore, RedisGuardStore
from app.providers.health import HealthPolicy
from app.sandbox.redis_server import RedisServer
from app.stores import RedisConnection
from tests.scripted import PRICED, FakeClock, ScriptedProxy

MESSAGES = [{"role": "user", "content": "hi"}]
MODELS: dict[str, Any] = {
    "limited": {**PRICED, "rate_limits": {"requests_per_minute": 3}},
    "free": PRICED,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_000_000.0)  # wall-clock-like: the replicas share it


@pytest.fixture
def proxy(clock: FakeClock) -> ScriptedProxy:
    return ScriptedProxy(clock)


@pytest.fixture
def store_factory(backend_connection: RedisConnection | None) -> Callable[[], GuardStore]:
    if backend_connection is None:
        shared = MemoryGuardStore()
        return lambda: shared
    connection = backend_connection
    return lambda: RedisGuardStore(connection, "litellm")


Replicas = Callable[..., LiteLLMProvider]


def sharing(store: GuardStore, clock: FakeClock, proxy: ScriptedProxy, **kwargs: Any) -> LiteLLMProvider:
    """A provider (a replica) over the scripted proxy whose guard state is in ``store``."""
    return LiteLLMProvider(
        "http://proxy.test",
        "k",
        custom_models=MODELS,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(proxy)),
        clock=clock,
        retry_policy=RetryPolicy(sleep=clock.sleep),
        catalog=None,
        max_retries=0,
        guard_store=store,
        shared_clock=clock,
        **kwargs,
    )


@pytest.fixture
async def replica(
    clock: FakeClock, proxy: ScriptedProxy, store_factory: Callable[[], GuardStore]
) -> AsyncIterator[Replicas]:
    made: list[LiteLLMProvider] = []

    def build(store: GuardStore | None = None, **kwargs: Any) -> LiteLLMProvider:
        kwargs.setdefault("health_policy", HealthPolicy(failure_threshold=2, cooldown_s=30))
        provider = sharing(store if store is not None else store_factory(), clock, proxy, **kwargs)
        made.append(provider)
        return provider

    yield build
    for provider in made:
        await provider.aclose()


async def test_a_rate_limit_is_shared_by_every_replica(replica: Replicas, proxy: ScriptedProxy) -> None:
    a, b, c = replica(), replica(), replica()
    for provider in (a, b, c):
        await provider.chat_completion(MESSAGES, "limited")
    with pytest.raises(RateLimitError) as caught:
        await a.chat_completion(MESSAGES, "limited", rate_limit_timeout_s=0)
    assert not caught.value.request_sent and caught.value.retry_after_s == pytest.approx(20.0 - 0.75, abs=0.01)
    assert len(proxy.sent) == 3
    assert "limited" in b.unavailable_models(10) or "limited" in a.unavailable_models(10)


async def test_a_direct_call_waits_for_the_shared_limit(replica: Replicas, clock: FakeClock) -> None:
    a, b = replica(rate_limit_timeout_s=60), replica(rate_limit_timeout_s=60)
    for provider in (a, b, a):
        await provider.chat_completion(MESSAGES, "limited")
    await b.chat_completion(MESSAGES, "limited")  # waits for the shared bucket
    assert clock.slept and 0 < sum(clock.slept) <= 20.0


async def test_a_429_holds_the_model_off_for_every_replica(
    replica: Replicas, proxy: ScriptedProxy, clock: FakeClock
) -> None:
    a, b = replica(), replica()
    proxy.script["free"] = [429]
    with pytest.raises(RateLimitError):
        await a.chat_completion(MESSAGES, "free")
    await a.guard.aclose()  # the hold-off is written in the background
    await b.guard.shared.sync()  # type: ignore[union-attr]  # what every replica does within sync_interval_s
    assert b.unavailable_models(10)["free"][0] == "rate_limited"
    with pytest.raises(RateLimitError) as caught:
        await b.chat_completion(MESSAGES, "free", rate_limit_timeout_s=0)
    assert not caught.value.request_sent and caught.value.retry_after_s == pytest.approx(60.0)
    assert len(proxy.sent) == 1


async def test_an_open_breaker_is_open_for_every_replica_and_one_trial_closes_it(
    replica: Replicas, proxy: ScriptedProxy, clock: FakeClock
) -> None:
    events: list[Event] = []
    a, b = replica(), replica(observers=[events.append])
    proxy.script["free"] = [503, 503]
    for provider in (a, b):
        with pytest.raises(ProviderUnavailableError):
            await provider.chat_completion(MESSAGES, "free")
        await provider.guard.aclose()
    await a.guard.shared.sync()  # type: ignore[union-attr]  # what every replica does within sync_interval_s
    with pytest.raises(ProviderUnavailableError) as caught:
        await a.chat_completion(MESSAGES, "free")
    assert not caught.value.request_sent and "cooling down" in str(caught.value)
    assert len(proxy.sent) == 2
    assert any(isinstance(e, HealthChanged) and e.state == "open" and not e.observed for e in events)
    clock.now += 30.0
    await a.chat_completion(MESSAGES, "free")  # the one trial, through replica a: closes the breaker
    await a.guard.aclose()
    await b.guard.shared.sync()  # type: ignore[union-attr]
    assert "free" not in b.unavailable_models(10)
    assert any(isinstance(e, HealthChanged) and e.state == "closed" and e.observed for e in events)
    await b.chat_completion(MESSAGES, "free")


@pytest.mark.usefixtures("redis_binary")
async def test_redis_down_falls_back_to_local_state_and_recovers(
    clock: FakeClock, proxy: ScriptedProxy, tmp_path: Any
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    connection = RedisConnection(server.url, prefix="fallback-test", timeout_s=0.5, connect_timeout_s=0.5)
    events: list[Event] = []
    provider = sharing(RedisGuardStore(connection, "litellm"), clock, proxy, observers=[events.append])
    try:
        await provider.chat_completion(MESSAGES, "limited")
        server.stop(remove=False)
        for _ in range(3):  # the local limiter (3 rpm, full) takes over
            await provider.chat_completion(MESSAGES, "limited")
        with pytest.raises(RateLimitError):
            await provider.chat_completion(MESSAGES, "limited", rate_limit_timeout_s=0)
        failures = [e for e in events if isinstance(e, StoreFailed)]
        assert failures and all(e.fallback and e.store == "rate_limits" for e in failures)
        assert provider.guard.shared is not None and provider.guard.shared.degraded
        server.start()
        clock.now += 20.0  # past the retry delay; one request refilled in Redis's bucket too
        await provider.chat_completion(MESSAGES, "limited")
        assert not provider.guard.shared.degraded
        levels = await RedisGuardStore(connection, "litellm").levels(
            "limited", [BucketSpec("rpm", 0, 3)], now=clock.now
        )
        assert levels[0] < 3  # the request after recovery was counted in Redis again
    finally:
        await provider.aclose()
        await connection.aclose()
        server.stop()


async def test_a_replica_learns_other_replicas_hold_offs_within_the_sync_interval(
    replica: Replicas, proxy: ScriptedProxy, clock: FakeClock
) -> None:
    a, b = replica(), replica()
    await b.chat_completion(MESSAGES, "free")  # b has synced once (nothing to learn yet)
    await b.guard.aclose()
    proxy.script["free"] = [429]
    with pytest.raises(RateLimitError):
        await a.chat_completion(MESSAGES, "free")
    await a.guard.aclose()
    clock.now += 1.0  # the sync interval: b's next call refreshes its mirror in the background
    await b.chat_completion(MESSAGES, "limited")
    await b.guard.aclose()
    assert b.unavailable_models(10)["free"][0] == "rate_limited"
    with pytest.raises(RateLimitError):
        await b.chat_completion(MESSAGES, "free", rate_limit_timeout_s=0)


async def test_successes_of_unlimited_models_are_reported_in_batches(
    replica: Replicas, store_factory: Callable[[], GuardStore], clock: FakeClock
) -> None:
    a = replica()
    for _ in range(5):
        await a.chat_completion(MESSAGES, "free")
    await a.guard.aclose()
    store = store_factory()
    # two failures in a row would open it (threshold 2): the batch of successes reset nothing it should not
    first = await store.record("free", "failure", now=clock.now, policy=HealthPolicy(failure_threshold=2))
    assert first.transition is None
