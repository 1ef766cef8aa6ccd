"""The guard store contract (rate-limit buckets, 429 hold-offs, circuit breakers), run on the memory store (built
from ratelimit.py and health.py) and on the Redis store (its Lua scripts) against a real redis-server: the scripts
keep the in-process semantics. Several "replicas" are several store objects on one Redis."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from app.providers.guard_store import BucketSpec, GuardStore, MemoryGuardStore, RedisGuardStore
from app.providers.health import HealthPolicy
from app.stores import RedisConnection

POLICY = HealthPolicy(failure_threshold=3, min_requests=4, failure_rate_threshold=0.5, window_s=60, cooldown_s=5)


@pytest.fixture
def stores(backend_connection: RedisConnection | None) -> Callable[[], GuardStore]:
    """A factory of stores sharing one state: several replicas (for memory, the same store object)."""
    if backend_connection is None:
        shared = MemoryGuardStore()
        return lambda: shared
    connection = backend_connection
    return lambda: RedisGuardStore(connection, "litellm")


def rpm(n: float, amount: float = 1) -> BucketSpec:
    return BucketSpec("rpm", amount, n)


def tpm(n: float, amount: float) -> BucketSpec:
    return BucketSpec("tpm", amount, n)


async def test_a_full_bucket_admits_its_burst_then_one_per_interval(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    results = [await store.admit("m", [rpm(3)], now=100.0, policy=POLICY) for _ in range(4)]
    assert [r.outcome for r in results] == ["ok", "ok", "ok", "wait"]
    assert results[3].seconds == pytest.approx(20.0)  # 60 s / 3 requests
    assert (await store.admit("m", [rpm(3)], now=119.9, policy=POLICY)).outcome == "wait"
    assert (await store.admit("m", [rpm(3)], now=120.0, policy=POLICY)).outcome == "ok"


async def test_buckets_are_taken_all_or_nothing(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    assert (await store.admit("m", [rpm(10), tpm(100, 80)], now=0.0, policy=POLICY)).outcome == "ok"
    refused = await store.admit("m", [rpm(10), tpm(100, 30)], now=0.0, policy=POLICY)
    assert refused.outcome == "wait" and refused.seconds == pytest.approx(6.0)  # 10 tokens at 100/60 per s
    assert await store.levels("m", [rpm(10), tpm(100, 0)], now=0.0) == pytest.approx((9.0, 20.0))  # rpm untouched


async def test_more_tokens_than_the_limit_never_fit(stores: Callable[[], GuardStore]) -> None:
    result = await stores().admit("m", [tpm(100, 101)], now=0.0, policy=POLICY)
    assert result.outcome == "wait" and math.isinf(result.seconds)


async def test_give_charge_and_clamp(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    await store.admit("m", [tpm(100, 60)], now=0.0, policy=POLICY)
    assert await store.adjust("m", "give", [tpm(100, 500)], now=0.0) == pytest.approx((100.0,))  # capped
    assert await store.adjust("m", "charge", [tpm(100, 150)], now=0.0) == pytest.approx((-50.0,))  # debt
    assert await store.adjust("m", "clamp", [tpm(100, 10)], now=30.0) == pytest.approx((0.0,))  # -50 + 50 refilled
    assert await store.adjust("m", "clamp", [tpm(100, 10)], now=36.0) == pytest.approx((10.0,))


async def test_replicas_share_one_limit_exactly(stores: Callable[[], GuardStore]) -> None:
    replicas = [stores() for _ in range(3)]
    admitted = 0
    for second in range(0, 120):  # 3 replicas each try 5 times a second for 2 minutes; rpm 30
        for replica in replicas:
            for _ in range(5):
                result = await replica.admit("m", [rpm(30)], now=float(second), policy=POLICY)
                admitted += result.outcome == "ok"
    assert admitted == 30 + 60 - 1  # the burst, then one every 2 s over 119 s (0..119), as one process would


async def test_a_hold_off_applies_to_every_replica_and_keeps_the_later_deadline(
    stores: Callable[[], GuardStore],
) -> None:
    a, b = stores(), stores()
    assert await a.hold("m", 110.0) == 110.0
    assert await b.hold("m", 105.0) == 110.0
    held = await b.admit("m", [rpm(10)], now=100.0, policy=POLICY)
    assert held.outcome == "held" and held.seconds == pytest.approx(10.0)
    assert (await a.snapshot(now=100.0)).holds == {"m": 110.0}
    assert (await a.admit("m", [rpm(10)], now=110.0, policy=POLICY)).outcome == "ok"
    assert (await a.snapshot(now=111.0)).holds == {}


async def test_consecutive_failures_open_the_breaker_for_every_replica(stores: Callable[[], GuardStore]) -> None:
    a, b, c = stores(), stores(), stores()
    for replica in (a, b):
        assert (await replica.record("m", "failure", now=10.0, policy=POLICY)).transition is None
    opened = await c.record("m", "failure", now=10.0, policy=POLICY, last=" (last: ProviderUnavailableError)")
    assert opened.transition == "open" and opened.cooldown_s == 5.0
    refused = await a.admit("m", [], now=12.0, policy=POLICY)
    assert refused.outcome == "unhealthy" and "3 consecutive failures" in refused.detail
    assert refused.seconds == pytest.approx(3.0)
    snapshot = await b.snapshot(now=12.0)
    assert snapshot.breakers["m"].state == "open" and snapshot.breakers["m"].open_until == pytest.approx(15.0)


async def test_one_trial_in_total_then_success_closes(stores: Callable[[], GuardStore]) -> None:
    a, b = stores(), stores()
    for _ in range(3):
        await a.record("m", "failure", now=0.0, policy=POLICY)
    trial = await a.admit("m", [], now=5.0, policy=POLICY)
    assert trial.outcome == "ok" and trial.trial
    second = await b.admit("m", [], now=5.5, policy=POLICY)
    assert second.outcome == "unhealthy" and "trial" in second.detail
    closed = await b.record("m", "success", now=6.0, policy=POLICY)
    assert closed.transition == "closed" and closed.state == "closed"
    assert (await a.admit("m", [], now=6.0, policy=POLICY)).outcome == "ok"
    assert (await a.snapshot(now=6.0)).breakers == {}


async def test_a_failed_trial_doubles_the_cooldown(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    for _ in range(3):
        await store.record("m", "failure", now=0.0, policy=POLICY)
    assert (await store.admit("m", [], now=5.0, policy=POLICY)).trial
    reopened = await store.record("m", "failure", now=5.0, policy=POLICY)
    assert reopened.transition == "open" and reopened.cooldown_s == 10.0
    assert (await store.admit("m", [], now=14.9, policy=POLICY)).outcome == "unhealthy"
    assert (await store.admit("m", [], now=15.0, policy=POLICY)).trial


async def test_a_released_trial_lets_another_through(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    for _ in range(3):
        await store.record("m", "failure", now=0.0, policy=POLICY)
    assert (await store.admit("m", [], now=5.0, policy=POLICY)).trial
    await store.record("m", "release", now=5.0, policy=POLICY)
    assert (await store.admit("m", [], now=5.0, policy=POLICY)).trial


async def test_a_failure_rate_opens_the_breaker(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    for outcome in ("failure", "success", "failure", "success"):
        await store.record("m", outcome, now=1.0, policy=POLICY)  # type: ignore[arg-type]
    # 2 of 4 in the window: 50% once min_requests (4) is reached, on the next failure
    recorded = await store.record("m", "failure", now=2.0, policy=POLICY)
    assert recorded.transition == "open"


async def test_failures_leave_the_window(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    for outcome in ("failure", "success", "failure", "success"):
        await store.record("m", outcome, now=1.0, policy=POLICY)  # type: ignore[arg-type]
    await store.record("m", "success", now=70.0, policy=POLICY)
    assert (await store.record("m", "failure", now=70.0, policy=POLICY)).transition is None  # 1 of 2 in the window


async def test_models_are_independent(stores: Callable[[], GuardStore]) -> None:
    store = stores()
    for _ in range(3):
        await store.record("a", "failure", now=0.0, policy=POLICY)
    await store.hold("b", 50.0)
    assert (await store.admit("c", [rpm(1)], now=0.0, policy=POLICY)).outcome == "ok"
    snapshot = await store.snapshot(now=0.0)
    assert set(snapshot.breakers) == {"a"} and set(snapshot.holds) == {"b"}
