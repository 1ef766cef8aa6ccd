"""Per-model health from request outcomes (a circuit breaker with a growing cooldown), and a proxy health monitor.

:class:`ModelHealth` keeps one breaker per model of a provider, fed by the outcomes the caller records. The router asks
:meth:`ModelHealth.check` before choosing a model; it never waits and never makes a request.

State machine of one model::

    closed ──(failure_threshold consecutive failures, or a failure rate >= failure_rate_threshold
    │         over the last window_s once at least min_requests were seen)──> open (cooldown = cooldown_s)
    open ──(cooldown over; the next check() admits ONE trial request)──> half_open
    half_open ──(trial succeeds)──> closed: counters and window cleared, cooldown back to cooldown_s
    half_open ──(trial fails)──> open again, cooldown *= cooldown_multiplier, capped at max_cooldown_s
    half_open ──(release_trial(), a non-counting error, or no outcome within trial_timeout_s)──> another trial allowed

While a trial is in flight every other check is refused. Outcomes are not tied to requests: in half-open the next
recorded outcome is taken as the trial's. An outcome recorded while open (a request sent before the breaker opened)
enters the window but neither closes the breaker nor grows the cooldown. :meth:`ModelHealth.state` reports an open
breaker whose cooldown is over as ``half_open``, since the next check admits a trial.

Which failures count: only those that say something about the model's health, i.e. a :class:`ProviderError` with
``retryable=True`` (5xx, timeouts, connection errors), or ``error=None``. A 4xx (``BadRequestError``,
``AuthenticationError``, ``ModelNotFoundError``) is the caller's or the configuration's fault: the model answered, and
opening the breaker would only hide the bug behind "unhealthy". A 429 (``RateLimitError``) means the model is up but
throttled; the rate limiter's hold-off (``retry_after_s``) handles it, and counting it here would stack a second,
longer penalty on a healthy model. Anything else (``InvalidResponseError``, programming errors, cancellation) is
ignored too.

Memory per model is bounded: the window is a deque of at most ``_BUCKETS`` counters of ``window_s / _BUCKETS`` seconds
each, trimmed on every record, so the rate covers the last ``window_s`` at that resolution whatever the request rate.

:class:`ProxyHealthMonitor` optionally polls a probe of the proxy itself in the background. Use a free probe such
as ``LiteLLMProvider.health_check`` (``/health/liveliness`` and ``/health/readiness``). An active per-model check
through the proxy's ``GET /health?model=...`` makes real, paid calls to the upstream model, so it is off by default
and belongs to the provider, not to this module. Nothing here is thread-safe: use one event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from app.errors import ConfigurationError, ProviderError, RateLimitError

__all__ = ["HealthPolicy", "HealthState", "ModelHealth", "ProxyHealthMonitor", "counts_as_failure"]

logger = logging.getLogger(__name__)

HealthState = Literal["closed", "open", "half_open"]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_BUCKETS = 10


@dataclass(frozen=True)
class HealthPolicy:
    """When a model's breaker opens and how long it stays open.

    Attributes:
        failure_threshold: consecutive counted failures that open the breaker (LiteLLM: 3 failures, 5 s cooldown).
        failure_rate_threshold: a failure rate at or above this over the window also opens it ...
        min_requests: ... once at least this many outcomes were recorded in the window.
        window_s: length of the failure-rate window, seconds.
        cooldown_s: first cooldown, and the one restored when a trial succeeds, seconds.
        cooldown_multiplier: factor applied to the cooldown each time a trial fails.
        max_cooldown_s: upper bound of the cooldown, seconds.
        trial_timeout_s: a half-open trial with no outcome after this long is presumed lost; another is admitted.
    """

    failure_threshold: int = 3
    failure_rate_threshold: float = 0.5
    min_requests: int = 10
    window_s: float = 60.0
    cooldown_s: float = 5.0
    cooldown_multiplier: float = 2.0
    max_cooldown_s: float = 300.0
    trial_timeout_s: float = 120.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.min_requests < 1:
            raise ConfigurationError("failure_threshold and min_requests must be at least 1")
        if not 0.0 < self.failure_rate_threshold <= 1.0:
            raise ConfigurationError("failure_rate_threshold must be in (0, 1]")
        if self.window_s <= 0 or self.trial_timeout_s <= 0:
            raise ConfigurationError("window_s and trial_timeout_s must be positive")
        if self.cooldown_s < 0 or self.cooldown_multiplier < 1 or self.max_cooldown_s < self.cooldown_s:
            raise ConfigurationError("need cooldown_s >= 0, cooldown_multiplier >= 1, max_cooldown_s >= cooldown_s")


_DEFAULT_POLICY = HealthPolicy()


def counts_as_failure(error: BaseException | None) -> bool:
    """Whether an outcome says the model is unhealthy: ``None``, or a retryable provider error that is not a 429."""
    if not isinstance(error, ProviderError):
        return error is None
    return error.retryable and not isinstance(error, RateLimitError) and error.status_code != 429


@dataclass(slots=True)
class _Model:
    cooldown_s: float
    state: HealthState = "closed"
    consecutive: int = 0
    requests: int = 0  # totals over ``buckets``
    failures: int = 0
    buckets: deque[list[int]] = field(default_factory=deque)  # [bucket index, requests, failures]
    open_until: float = 0.0
    opened_count: int = 0
    cause: str = ""
    trial_since: float | None = None  # when the in-flight trial was admitted


class ModelHealth:
    """Circuit breakers of all models of one provider (see the module docstring for the state machine)."""

    def __init__(
        self,
        policy: HealthPolicy = _DEFAULT_POLICY,
        *,
        clock: Clock = time.monotonic,
        on_change: Callable[[str, HealthState, float], None] | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._on_change = on_change  # (model, new state, cooldown_s), called on every transition
        self._not_closed: set[str] = set()
        self._width = policy.window_s / _BUCKETS
        self._models: dict[str, _Model] = {}

    def peek(self, model: str) -> str | None:
        """Like :meth:`check`, but changes nothing: a router asks this of every candidate, and only the model it
        sends to takes the half-open trial (through :meth:`check`)."""
        m = self._models.get(model)
        if m is None or m.state == "closed":
            return None
        return self._refusal(m, self._clock())

    def check(self, model: str) -> str | None:
        """``None`` if ``model`` may take a request now, else why not. Admits the single half-open trial."""
        m = self._models.get(model)
        if m is None or m.state == "closed":
            return None
        now = self._clock()
        refusal = self._refusal(m, now)
        if refusal is None:  # cooldown over, no trial in flight: this caller takes the trial
            if m.state != "half_open":
                m.state = "half_open"
                self._changed(model, m)
            m.trial_since = now
        return refusal

    def _changed(self, model: str, m: _Model) -> None:
        if m.state == "closed":
            self._not_closed.discard(model)
        else:
            self._not_closed.add(model)
        if self._on_change is not None:
            self._on_change(model, m.state, m.cooldown_s)

    def _refusal(self, m: _Model, now: float) -> str | None:
        """Why an open or half-open model cannot take a request at ``now``, or ``None`` if it can (as the trial)."""
        if m.state == "open":
            remaining = m.open_until - now
            return f"cooling down after {m.cause}, {remaining:.1f} s left" if remaining > 0 else None
        if m.trial_since is not None and now - m.trial_since < self.policy.trial_timeout_s:
            return "half-open: a trial request is in flight"
        return None

    def unhealthy_models(self) -> dict[str, str]:
        """Like :meth:`peek` for every model at once: ``{model: why}`` of the models that can't take a request now
        (cost proportional to the models whose breaker is not closed)."""
        now = self._clock()
        refused = {}
        for model in self._not_closed:
            why = self._refusal(self._models[model], now)
            if why is not None:
                refused[model] = why
        return refused

    def record_success(self, model: str) -> None:
        """A request to ``model`` succeeded: resets the failure streak; a successful trial closes the breaker."""
        m = self._model(model)
        now = self._clock()
        if m.state == "half_open":
            self._close(m)
            self._changed(model, m)
            return
        m.consecutive = 0
        self._add(m, now, failed=False)

    def record_failure(self, model: str, error: BaseException | None = None) -> None:
        """A request to ``model`` failed with ``error``; only failures that :func:`counts_as_failure` count."""
        if not counts_as_failure(error):
            self.release_trial(model)  # a trial that got a 4xx or a 429 says nothing: let another one through
            return
        m = self._model(model)
        now = self._clock()
        self._add(m, now, failed=True)
        m.consecutive += 1
        last = f" (last: {type(error).__name__})" if error is not None else ""
        if m.state == "half_open":
            m.cooldown_s = min(m.cooldown_s * self.policy.cooldown_multiplier, self.policy.max_cooldown_s)
            self._open(m, now, f"a failed trial request{last}")
            self._changed(model, m)
        elif m.state == "closed":
            p = self.policy
            if m.consecutive >= p.failure_threshold:
                self._open(m, now, f"{m.consecutive} consecutive failures{last}")
                self._changed(model, m)
            elif m.requests >= p.min_requests and (rate := m.failures / m.requests) >= p.failure_rate_threshold:
                cause = f"{m.failures} failures in {m.requests} requests ({rate:.0%}) in {p.window_s:g} s{last}"
                self._open(m, now, cause)
                self._changed(model, m)

    def release_trial(self, model: str) -> None:
        """The admitted trial was not sent after all: the next check may admit another."""
        m = self._models.get(model)
        if m is not None:
            m.trial_since = None

    def state(self, model: str) -> HealthState:
        """``closed``, ``open``, or ``half_open`` (also once an open breaker's cooldown is over)."""
        m = self._models.get(model)
        if m is None:
            return "closed"
        if m.state == "open" and m.open_until <= self._clock():
            return "half_open"
        return m.state

    def healthy(self, model: str) -> bool:
        """Whether the breaker of ``model`` is closed."""
        return self.state(model) == "closed"

    def snapshot(self, model: str) -> dict[str, object]:
        """The health of ``model`` for model info and metrics."""
        m = self._models.get(model)
        if m is None:
            m = _Model(cooldown_s=self.policy.cooldown_s)
        else:
            self._trim(m, self._clock())
        return {
            "state": self.state(model),
            "consecutive_failures": m.consecutive,
            "failure_rate": m.failures / m.requests if m.requests else 0.0,
            "requests_in_window": m.requests,
            "cooldown_s": m.cooldown_s,
            "cooldown_remaining_s": max(0.0, m.open_until - self._clock()) if m.state == "open" else 0.0,
            "opened_count": m.opened_count,
            "trial_in_flight": m.trial_since is not None,
            "reason": m.cause if m.state != "closed" else None,
        }

    def _model(self, model: str) -> _Model:
        m = self._models.get(model)
        if m is None:
            m = self._models[model] = _Model(cooldown_s=self.policy.cooldown_s)
        return m

    def _open(self, m: _Model, now: float, cause: str) -> None:
        m.state = "open"
        m.open_until = now + m.cooldown_s
        m.opened_count += 1
        m.cause = cause
        m.trial_since = None

    def _close(self, m: _Model) -> None:
        m.state = "closed"
        m.consecutive = m.requests = m.failures = 0
        m.buckets.clear()
        m.cooldown_s = self.policy.cooldown_s
        m.cause = ""
        m.trial_since = None

    def _add(self, m: _Model, now: float, *, failed: bool) -> None:
        self._trim(m, now)
        index = int(now // self._width)
        if m.buckets and m.buckets[-1][0] >= index:  # same bucket (or a clock that went back)
            bucket = m.buckets[-1]
        else:
            bucket = [index, 0, 0]
            m.buckets.append(bucket)
        bucket[1] += 1
        m.requests += 1
        if failed:
            bucket[2] += 1
            m.failures += 1

    def _trim(self, m: _Model, now: float) -> None:
        oldest = int(now // self._width) - _BUCKETS + 1
        buckets = m.buckets
        while buckets and buckets[0][0] < oldest:
            _, requests, failures = buckets.popleft()
            m.requests -= requests
            m.failures -= failures


class ProxyHealthMonitor:
    """Polls ``probe`` every ``interval_s`` in a background task; the last answer is in :attr:`healthy`.

    Attributes:
        healthy: the last probe's answer, ``None`` before the first check.
        last_checked: the clock's time of the last check, or ``None``.
        consecutive_failures: unhealthy answers in a row.
    """

    def __init__(
        self,
        probe: Callable[[], Awaitable[bool]],
        *,
        interval_s: float = 30.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if interval_s <= 0:
            raise ConfigurationError("interval_s must be positive")
        self._probe = probe
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self.healthy: bool | None = None
        self.last_checked: float | None = None
        self.consecutive_failures = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """Whether the background task is running."""
        return self._task is not None and not self._task.done()

    async def check_now(self) -> bool:
        """Run the probe once and record the answer; a probe that raises counts as unhealthy."""
        try:
            ok = bool(await self._probe())
        except Exception as exc:
            logger.warning("proxy health probe failed: %s: %s", type(exc).__name__, exc)
            ok = False
        self.healthy = ok
        self.last_checked = self._clock()
        self.consecutive_failures = 0 if ok else self.consecutive_failures + 1
        return ok

    def start(self) -> None:
        """Start the background task (no-op if running). Raises ``RuntimeError`` outside a running event loop."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="costmux-proxy-health")

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end; no-op if it is not running."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # stop() itself was cancelled
        except Exception:
            logger.exception("proxy health monitor ended with an error")

    async def _run(self) -> None:
        while True:
            await self.check_now()
            await self._sleep(self.interval_s)

    async def __aenter__(self) -> ProxyHealthMonitor:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
