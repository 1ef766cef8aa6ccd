"""``SharedGuard``: :class:`~app.providers.guard.ModelGuard`'s rate limits, hold-offs and circuit breakers kept in a
:class:`~app.providers.guard_store.GuardStore` that every replica shares (Redis).

* Admission is one atomic store call (breaker, hold-off, both buckets): exact across replicas. A wait is slept on
  the guard's ``sleep`` and asked again, as the in-process limiter does. A model with no rpm/tpm limit whose breaker
  the mirror shows closed and that no hold-off holds is admitted without asking the store (there is nothing to
  take); its successes are reported in one batch per model every ``batch_s`` (0.25 s), its failures at once.
* Settlement (token corrections, the proxy's remaining headers, 429 hold-offs, breaker outcomes) runs in background
  tasks: the caller never waits for it, and :meth:`SharedGuard.aclose` finishes them.
* Routers ask which models are unavailable synchronously, without I/O: they read a local mirror of the shared state,
  refreshed from the store at most every ``sync_interval_s`` (in the background) and by every admission's answer. A
  model the mirror still shows as available but the store refuses is refused before sending (the router falls back).
* The store unreachable: rate limits and health fall back to the process's own state (the guard's in-process
  limiter and breakers) for ``retry_after_s``, then the store is tried again (recovery is automatic); every failure
  is logged and reported as a :class:`~app.events.StoreFailed` event (counted by the metrics); the mirror, the
  background work and the degraded mode are :class:`~app.stores.link.StoreLink`'s.

Clock: wall time by default (replicas must agree on it, like the budgets').
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from app.errors import ProviderError, ProviderUnavailableError, RateLimitError, StoreUnavailableError
from app.events import HealthChanged, RateLimitWaited, StoreFailed
from app.models import Usage
from app.providers.guard_store import BreakerView, BucketSpec, GuardStore, Outcome
from app.providers.health import HealthState, counts_as_failure
from app.providers.ratelimit import Reservation, _parse_count
from app.stores.link import StoreLink

if TYPE_CHECKING:
    from app.providers.guard import Admission, ModelGuard

__all__ = ["SharedGuard"]

logger = logging.getLogger("costmux.providers")

_HEADERS = ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens")


class SharedGuard:
    """The shared mode of one provider's :class:`~app.providers.guard.ModelGuard` (see the module doc).

    Args:
        guard: the guard (its limits, breaker policy, events, ``sleep``, and its in-process state for fallback).
        store: the shared store.
        clock: wall-clock seconds (shared with the other replicas).
        sync_interval_s: how stale the local mirror of other replicas' hold-offs and breakers may get, seconds.
        retry_after_s: after a store failure, how long the local state is used before the store is tried again.
    """

    def __init__(
        self,
        guard: ModelGuard,
        store: GuardStore,
        *,
        clock: Callable[[], float] = time.time,
        sync_interval_s: float = 1.0,
        retry_after_s: float = 1.0,
        batch_s: float = 0.25,
    ) -> None:
        self._guard = guard
        self.store = store
        self._clock = clock
        self.batch_s = batch_s
        self._successes: dict[str, int] = {}  # model -> successes not yet reported
        self._holds: dict[str, float] = {}
        self._breakers: dict[str, BreakerView] = {}
        self._waits: dict[str, float] = {}  # model -> when the store said its buckets fit again
        self._link = StoreLink(
            f"rate limits and health of {guard.provider}",
            clock=clock,
            sync_interval_s=sync_interval_s,
            retry_after_s=retry_after_s,
            on_failure=self._report_failure,
            logger=logger,
        )

    # -- state of the store ----------------------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """Whether the local state stands in for the store now (after a failure, for ``retry_after_s``)."""
        return self._link.degraded

    def _report_failure(self, exc: StoreUnavailableError) -> None:
        guard = self._guard
        if guard.events.active:
            guard.events.emit(StoreFailed(exc.store, exc.operation, fallback=True, provider=guard.provider))

    async def drain(self) -> None:
        """Wait for the background settlements and syncs."""
        await self._link.drain()

    # -- the mirror (sync views for routers) -------------------------------------------------------------------------

    def unavailable(self, limited_models: Iterable[str], tokens: int) -> dict[str, tuple[str, str]]:
        """Like :meth:`ModelGuard.unavailable`, from the mirror of the shared state (the local state when degraded)."""
        self._maybe_sync()
        if self.degraded:
            return self._guard._local_unavailable(limited_models, tokens)
        now = self._clock()
        refused = {}
        for model, view in self._breakers.items():
            why = self._refusal(view, now)
            if why is not None:
                refused[model] = ("unhealthy", why)
        for source in (self._holds, self._waits):
            for model, until in source.items():
                if until > now and model not in refused:
                    refused[model] = ("rate_limited", f"free in {until - now:.1f} s")
        return refused

    def availability(self, model: str, tokens: int) -> tuple[str, str] | None:
        return self.unavailable((model,), tokens).get(model)

    def _clear(self, model: str) -> bool:
        """Whether the mirror knows nothing against ``model``: its breaker closed, no hold-off running."""
        if model in self._breakers:
            return False
        until = self._holds.get(model)
        return until is None or until <= self._clock()

    def _refusal(self, view: BreakerView, now: float) -> str | None:
        if view.state == "open" and view.open_until > now:
            return f"cooling down after {view.cause}, {view.open_until - now:.1f} s left"
        timeout = self._guard.health.policy.trial_timeout_s
        if view.state == "half_open" and view.trial_since is not None and now - view.trial_since < timeout:
            return "half-open: a trial request is in flight"
        return None

    def _maybe_sync(self) -> None:
        self._link.maybe_sync(self.sync)

    async def sync(self) -> None:
        """Read the shared hold-offs and breakers into the mirror; report breaker changes other replicas made."""
        try:
            snapshot = await self.store.snapshot(now=self._clock())
        except StoreUnavailableError as exc:
            self._link.failed(exc)
            return
        finally:
            self._link.synced()
        self._link.recovered()
        before = self._breakers
        self._holds = snapshot.holds
        self._breakers = snapshot.breakers
        for model, view in snapshot.breakers.items():
            old = before.get(model)
            if old is None or old.state != view.state:
                self._observed(model, view.state, view.cooldown_s)
        for model in before.keys() - snapshot.breakers.keys():
            self._observed(model, "closed", self._guard.health.policy.cooldown_s)

    def _observed(self, model: str, state: HealthState, cooldown_s: float) -> None:
        guard = self._guard
        if guard.events.active:
            guard.events.emit(HealthChanged(guard.provider, model, state, cooldown_s, observed=True))

    def _changed(self, model: str, state: HealthState, cooldown_s: float) -> None:
        """A change this replica made: the mirror and the events learn it at once."""
        now = self._clock()
        if state == "closed":
            self._breakers.pop(model, None)
        else:
            until = now + cooldown_s if state == "open" else now
            trial = now if state == "half_open" else None
            self._breakers[model] = BreakerView(state, until, trial, "", cooldown_s)
        guard = self._guard
        if guard.events.active:
            guard.events.emit(HealthChanged(guard.provider, model, state, cooldown_s))

    # -- admission -----------------------------------------------------------------------------------------------------

    def _specs(self, model: str, tokens: int) -> list[BucketSpec]:
        limits = self._guard.limiter.limits_of(model)
        if limits is None:
            return []
        specs = []
        if limits.requests_per_minute:
            specs.append(BucketSpec("rpm", 1, float(limits.requests_per_minute)))
        if limits.tokens_per_minute:
            specs.append(BucketSpec("tpm", tokens, float(limits.tokens_per_minute)))
        return specs

    async def admit(
        self, model: str, tokens: int | Callable[[], int], *, provider: str, timeout_s: float | None
    ) -> Admission | None:
        """Admit one call through the store; ``None`` when the store failed (the caller uses the local state).

        Raises:
            ProviderUnavailableError: the model's shared breaker is open (or its trial is taken).
            RateLimitError: the shared limits need a longer wait than ``timeout_s``, or can never fit.
        """
        guard = self._guard
        counted = tokens if isinstance(tokens, int) else (tokens() if guard.limiter.counts_tokens(model) else 0)
        specs = self._specs(model, counted)
        if not specs and self._clear(model):
            self._maybe_sync()
            return _shared_admission(guard, self, model, counted, specs, batched=True)
        started = self._clock()
        deadline = None if timeout_s is None else started + max(0.0, timeout_s)
        while True:
            now = self._clock()
            try:
                result = await self.store.admit(model, specs, now=now, policy=guard.health.policy)
            except StoreUnavailableError as exc:
                self._link.failed(exc)
                return None
            self._link.recovered()
            self._maybe_sync()
            if result.outcome == "ok":
                self._waits.pop(model, None)
                if result.trial:
                    self._changed(model, "half_open", guard.health.policy.cooldown_s)
                waited_s = self._clock() - started
                if waited_s > 0 and guard.events.active:
                    guard.events.emit(RateLimitWaited(provider, model, waited_s))
                return _shared_admission(guard, self, model, counted, specs, batched=False)
            if result.outcome == "unhealthy":
                raise ProviderUnavailableError(
                    f"model {model!r} is unavailable: {result.detail}",
                    provider=provider,
                    model=model,
                    retryable=True,
                    request_sent=False,
                )
            wait = result.seconds
            if result.outcome == "held":
                self._holds[model] = now + wait
            elif math.isfinite(wait):
                self._waits[model] = now + wait
            if math.isinf(wait):
                raise RateLimitError(
                    f"request of {counted} tokens is larger than the per-minute token limit of {model!r}",
                    retry_after_s=None,
                    model=model,
                    retryable=False,
                    request_sent=False,
                )
            if deadline is not None and wait > deadline - now:
                raise RateLimitError(
                    f"shared rate limit of {model!r}: {wait:.3g}s wait needed, longer than timeout {timeout_s}s",
                    retry_after_s=wait,
                    model=model,
                    request_sent=False,
                )
            await guard.sleep(wait)

    # -- settlement (background) -------------------------------------------------------------------------------------

    def settle(self, model: str, work: list[tuple[str, Any]]) -> None:
        """Apply ``work`` (``(operation, argument)`` pairs) to the store in a background task, in order."""
        self._link.spawn(self._settle(model, work))

    def succeeded_batched(self, model: str) -> None:
        """Count one success of ``model``, reported with the others of the next ``batch_s``."""
        pending = self._successes.get(model, 0)
        self._successes[model] = pending + 1
        if not pending:
            self._link.spawn(self._flush(model))

    async def _flush(self, model: str) -> None:
        await asyncio.sleep(self.batch_s)
        count = self._successes.pop(model, 0)
        if count:
            await self._settle(model, [("success", "")], count=count)

    async def _settle(self, model: str, work: list[tuple[str, Any]], *, count: int = 1) -> None:
        guard = self._guard
        policy = guard.health.policy
        for operation, argument in work:
            try:
                now = self._clock()
                if operation in ("give", "charge", "clamp"):
                    await self.store.adjust(model, operation, argument, now=now)  # type: ignore[arg-type]
                elif operation == "hold":
                    until = await self.store.hold(model, now + argument)
                    self._holds[model] = until
                else:  # success, failure, release
                    outcome: Outcome = operation  # type: ignore[assignment]
                    recorded = await self.store.record(
                        model, outcome, now=now, policy=policy, last=argument, count=count
                    )
                    if recorded.transition is not None:
                        self._changed(model, recorded.transition, recorded.cooldown_s)
            except StoreUnavailableError as exc:
                self._link.failed(exc)
                if operation == "success":
                    guard.health.record_success(model)
                elif operation == "failure":
                    guard.health.record_failure(model)
                elif operation == "hold":
                    guard.limiter.hold(model, argument)

    async def aclose(self) -> None:
        await self.drain()


class _Untracked(Reservation):
    """The in-process limiter's reservation object, unused in shared mode (settlement goes to the store)."""

    def commit(self, actual_tokens: int) -> None:
        self._done = True

    def release(self) -> None:
        self._done = True


def _shared_admission(
    guard: ModelGuard, shared: SharedGuard, model: str, tokens: int, specs: list[BucketSpec], *, batched: bool
) -> Admission:
    from app.providers.guard import Admission

    admission = Admission(guard, model, _Untracked(guard.limiter, model, tokens, None))
    admission.shared = _SharedSettlement(shared, model, tokens, specs, batched)
    return admission


class _SharedSettlement:
    """What an admission admitted through the store gives back or charges when it settles."""

    __slots__ = ("_shared", "batched", "model", "specs", "tokens")

    def __init__(self, shared: SharedGuard, model: str, tokens: int, specs: list[BucketSpec], batched: bool) -> None:
        self._shared = shared
        self.model = model
        self.tokens = tokens
        self.specs = specs
        self.batched = batched  # admitted without the store: its success goes in a batch

    def _tpm(self, amount: float) -> list[BucketSpec]:
        return [BucketSpec(s.name, amount, s.capacity) for s in self.specs if s.name == "tpm"]

    def succeeded(self, usage: Usage | None, headers: Mapping[str, str] | None) -> None:
        if self.batched:
            self._shared.succeeded_batched(self.model)
            return
        work: list[tuple[str, Any]] = []
        actual = usage.total_tokens if usage is not None else self.tokens
        diff = max(0, actual) - self.tokens
        if diff and self._tpm(0):
            work.append(("give" if diff < 0 else "charge", self._tpm(abs(diff))))
        if headers is not None and self.specs:
            lowered = {str(k).lower(): v for k, v in headers.items()}
            clamps = []
            for spec in self.specs:
                remaining = _parse_count(lowered.get(_HEADERS[0] if spec.name == "rpm" else _HEADERS[1]))
                if remaining is not None:
                    clamps.append(BucketSpec(spec.name, remaining, spec.capacity))
            if clamps:
                work.append(("clamp", clamps))
        work.append(("success", ""))
        self._shared.settle(self.model, work)

    def failed(self, error: BaseException, *, generated: bool, hold_s: float | None) -> None:
        work: list[tuple[str, Any]] = []
        answered = isinstance(error, ProviderError) and (error.status_code is not None or not error.request_sent)
        if answered and not generated and self.specs:
            work.append(("give", [BucketSpec(s.name, s.amount, s.capacity) for s in self.specs]))
        if hold_s is not None and math.isfinite(hold_s) and hold_s > 0:
            work.append(("hold", hold_s))
        if isinstance(error, ProviderError) and counts_as_failure(error):
            work.append(("failure", f" (last: {type(error).__name__})"))
        else:
            work.append(("release", ""))
        self._shared.settle(self.model, work)
