"""``GuardStore``: the rate-limit buckets, 429 hold-offs and circuit breakers of one provider's models, as one
asynchronous store that several gateway replicas can share.

:class:`RedisGuardStore` keeps them in Redis (one Lua script per operation, every key under the provider's hash tag,
see :mod:`app.stores.redis_client`), so an rpm/tpm limit is exact across replicas, a 429 holds the model off for all
of them, and a breaker opened by one replica is open for all (one half-open trial in total). :class:`MemoryGuardStore`
is the same store built from the process's own parts (:class:`~app.providers.ratelimit.MemoryBucketStore` and
:class:`~app.providers.health.ModelHealth`): the contract tests run both, which proves the scripts keep the semantics
of ``ratelimit.py`` and ``health.py``. :class:`~app.providers.guard.ModelGuard` uses a store when given one
(``LiteLLMProvider(guard_store=...)``) and its own in-process state otherwise.

Times are seconds on the caller's clock (``now``; wall time when replicas share a store).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.providers.health import HealthPolicy, HealthState, ModelHealth
from app.providers.ratelimit import MemoryBucketStore, _wait_s
from app.stores.redis_client import RedisConnection

__all__ = [
    "AdmitResult",
    "BreakerView",
    "BucketSpec",
    "GuardSnapshot",
    "GuardStore",
    "MemoryGuardStore",
    "Outcome",
    "Recorded",
    "RedisGuardStore",
]

Outcome = Literal["success", "failure", "release"]
Adjustment = Literal["give", "charge", "clamp"]


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """One token bucket of a model: ``name`` (``rpm`` or ``tpm``), the ``amount`` of the operation, its capacity (the
    per-minute limit, which is also the burst); it refills at ``capacity / 60`` per second."""

    name: str
    amount: float
    capacity: float

    @property
    def refill_per_s(self) -> float:
        return self.capacity / 60.0


@dataclass(frozen=True, slots=True)
class AdmitResult:
    """``ok`` (``trial``: this call took the half-open trial), ``unhealthy`` (``detail``: why; ``seconds``: cooldown
    left), ``held`` (a 429 hold-off; ``seconds`` left) or ``wait`` (``seconds`` until the buckets fit; ``inf``:
    never)."""

    outcome: Literal["ok", "unhealthy", "held", "wait"]
    seconds: float = 0.0
    detail: str = ""
    trial: bool = False


@dataclass(frozen=True, slots=True)
class BreakerView:
    """A breaker that is not closed: its state, when its cooldown ends, its trial, why it opened, its cooldown."""

    state: HealthState
    open_until: float
    trial_since: float | None
    cause: str
    cooldown_s: float


@dataclass(frozen=True, slots=True)
class GuardSnapshot:
    """The running hold-offs (``{model: until}``) and the breakers that are not closed."""

    holds: dict[str, float]
    breakers: dict[str, BreakerView]


@dataclass(frozen=True, slots=True)
class Recorded:
    """After an outcome: the breaker's new state when it changed (``transition``), its state, its cooldown."""

    transition: HealthState | None
    state: HealthState
    cooldown_s: float


class GuardStore(Protocol):
    """Shared guard state of one provider's models (see the module doc). Every method is atomic."""

    async def admit(
        self, model: str, buckets: Sequence[BucketSpec], *, now: float, policy: HealthPolicy
    ) -> AdmitResult:
        """The breaker (taking a due half-open trial), the hold-off, then every bucket: take all amounts or none."""
        ...

    async def adjust(
        self, model: str, op: Adjustment, buckets: Sequence[BucketSpec], *, now: float
    ) -> tuple[float, ...]:
        """``give`` back (capped at capacity), ``charge`` (debt allowed) or ``clamp`` (lower to at most the amount);
        returns the levels after."""
        ...

    async def levels(self, model: str, buckets: Sequence[BucketSpec], *, now: float) -> tuple[float, ...]:
        """The buckets' levels at ``now`` (negative: in debt), changing nothing."""
        ...

    async def hold(self, model: str, until: float) -> float:
        """Hold ``model`` off until ``until``, keeping a later deadline; returns the deadline in force."""
        ...

    async def record(
        self, model: str, outcome: Outcome, *, now: float, policy: HealthPolicy, last: str = "", count: int = 1
    ) -> Recorded:
        """A call's outcome in the breaker: ``success``, ``failure`` (one that counts) or ``release`` (the trial said
        nothing). ``last`` is appended to the cause when it opens (`` (last: Kind)``); ``count``: that many
        successes at once (a batch)."""
        ...

    async def snapshot(self, *, now: float) -> GuardSnapshot:
        """The running hold-offs and the breakers that are not closed."""
        ...


def _hold_key(model: str) -> str:
    return f"{model}:hold"


class MemoryGuardStore:
    """:class:`GuardStore` of one process, built from ``MemoryBucketStore`` and ``ModelHealth``."""

    def __init__(self) -> None:
        self._buckets = MemoryBucketStore()
        self._now = 0.0
        self._health: ModelHealth | None = None
        self._models: set[str] = set()

    def _breakers(self, policy: HealthPolicy) -> ModelHealth:
        if self._health is None:
            self._health = ModelHealth(policy, clock=lambda: self._now)
        return self._health

    async def admit(
        self, model: str, buckets: Sequence[BucketSpec], *, now: float, policy: HealthPolicy
    ) -> AdmitResult:
        self._now = now
        health = self._breakers(policy)
        was_closed = health.state(model) == "closed"
        refusal = health.check(model)
        if refusal is not None:
            remaining = float(health.snapshot(model)["cooldown_remaining_s"])  # type: ignore[arg-type]
            return AdmitResult("unhealthy", remaining, refusal)
        held = self._buckets.held_until(_hold_key(model))
        if held is not None and held > now:
            health.release_trial(model)
            return AdmitResult("held", held - now)
        wait = 0.0
        for b in buckets:
            level = self._buckets.level(f"{model}:{b.name}", b.capacity, b.refill_per_s, now)
            wait = max(wait, _wait_s(level, b.amount, b.capacity, b.refill_per_s))
        if wait > 0:
            health.release_trial(model)
            return AdmitResult("wait", wait)
        for b in buckets:
            self._buckets.take(f"{model}:{b.name}", b.amount, b.capacity, b.refill_per_s, now, force=True)
        return AdmitResult("ok", trial=not was_closed)

    async def adjust(
        self, model: str, op: Adjustment, buckets: Sequence[BucketSpec], *, now: float
    ) -> tuple[float, ...]:
        levels = []
        for b in buckets:
            key = f"{model}:{b.name}"
            if op == "give":
                self._buckets.give(key, b.amount, b.capacity, b.refill_per_s, now)
            elif op == "charge":
                self._buckets.take(key, b.amount, b.capacity, b.refill_per_s, now, force=True)
            else:
                level = self._buckets.level(key, b.capacity, b.refill_per_s, now)
                if b.amount < level:
                    self._buckets.take(key, level - b.amount, b.capacity, b.refill_per_s, now, force=True)
            levels.append(self._buckets.level(key, b.capacity, b.refill_per_s, now))
        return tuple(levels)

    async def levels(self, model: str, buckets: Sequence[BucketSpec], *, now: float) -> tuple[float, ...]:
        return tuple(self._buckets.level(f"{model}:{b.name}", b.capacity, b.refill_per_s, now) for b in buckets)

    async def hold(self, model: str, until: float) -> float:
        self._buckets.hold(_hold_key(model), until)
        return self._buckets.held_until(_hold_key(model)) or until

    async def record(
        self, model: str, outcome: Outcome, *, now: float, policy: HealthPolicy, last: str = "", count: int = 1
    ) -> Recorded:
        self._now = now
        health = self._breakers(policy)
        self._models.add(model)
        changes: list[HealthState] = []
        health._on_change = lambda _model, state, _cooldown: changes.append(state)
        try:
            if outcome == "success":
                for _ in range(count):
                    health.record_success(model)
            elif outcome == "failure":
                health.record_failure(model)
            else:
                health.release_trial(model)
        finally:
            health._on_change = None
        view = health.snapshot(model)
        return Recorded(changes[-1] if changes else None, health.state(model), float(view["cooldown_s"]))  # type: ignore[arg-type]

    async def snapshot(self, *, now: float) -> GuardSnapshot:
        self._now = now
        holds = {key.removesuffix(":hold"): until for key, until in self._buckets.active_holds(now).items()}
        breakers: dict[str, BreakerView] = {}
        if self._health is not None:
            for model in self._models:
                view = self._health.snapshot(model)
                if view["state"] != "closed":
                    remaining = float(view["cooldown_remaining_s"])  # type: ignore[arg-type]
                    breakers[model] = BreakerView(
                        view["state"],  # type: ignore[arg-type]
                        now + remaining,
                        now if view["trial_in_flight"] else None,
                        str(view["reason"] or ""),
                        float(view["cooldown_s"]),  # type: ignore[arg-type]
                    )
        return GuardSnapshot(holds, breakers)


def _float(text: object) -> float:
    value = str(text)
    return math.inf if value in ("inf", "+inf") else float(value)


class RedisGuardStore:
    """:class:`GuardStore` in Redis, shared by every replica: all keys of ``provider`` under one hash tag.

    Args:
        connection: the process's :class:`~app.stores.RedisConnection` (closed by whoever created it).
        provider: the provider's name (its models' state is kept apart from other providers').
    """

    _STORE = "rate_limits"

    def __init__(self, connection: RedisConnection, provider: str) -> None:
        self._redis = connection
        self.provider = provider
        tag = f"guard:{provider}"
        self._tag = tag
        self._holds = connection.key(tag, "holds")
        self._not_closed = connection.key(tag, "open")
        self._breaker_prefix = connection.key(tag, "cb", "")

    def _breaker(self, model: str) -> str:
        return self._redis.key(self._tag, "cb", model)

    def _bucket(self, model: str, name: str) -> str:
        return self._redis.key(self._tag, "b", model, name)

    async def admit(
        self, model: str, buckets: Sequence[BucketSpec], *, now: float, policy: HealthPolicy
    ) -> AdmitResult:
        keys = [self._breaker(model), self._holds, self._not_closed, *(self._bucket(model, b.name) for b in buckets)]
        args: list[str | int | float] = [model, repr(now), repr(policy.trial_timeout_s)]
        for b in buckets:
            args += [repr(float(b.amount)), repr(float(b.capacity)), repr(b.refill_per_s)]
        reply = await self._redis.run("guard_admit.lua", keys, args, store=self._STORE, operation="admit")
        outcome, seconds, text = str(reply[0]), _float(reply[1]), str(reply[2])
        if outcome == "ok":
            return AdmitResult("ok", trial=text == "half_open")
        if outcome == "unhealthy":
            return AdmitResult("unhealthy", seconds, text)
        return AdmitResult("held" if outcome == "held" else "wait", seconds)

    async def adjust(
        self, model: str, op: Adjustment, buckets: Sequence[BucketSpec], *, now: float
    ) -> tuple[float, ...]:
        if not buckets:
            return ()
        keys = [self._bucket(model, b.name) for b in buckets]
        args: list[str | int | float] = [op, repr(now)]
        for b in buckets:
            args += [repr(float(b.amount)), repr(float(b.capacity)), repr(b.refill_per_s)]
        reply = await self._redis.run("guard_buckets.lua", keys, args, store=self._STORE, operation=op)
        return tuple(_float(v) for v in reply)

    async def levels(self, model: str, buckets: Sequence[BucketSpec], *, now: float) -> tuple[float, ...]:
        if not buckets:
            return ()
        keys = [self._bucket(model, b.name) for b in buckets]
        args: list[str | int | float] = [repr(now)]
        for b in buckets:
            args += [repr(float(b.capacity)), repr(b.refill_per_s)]
        reply = await self._redis.run("guard_levels.lua", keys, args, store=self._STORE, operation="levels")
        return tuple(_float(v) for v in reply)

    async def hold(self, model: str, until: float) -> float:
        reply = await self._redis.run(
            "guard_hold.lua", [self._holds], [model, repr(until)], store=self._STORE, operation="hold"
        )
        return _float(reply)

    async def record(
        self, model: str, outcome: Outcome, *, now: float, policy: HealthPolicy, last: str = "", count: int = 1
    ) -> Recorded:
        p = policy
        args: list[str | int | float] = [model, repr(now), outcome, last, p.failure_threshold]
        args += [repr(p.failure_rate_threshold), p.min_requests, repr(p.window_s), repr(p.cooldown_s)]
        args += [repr(p.cooldown_multiplier), repr(p.max_cooldown_s), repr(p.trial_timeout_s), count]
        keys = [self._breaker(model), self._not_closed]
        reply = await self._redis.run("guard_record.lua", keys, args, store="health", operation=outcome)
        transition = str(reply[0]) or None
        return Recorded(transition, str(reply[1]), _float(reply[2]))  # type: ignore[arg-type]

    async def snapshot(self, *, now: float) -> GuardSnapshot:
        args = [repr(now), self._breaker_prefix]
        reply = await self._redis.run(
            "guard_snapshot.lua", [self._holds, self._not_closed], args, store=self._STORE, operation="snapshot"
        )
        flat_holds, flat_breakers = reply[0], reply[1]
        holds = {str(flat_holds[i]): _float(flat_holds[i + 1]) for i in range(0, len(flat_holds), 2)}
        breakers: dict[str, BreakerView] = {}
        for i in range(0, len(flat_breakers), 6):
            model, state, open_until, trial_since, cause, cooldown = (str(v) for v in flat_breakers[i : i + 6])
            breakers[model] = BreakerView(
                state,  # type: ignore[arg-type]
                float(open_until or 0),
                float(trial_since) if trial_since else None,
                cause,
                float(cooldown or 0),
            )
        return GuardSnapshot(holds, breakers)
