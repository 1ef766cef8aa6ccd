"""Per-model circuit breakers and the proxy health monitor, on a fake clock (nothing sleeps for real)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from app.providers.health import HealthPolicy, ModelHealth, ProxyHealthMonitor, counts_as_failure

M = "gpt-4o"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def health(clock: FakeClock) -> ModelHealth:
    return ModelHealth(clock=clock)


def unavailable() -> ProviderUnavailableError:
    return ProviderUnavailableError("502 from upstream", status_code=502, provider="litellm", model=M)


def open_breaker(health: ModelHealth, model: str = M) -> None:
    for _ in range(3):
        health.record_failure(model, unavailable())
    assert health.state(model) == "open"


# --- opening ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error", [unavailable(), ProviderTimeoutError("read timeout"), ProviderError("x", retryable=True), None]
)
def test_three_consecutive_retryable_failures_open(health: ModelHealth, error: BaseException | None) -> None:
    health.record_failure(M, error)
    health.record_failure(M, error)
    assert health.state(M) == "closed" and health.healthy(M) and health.check(M) is None
    health.record_failure(M, error)
    assert health.state(M) == "open" and not health.healthy(M)
    reason = health.check(M)
    assert reason is not None and "3 consecutive failures" in reason


def test_a_success_in_between_resets_the_streak(clock: FakeClock) -> None:
    health = ModelHealth(HealthPolicy(min_requests=1000), clock=clock)  # keep the failure rate out of it
    for _ in range(5):
        health.record_failure(M, unavailable())
        health.record_failure(M, unavailable())
        health.record_success(M)
    assert health.state(M) == "closed"
    assert health.snapshot(M)["consecutive_failures"] == 0


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("context length exceeded", status_code=400),
        AuthenticationError("bad key", status_code=401),
        ModelNotFoundError("Invalid model name", status_code=400),
        RateLimitError("throttled", status_code=429, retry_after_s=60.0),
        ProviderError("throttled upstream", status_code=429, retryable=True),
        ProviderUnavailableError("marked not retryable", status_code=503, retryable=False),
        InvalidResponseError("malformed body"),
        ValueError("a bug"),
        asyncio.CancelledError(),
    ],
)
def test_4xx_429_and_non_retryable_errors_do_not_count(health: ModelHealth, error: BaseException) -> None:
    assert not counts_as_failure(error)
    for _ in range(20):
        health.record_failure(M, error)
    assert health.state(M) == "closed" and health.check(M) is None
    snap = health.snapshot(M)
    assert snap["requests_in_window"] == 0 and snap["consecutive_failures"] == 0


def test_failure_rate_opens_only_after_min_requests(clock: FakeClock) -> None:
    health = ModelHealth(HealthPolicy(failure_threshold=100), clock=clock)
    for i in range(9):  # S F S F ... : the rate reaches 50% early, but fewer than 10 requests were seen
        if i % 2:
            health.record_failure(M, unavailable())
        else:
            health.record_success(M)
        clock.advance(1.0)
        assert health.state(M) == "closed", i
    health.record_failure(M, unavailable())  # 10 requests, 5 failures
    assert health.state(M) == "open"
    reason = health.check(M)
    assert reason is not None and "5 failures in 10 requests (50%)" in reason


def test_failure_rate_below_threshold_or_outside_window_does_not_open(clock: FakeClock) -> None:
    health = ModelHealth(HealthPolicy(failure_threshold=100), clock=clock)
    for i in range(30):  # one failure in three
        if i % 3 == 0:
            health.record_failure(M)
        else:
            health.record_success(M)
    assert health.state(M) == "closed"
    clock.advance(61.0)  # everything so far leaves the window
    for _ in range(6):
        health.record_success(M)
    for _ in range(4):
        health.record_failure(M)
    assert health.snapshot(M)["requests_in_window"] == 10
    assert health.state(M) == "closed"  # 40% < 50%; the old failures no longer count
    health.record_failure(M)
    assert health.state(M) == "closed"  # 5 of 11
    health.record_failure(M)
    assert health.state(M) == "open"  # 6 of 12


# --- cooldown and trials ---------------------------------------------------------------------------------------


def test_cooldown_blocks_until_it_passes(health: ModelHealth, clock: FakeClock) -> None:
    open_breaker(health)
    assert health.check(M) == "cooling down after 3 consecutive failures (last: ProviderUnavailableError), 5.0 s left"
    clock.advance(4.0)
    reason = health.check(M)
    assert reason is not None and reason.endswith("1.0 s left")
    assert health.state(M) == "open"
    clock.advance(1.0)
    assert health.state(M) == "half_open"  # the next check admits a trial
    assert health.check(M) is None


def test_exactly_one_trial_in_half_open(health: ModelHealth, clock: FakeClock) -> None:
    open_breaker(health)
    clock.advance(5.0)
    admitted = [health.check(M) for _ in range(5)]
    assert admitted[0] is None
    assert admitted[1:] == ["half-open: a trial request is in flight"] * 4
    assert health.state(M) == "half_open" and not health.healthy(M)
    assert health.snapshot(M)["trial_in_flight"] is True


def test_successful_trial_closes_and_resets_the_cooldown(health: ModelHealth, clock: FakeClock) -> None:
    open_breaker(health)
    for _ in range(2):  # two failed trials: the cooldown grows to 20 s
        clock.advance(health.snapshot(M)["cooldown_s"])  # type: ignore[arg-type]
        assert health.check(M) is None
        health.record_failure(M, unavailable())
    assert health.snapshot(M)["cooldown_s"] == 20.0
    clock.advance(20.0)
    assert health.check(M) is None
    health.record_success(M)
    snap = health.snapshot(M)
    assert snap["state"] == "closed" and snap["cooldown_s"] == 5.0 and snap["consecutive_failures"] == 0
    assert snap["requests_in_window"] == 0  # a closed breaker starts afresh
    assert health.check(M) is None and health.check(M) is None
    open_breaker(health)
    assert health.snapshot(M)["cooldown_remaining_s"] == 5.0


def test_failed_trial_reopens_with_a_doubled_cooldown_capped(clock: FakeClock) -> None:
    health = ModelHealth(HealthPolicy(cooldown_s=5.0, max_cooldown_s=30.0), clock=clock)
    open_breaker(health)
    seen = []
    for _ in range(5):
        cooldown = health.snapshot(M)["cooldown_s"]
        seen.append(cooldown)
        clock.advance(cooldown - 0.5)  # type: ignore[operator]
        assert health.check(M) is not None
        clock.advance(0.5)
        assert health.check(M) is None
        health.record_failure(M, ProviderTimeoutError("timeout"))
        assert health.state(M) == "open"
    assert seen == [5.0, 10.0, 20.0, 30.0, 30.0]
    assert health.snapshot(M)["opened_count"] == 6
    reason = health.check(M)
    assert reason is not None and reason.startswith("cooling down after a failed trial request")


def test_release_trial_allows_another_trial(health: ModelHealth, clock: FakeClock) -> None:
    open_breaker(health)
    clock.advance(5.0)
    assert health.check(M) is None
    assert health.check(M) is not None
    health.release_trial(M)
    assert health.check(M) is None
    assert health.check(M) is not None
    health.release_trial("never-seen")  # no error, nothing allocated
    assert health.state("never-seen") == "closed"


def test_a_trial_answered_with_4xx_or_429_lets_another_trial_through(health: ModelHealth, clock: FakeClock) -> None:
    open_breaker(health)
    clock.advance(5.0)
    assert health.check(M) is None
    health.record_failure(M, RateLimitError("throttled", status_code=429))
    assert health.state(M) == "half_open" and health.snapshot(M)["cooldown_s"] == 5.0
    assert health.check(M) is None


def test_a_lost_trial_is_replaced_after_trial_timeout(clock: FakeClock) -> None:
    health = ModelHealth(HealthPolicy(trial_timeout_s=30.0), clock=clock)
    open_breaker(health)
    clock.advance(5.0)
    assert health.check(M) is None
    clock.advance(29.0)
    assert health.check(M) is not None
    clock.advance(1.0)
    assert health.check(M) is None


def test_outcomes_of_requests_sent_before_opening_neither_close_nor_grow(health: ModelHealth) -> None:
    open_breaker(health)
    health.record_success(M)
    health.record_failure(M, unavailable())
    snap = health.snapshot(M)
    assert snap["state"] == "open" and snap["cooldown_s"] == 5.0 and snap["opened_count"] == 1


def test_models_are_independent(health: ModelHealth) -> None:
    open_breaker(health, "a")
    assert health.check("b") is None and health.healthy("b")
    assert health.check("a") is not None


# --- memory and snapshot ---------------------------------------------------------------------------------------


def test_window_trimming_bounds_memory(clock: FakeClock) -> None:
    health = ModelHealth(HealthPolicy(failure_threshold=10**9, min_requests=10**9), clock=clock)
    for i in range(1_000_000):
        if i % 7:
            health.record_success(M)
        else:
            health.record_failure(M)
        clock.advance(0.001)  # 1,000 s in all, many times the 60 s window
    state = health._models[M]
    assert len(state.buckets) <= 10
    snap = health.snapshot(M)
    assert 54_000 <= snap["requests_in_window"] <= 60_000  # type: ignore[operator]
    assert snap["failure_rate"] == pytest.approx(1 / 7, abs=0.01)
    for _ in range(100_000):  # all at one instant: still one bucket more at most
        health.record_success(M)
    assert len(state.buckets) <= 10


def test_snapshot_fields(health: ModelHealth, clock: FakeClock) -> None:
    assert health.snapshot("unknown") == {
        "state": "closed",
        "consecutive_failures": 0,
        "failure_rate": 0.0,
        "requests_in_window": 0,
        "cooldown_s": 5.0,
        "cooldown_remaining_s": 0.0,
        "opened_count": 0,
        "trial_in_flight": False,
        "reason": None,
    }
    assert "unknown" not in health._models  # reading allocates nothing
    health.record_success(M)
    open_breaker(health)
    clock.advance(1.5)
    snap = health.snapshot(M)
    assert snap["state"] == "open"
    assert snap["consecutive_failures"] == 3
    assert snap["failure_rate"] == 0.75 and snap["requests_in_window"] == 4
    assert snap["cooldown_s"] == 5.0 and snap["cooldown_remaining_s"] == 3.5
    assert snap["opened_count"] == 1 and snap["trial_in_flight"] is False
    assert snap["reason"] == "3 consecutive failures (last: ProviderUnavailableError)"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"min_requests": 0},
        {"failure_rate_threshold": 0.0},
        {"failure_rate_threshold": 1.5},
        {"window_s": 0.0},
        {"cooldown_s": -1.0},
        {"cooldown_multiplier": 0.5},
        {"cooldown_s": 10.0, "max_cooldown_s": 5.0},
        {"trial_timeout_s": 0.0},
    ],
)
def test_invalid_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        HealthPolicy(**kwargs)  # type: ignore[arg-type]


# --- proxy monitor ---------------------------------------------------------------------------------------------


class Probe:
    def __init__(self, *answers: bool | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


async def spin(until: int, probe: Probe) -> None:
    for _ in range(1000):
        if probe.calls >= until:
            return
        await asyncio.sleep(0)
    raise AssertionError("the monitor did not run")


def monitor_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "costmux-proxy-health" and not t.done()]


async def test_check_now_records_answers_and_a_raising_probe_is_unhealthy(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    probe = Probe(True, ConnectionError("refused"), False, True)
    monitor = ProxyHealthMonitor(probe, clock=clock)
    assert monitor.healthy is None and monitor.last_checked is None and not monitor.running
    assert await monitor.check_now() is True
    assert monitor.healthy is True and monitor.last_checked == 1000.0
    clock.advance(30.0)
    with caplog.at_level(logging.WARNING, logger="app.providers.health"):
        assert await monitor.check_now() is False
    assert "ConnectionError" in caplog.text
    assert monitor.healthy is False and monitor.last_checked == 1030.0 and monitor.consecutive_failures == 1
    assert await monitor.check_now() is False
    assert monitor.consecutive_failures == 2
    assert await monitor.check_now() is True
    assert monitor.consecutive_failures == 0


async def test_start_stop_runs_the_probe_repeatedly_and_stops_cleanly() -> None:
    probe, sleep = Probe(True, False), FakeSleep()
    monitor = ProxyHealthMonitor(probe, interval_s=12.0, sleep=sleep)
    monitor.start()
    monitor.start()  # idempotent
    assert monitor.running and len(monitor_tasks()) == 1
    await spin(5, probe)
    await monitor.stop()
    assert not monitor.running and monitor_tasks() == []
    assert monitor.healthy is False
    assert set(sleep.waits) == {12.0} and len(sleep.waits) >= 4
    calls = probe.calls
    for _ in range(10):
        await asyncio.sleep(0)
    assert probe.calls == calls
    await monitor.stop()  # idempotent
    monitor.start()  # can start again
    await spin(calls + 1, probe)
    await monitor.stop()


async def test_stop_while_the_probe_hangs() -> None:
    started, never = asyncio.Event(), asyncio.Event()

    async def hang() -> bool:
        started.set()
        await never.wait()
        return True

    monitor = ProxyHealthMonitor(hang)
    monitor.start()
    await started.wait()
    await monitor.stop()
    assert not monitor.running and monitor.healthy is None


async def test_stop_never_started_and_a_crashed_loop_does_not_leak(caplog: pytest.LogCaptureFixture) -> None:
    await ProxyHealthMonitor(Probe(True)).stop()

    async def broken_sleep(seconds: float) -> None:
        raise RuntimeError("broken sleep")

    monitor = ProxyHealthMonitor(Probe(True), sleep=broken_sleep)
    monitor.start()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not monitor.running
    with caplog.at_level(logging.ERROR, logger="app.providers.health"):
        await monitor.stop()
    assert "ended with an error" in caplog.text


async def test_context_manager() -> None:
    probe = Probe(True)
    async with ProxyHealthMonitor(probe, sleep=FakeSleep()) as monitor:
        assert monitor.running
        await spin(2, probe)
    assert not monitor.running and monitor.healthy is True and monitor_tasks() == []


def test_start_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        ProxyHealthMonitor(Probe(True)).start()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        ProxyHealthMonitor(Probe(True), interval_s=0.0)


def test_peek_never_takes_the_trial() -> None:
    clock = FakeClock()
    health = ModelHealth(HealthPolicy(failure_threshold=1, cooldown_s=5), clock=clock)
    health.record_failure("m")
    assert health.peek("m") is not None and "cooling down" in str(health.peek("m"))
    clock.now += 5
    assert health.peek("m") is None and health.peek("m") is None  # repeated peeks leave the trial free
    assert health.check("m") is None  # the sender takes the trial
    assert health.peek("m") == "half-open: a trial request is in flight"
    assert health.check("m") == "half-open: a trial request is in flight"
