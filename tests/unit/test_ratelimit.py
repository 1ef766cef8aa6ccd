"""Client-side rpm/tpm limiter: token buckets on a fake clock (no real sleeping, no timing assertions)."""

from __future__ import annotations

import asyncio
import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InvalidRequestError, RateLimitError
from app.providers.model_registry import RateLimits
from app.providers.ratelimit import BucketStore, MemoryBucketStore, RateLimiter, Reservation

MODEL = "gpt-4o"


class FakeClock:
    """A clock that only moves when told to, and a sleep that moves it (recording every wait)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


def make(
    rpm: int | None = None,
    tpm: int | None = None,
    *,
    clock: FakeClock | None = None,
    store: BucketStore | None = None,
    key_prefix: str = "",
) -> tuple[RateLimiter, FakeClock]:
    """A limiter on a fake clock where only ``MODEL`` has limits; every other model is unknown."""
    clock = clock or FakeClock()
    limits = RateLimits(requests_per_minute=rpm, tokens_per_minute=tpm)
    limiter = RateLimiter(
        lambda model: limits if model == MODEL else None,
        clock=clock,
        sleep=clock.sleep,
        store=store,
        key_prefix=key_prefix,
    )
    return limiter, clock


def take(limiter: RateLimiter, tokens: int = 0, model: str = MODEL) -> Reservation:
    reservation = limiter.try_acquire(model, tokens)
    assert reservation is not None
    return reservation


# --- request bucket ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rpm", [1, 2, 5, 7, 60, 1000])
def test_burst_admits_exactly_rpm_requests(rpm: int) -> None:
    limiter, _ = make(rpm=rpm)
    for _ in range(rpm):
        take(limiter)
    assert limiter.try_acquire(MODEL, 0) is None
    assert limiter.wait_time_s(MODEL, 0) == pytest.approx(60 / rpm)


def test_requests_refill_continuously_at_rpm_per_minute() -> None:
    limiter, clock = make(rpm=60)
    for _ in range(60):
        take(limiter)
    assert limiter.wait_time_s(MODEL, 0) == 1.0
    clock.advance(0.5)
    assert limiter.wait_time_s(MODEL, 0) == 0.5
    assert limiter.try_acquire(MODEL, 0) is None
    clock.advance(0.5)
    assert limiter.wait_time_s(MODEL, 0) == 0.0
    take(limiter)
    assert limiter.try_acquire(MODEL, 0) is None
    clock.advance(10)  # ten more, not a new burst of 60
    for _ in range(10):
        take(limiter)
    assert limiter.try_acquire(MODEL, 0) is None


def test_refill_never_exceeds_the_burst() -> None:
    limiter, clock = make(rpm=3)
    clock.advance(3600)
    for _ in range(3):
        take(limiter)
    assert limiter.try_acquire(MODEL, 0) is None


# --- token bucket -----------------------------------------------------------------------------------------------


def test_tokens_are_charged_with_the_estimate() -> None:
    limiter, clock = make(tpm=1000)
    take(limiter, 400)
    take(limiter, 400)
    assert limiter.try_acquire(MODEL, 400) is None
    assert limiter.wait_time_s(MODEL, 400) == pytest.approx(200 / (1000 / 60))  # 12 s
    take(limiter, 200)
    clock.advance(12)
    take(limiter, 200)


def test_commit_refund_lets_more_requests_in() -> None:
    limiter, _ = make(tpm=1000)
    first, second = take(limiter, 400), take(limiter, 400)
    assert limiter.try_acquire(MODEL, 400) is None
    first.commit(100)
    second.commit(100)
    assert limiter.snapshot(MODEL)["tokens_available"] == 800
    take(limiter, 400)
    take(limiter, 400)


def test_refund_is_capped_at_capacity() -> None:
    limiter, clock = make(tpm=600)
    reservation = take(limiter, 500)
    clock.advance(60)  # refilled to full meanwhile
    reservation.commit(0)
    assert limiter.snapshot(MODEL)["tokens_available"] == 600


def test_commit_extra_creates_debt_that_delays_the_next_request() -> None:
    limiter, clock = make(tpm=600)  # 10 tokens/s
    take(limiter, 600).commit(1200)
    assert limiter.snapshot(MODEL)["tokens_available"] == -600
    assert limiter.wait_time_s(MODEL, 0) == 60.0  # even an empty request waits until the debt is paid
    assert limiter.wait_time_s(MODEL, 100) == 70.0
    clock.advance(69)
    assert limiter.try_acquire(MODEL, 100) is None
    clock.advance(1)
    take(limiter, 100)


def test_release_gives_back_the_request_and_its_tokens() -> None:
    limiter, _ = make(rpm=2, tpm=1000)
    first, _second = take(limiter, 500), take(limiter, 500)
    assert limiter.try_acquire(MODEL, 0) is None
    first.release()
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (1, 500)
    take(limiter, 500)


def test_commit_and_release_are_idempotent() -> None:
    limiter, _ = make(rpm=10, tpm=1000)
    committed = take(limiter, 500)
    committed.commit(100)
    committed.commit(10)  # ignored
    committed.release()  # no-op after commit
    assert committed.done
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (9, 900)

    released = take(limiter, 300)
    released.release()
    released.release()  # ignored
    released.commit(1000)  # ignored after release
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (9, 900)


def test_acquire_is_both_or_neither() -> None:
    limiter, _ = make(rpm=10, tpm=100)
    take(limiter, 100)
    assert limiter.try_acquire(MODEL, 50) is None  # tokens refused: the request is given back
    assert limiter.snapshot(MODEL)["requests_available"] == 9

    limiter, _ = make(rpm=1, tpm=100)
    take(limiter, 0)
    assert limiter.try_acquire(MODEL, 50) is None  # request refused: no token taken
    assert limiter.snapshot(MODEL)["tokens_available"] == 100


def test_try_acquire_charges_nothing_on_failure() -> None:
    limiter, _ = make(rpm=2, tpm=100)
    take(limiter, 90)
    before = limiter.snapshot(MODEL)
    for tokens in (11, 50, 100, 101):
        assert limiter.try_acquire(MODEL, tokens) is None
    limiter.hold(MODEL, 5)
    assert limiter.try_acquire(MODEL, 0) is None
    after = limiter.snapshot(MODEL)
    assert (after["requests_available"], after["tokens_available"]) == (
        before["requests_available"],
        before["tokens_available"],
    )


def test_negative_estimate_is_rejected() -> None:
    limiter, _ = make(tpm=100)
    with pytest.raises(InvalidRequestError):
        limiter.try_acquire(MODEL, -1)


# --- acquire ----------------------------------------------------------------------------------------------------


async def test_acquire_waits_the_simulated_time() -> None:
    limiter, clock = make(rpm=60)
    start = clock.now
    for _ in range(60):
        take(limiter)
    await limiter.acquire(MODEL, 0, timeout_s=None)
    assert clock.now - start == pytest.approx(1.0)  # one request refills per second

    limiter, clock = make(rpm=60, tpm=600)  # 10 tokens/s
    start = clock.now
    take(limiter, 590)
    await limiter.acquire(MODEL, 300, timeout_s=60)
    assert clock.now - start == pytest.approx(29.0)  # 290 tokens short
    assert sum(clock.sleeps) == pytest.approx(29.0)


async def test_acquire_without_waiting_when_capacity_is_there() -> None:
    limiter, clock = make(rpm=5)
    reservation = await limiter.acquire(MODEL, 0, timeout_s=0)
    assert (reservation.model, reservation.tokens) == (MODEL, 0)
    assert clock.sleeps == []


async def test_timeout_zero_raises_at_once_with_retry_after() -> None:
    limiter, clock = make(rpm=6)
    for _ in range(6):
        take(limiter)
    with pytest.raises(RateLimitError) as info:
        await limiter.acquire(MODEL, 0, timeout_s=0)
    assert info.value.retry_after_s == pytest.approx(10.0)
    assert info.value.retryable and info.value.model == MODEL
    assert clock.sleeps == []


async def test_timeout_shorter_than_the_wait_raises_without_sleeping() -> None:
    limiter, clock = make(rpm=6)
    for _ in range(6):
        take(limiter)
    with pytest.raises(RateLimitError) as info:
        await limiter.acquire(MODEL, 0, timeout_s=9.9)
    assert info.value.retry_after_s == pytest.approx(10.0)
    assert clock.sleeps == []
    assert (await limiter.acquire(MODEL, 0, timeout_s=10)).model == MODEL
    assert clock.sleeps == [pytest.approx(10.0)]


@pytest.mark.parametrize("timeout_s", [None, 0, 1e9])
async def test_request_larger_than_tpm_raises_at_once(timeout_s: float | None) -> None:
    limiter, clock = make(rpm=10, tpm=1000)
    assert limiter.wait_time_s(MODEL, 1001) == math.inf
    assert limiter.try_acquire(MODEL, 1001) is None
    with pytest.raises(RateLimitError, match="larger than the per-minute token limit") as info:
        await limiter.acquire(MODEL, 1001, timeout_s=timeout_s)
    assert info.value.retry_after_s is None
    assert not info.value.retryable
    assert clock.sleeps == []
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (10, 1000)
    take(limiter, 1000)  # exactly the burst fits


async def test_concurrent_waiters_all_get_through_within_the_rate() -> None:
    limiter, clock = make(rpm=60)
    start = clock.now
    for _ in range(60):
        take(limiter)
    reservations = await asyncio.gather(*(limiter.acquire(MODEL, 0, timeout_s=None) for _ in range(5)))
    assert len(reservations) == 5
    assert clock.now - start >= 5.0 - 1e-9  # five more requests need five seconds of refill
    assert limiter.try_acquire(MODEL, 0) is None


# --- hold-offs and headers --------------------------------------------------------------------------------------


async def test_hold_blocks_every_request_until_it_passes() -> None:
    limiter, clock = make(rpm=100)
    limiter.hold(MODEL, 30)
    assert limiter.wait_time_s(MODEL, 0) == 30.0
    assert limiter.try_acquire(MODEL, 0) is None
    with pytest.raises(RateLimitError) as info:
        await limiter.acquire(MODEL, 0, timeout_s=5)
    assert info.value.retry_after_s == 30.0
    limiter.hold(MODEL, 10)  # shorter: does not shorten
    assert limiter.wait_time_s(MODEL, 0) == 30.0
    clock.advance(20)
    limiter.hold(MODEL, 25)  # longer from now: extends to 45 s after the first hold
    assert limiter.wait_time_s(MODEL, 0) == 25.0
    await limiter.acquire(MODEL, 0, timeout_s=None)
    assert clock.sleeps == [25.0]
    take(limiter)


def test_hold_applies_to_models_without_limits_and_ignores_garbage() -> None:
    limiter, clock = make()
    limiter.hold("unknown-model", 3)
    assert limiter.try_acquire("unknown-model", 10**9) is None
    for bad in (-1.0, 0.0, math.nan, math.inf):
        limiter.hold(MODEL, bad)
    assert limiter.wait_time_s(MODEL, 0) == 0.0
    clock.advance(3)
    take(limiter, 10**9, model="unknown-model")


def test_headers_with_zero_remaining_empty_the_buckets() -> None:
    limiter, clock = make(rpm=60, tpm=600)
    take(limiter, 100)
    limiter.update_from_headers(MODEL, {"x-ratelimit-remaining-requests": "0", "X-RateLimit-Remaining-Tokens": "0"})
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (0, 0)
    assert limiter.wait_time_s(MODEL, 0) == 1.0  # one request refills in 60/rpm s
    assert limiter.wait_time_s(MODEL, 50) == 5.0  # enough tokens for this request
    clock.advance(5)
    take(limiter, 50)


def test_headers_clamp_down_but_never_up() -> None:
    limiter, _ = make(rpm=60, tpm=600)
    take(limiter, 100)
    limiter.update_from_headers(MODEL, {"x-ratelimit-remaining-requests": "10", "x-ratelimit-remaining-tokens": "9999"})
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (10, 500)


@pytest.mark.parametrize("garbage", ["", "abc", "-1", "nan", "inf", "1e400", " "])
def test_garbage_headers_are_ignored(garbage: str) -> None:
    limiter, _ = make(rpm=60, tpm=600)
    limiter.update_from_headers(
        MODEL, {"x-ratelimit-remaining-requests": garbage, "x-ratelimit-remaining-tokens": garbage}
    )
    limiter.update_from_headers(MODEL, {"content-type": "application/json"})
    limiter.update_from_headers("unknown-model", {"x-ratelimit-remaining-requests": "0"})
    snap = limiter.snapshot(MODEL)
    assert (snap["requests_available"], snap["tokens_available"]) == (60, 600)


# --- unknown models, snapshot, store ----------------------------------------------------------------------------


async def test_unknown_model_and_missing_limits_are_never_limited() -> None:
    limiter, clock = make(rpm=None, tpm=None)
    for model in ("unknown-model", MODEL):
        for _ in range(1000):
            take(limiter, 10**6, model=model)
        assert limiter.wait_time_s(model, 10**9) == 0.0
        await limiter.acquire(model, 10**9, timeout_s=0)
    assert clock.sleeps == []
    assert limiter.snapshot("unknown-model") == {
        "requests_available": None,
        "tokens_available": None,
        "held_until": None,
        "requests_per_minute": None,
        "tokens_per_minute": None,
    }


def test_only_the_configured_dimension_limits() -> None:
    limiter, _ = make(tpm=100)
    for _ in range(500):
        take(limiter, 0)
    limiter, _ = make(rpm=2)
    take(limiter, 10**9)
    take(limiter, 10**9)
    assert limiter.try_acquire(MODEL, 0) is None


def test_snapshot_values() -> None:
    limiter, clock = make(rpm=60, tpm=6000)
    for tokens in (1000, 500, 0, 0, 0):
        take(limiter, tokens)
    clock.advance(0.5)
    limiter.hold(MODEL, 7)
    clock.advance(2)
    assert limiter.snapshot(MODEL) == {
        "requests_available": pytest.approx(55 + 2.5),  # 1 request/s
        "tokens_available": pytest.approx(4500 + 250),  # 100 tokens/s
        "held_until": pytest.approx(5.0),  # seconds from now
        "requests_per_minute": 60,
        "tokens_per_minute": 6000,
    }


def test_keys_and_a_shared_store() -> None:
    store = MemoryBucketStore()
    clock = FakeClock()
    first, _ = make(rpm=2, clock=clock, store=store, key_prefix="costmux:")
    second, _ = make(rpm=2, clock=clock, store=store, key_prefix="costmux:")
    other, _ = make(rpm=2, clock=clock, store=store, key_prefix="other:")
    take(first)
    take(second)
    assert first.try_acquire(MODEL, 0) is None  # the two limiters share one bucket
    take(other)
    first.hold(MODEL, 5)
    assert store.held_until(f"costmux:{MODEL}:hold") == clock.now + 5
    assert store.level(f"costmux:{MODEL}:rpm", 2, 2 / 60, clock.now) == 0
    assert store.level(f"other:{MODEL}:rpm", 2, 2 / 60, clock.now) == 1


def test_memory_store_contract() -> None:
    store = MemoryBucketStore()
    assert store.take("k", 3, 5, 1.0, 0.0) == 0.0
    assert store.take("k", 3, 5, 1.0, 0.0) == 1.0  # level 2: one second until 3 fit
    assert store.take("k", 6, 5, 1.0, 0.0) == math.inf
    assert store.level("k", 5, 1.0, 0.0) == 2  # refusals changed nothing
    assert store.take("k", 4, 5, 1.0, 0.0, force=True) == 0.0
    assert store.level("k", 5, 1.0, 1.0) == -1  # debt, then one second of refill
    store.give("k", 100, 5, 1.0, 1.0)
    assert store.level("k", 5, 1.0, 0.5) == 5  # capped; a clock going backwards refills nothing
    assert store.held_until("k") is None
    store.hold("k", 10)
    store.hold("k", 5)
    assert store.held_until("k") == 10


# --- property ---------------------------------------------------------------------------------------------------

Op = tuple[str, float, float | None]  # (kind, x, y): the meaning of x and y depends on the kind

_op: st.SearchStrategy[Op] = st.one_of(
    st.tuples(st.just("advance"), st.floats(0, 30) | st.floats(0, 2), st.none()),  # x: seconds
    st.tuples(st.just("try"), st.integers(0, 400).map(float), st.none()),  # x: tokens
    st.tuples(st.just("drain"), st.integers(0, 100).map(float), st.none()),  # try x tokens until refused
    st.tuples(  # x: tokens, y: timeout (None: wait as needed)
        st.just("acquire"), st.integers(0, 400).map(float), st.sampled_from([0.0, 2.5, 20.0, None])
    ),
    st.tuples(st.just("commit"), st.integers(0, 50).map(float), st.floats(0, 1)),  # x: which, y: actual/estimate
    st.tuples(st.just("release"), st.integers(0, 50).map(float), st.none()),  # x: which
    st.tuples(st.just("hold"), st.floats(0, 10), st.none()),  # x: seconds
    st.tuples(st.just("headers"), st.integers(0, 5).map(float), st.integers(0, 400).map(float)),  # remaining
)


async def _run(rpm: int, tpm: int, ops: list[Op]) -> None:
    limiter, clock = make(rpm=rpm, tpm=tpm)
    start = clock.now
    open_: list[Reservation] = []
    charged: dict[int, int] = {}  # id(reservation) -> tokens charged now (estimate, actual, or 0 once released)
    admitted = released = 0
    admit_times: list[float] = []
    for kind, x, y in ops:
        admissions: list[Reservation | None] = []
        if kind == "advance":
            clock.advance(x)
        elif kind == "try":
            admissions.append(limiter.try_acquire(MODEL, int(x)))
        elif kind == "drain":  # keeps the buckets empty, where the bounds are tight
            while len(admissions) < 50 and (admissions == [] or admissions[-1] is not None):
                admissions.append(limiter.try_acquire(MODEL, int(x)))
        elif kind == "acquire":
            with contextlib.suppress(RateLimitError):
                admissions.append(await limiter.acquire(MODEL, int(x), timeout_s=y))
        elif kind in ("commit", "release") and open_:
            target = open_.pop(int(x) % len(open_))
            if kind == "commit":
                actual = math.floor(target.tokens * (y or 0.0))  # never above the estimate: no extra charge
                target.commit(actual)
                charged[id(target)] = actual
            else:
                target.release()
                charged[id(target)] = 0
                released += 1
        elif kind == "hold":
            limiter.hold(MODEL, x)
        elif kind == "headers":
            limiter.update_from_headers(
                MODEL, {"x-ratelimit-remaining-requests": str(int(x)), "x-ratelimit-remaining-tokens": str(y)}
            )
        for reservation in filter(None, admissions):
            admitted += 1
            admit_times.append(clock.now)
            open_.append(reservation)
            charged[id(reservation)] = reservation.tokens
        elapsed = clock.now - start
        assert admitted - released <= rpm + rpm * elapsed / 60 + 1e-6
        assert sum(charged.values()) <= tpm + tpm * elapsed / 60 + 1e-6
    if released == 0:  # any window [t_i, t_j] of admissions holds at most the burst plus the refill in between
        for i, t_i in enumerate(admit_times):
            for j in range(i, len(admit_times)):
                assert j - i + 1 <= rpm + rpm * (admit_times[j] - t_i) / 60 + 1e-6


@settings(max_examples=200, deadline=None)
@given(rpm=st.integers(1, 10), tpm=st.integers(50, 1000), ops=st.lists(_op, max_size=60))
def test_admissions_never_exceed_burst_plus_refill(rpm: int, tpm: int, ops: list[Op]) -> None:
    asyncio.run(_run(rpm, tpm, ops))
