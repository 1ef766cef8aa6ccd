"""Client-side rate limiting of requests per minute (rpm) and tokens per minute (tpm), per model.

Semantics (token buckets, equivalently GCRA):

* Each limited model has a request bucket of capacity ``rpm`` (the burst), refilled continuously at ``rpm / 60``
  per second, and a token bucket of capacity ``tpm``, refilled at ``tpm / 60`` per second. A bucket starts full. A
  limit of ``rpm=N`` therefore admits exactly N requests in a burst from full (LiteLLM's ``current + 1 >= rpm``
  check admits N-1), then one more every ``60 / N`` seconds.
* A limit that is ``None``, and every model ``limits`` returns ``None`` for (unknown models), is never limited.
* Acquiring takes 1 request and the estimated ``tokens`` atomically, both or neither: the request is taken first and
  given back if the token bucket refuses. The estimate is charged up front; :meth:`Reservation.commit` corrects it
  with the actual usage (refund, or an extra charge that may put the bucket in debt and so delay later requests),
  :meth:`Reservation.release` gives back the request and its tokens when nothing was used. Refunds never raise a
  bucket above its capacity.
* A request of more tokens than ``tpm`` can never be admitted: it waits ``inf`` and :meth:`RateLimiter.acquire`
  raises :class:`~app.errors.RateLimitError` at once, ``retry_after_s=None``, ``retryable=False``.
* :meth:`RateLimiter.hold` (after a 429) holds a model off for every request of the process, whatever its limits;
  a later, longer hold extends it, a shorter one does not shorten it.
* :meth:`RateLimiter.update_from_headers` clamps the local buckets down to the proxy's
  ``x-ratelimit-remaining-requests`` / ``x-ratelimit-remaining-tokens`` (they count other clients too). A remaining
  of 0 empties the bucket, so the next request waits until one request, and enough tokens for it, have refilled.
  Dimensions with no local limit, and garbage values, are ignored: a 429 reaches :meth:`RateLimiter.hold` instead.
* Concurrency: asyncio only, one thread. A waiter computes its wait, sleeps, then tries again (another task may
  have taken the capacity meanwhile). This is fair enough but not FIFO: a small request may overtake a large one.

Why not aiolimiter or limits: aiolimiter's ``AsyncLimiter`` is one in-process leaky bucket on the loop's clock, with
no refund, no debt, no hold-off and no pluggable state; ``limits`` offers window counters with storage backends but
no token refund or forced extra charge, fixed windows allow a double burst at the boundary, and neither accepts an
injected clock. Here the state sits behind :class:`BucketStore` so a Redis version (one Lua script per method) can
replace :class:`MemoryBucketStore` without touching callers; a store shared by processes needs a clock they share
(``clock=time.time``, not the per-process default ``time.monotonic``), since ``now`` and hold deadlines come from it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from app.errors import InvalidRequestError, RateLimitError
from app.providers.model_registry import RateLimits

__all__ = ["BucketStore", "MemoryBucketStore", "RateLimiter", "Reservation"]

Sleep = Callable[[float], Awaitable[None]]

_EPS = 1e-9  # float slack: an amount within this of the level fits


class BucketStore(Protocol):
    """State of the token buckets and hold-offs. Every method is atomic per key; a new bucket starts full."""

    def take(
        self, key: str, amount: float, capacity: float, refill_per_s: float, now: float, *, force: bool = False
    ) -> float:
        """Refill to ``now``; if ``amount`` fits (or ``force``) subtract it and return 0.0, else change nothing and
        return the seconds until it would fit (``math.inf`` if ``amount > capacity``). ``force`` may leave debt."""
        ...

    def give(self, key: str, amount: float, capacity: float, refill_per_s: float, now: float) -> None:
        """Refill to ``now``, then add ``amount`` back, capped at ``capacity``."""
        ...

    def level(self, key: str, capacity: float, refill_per_s: float, now: float) -> float:
        """The amount available at ``now`` (negative when in debt), without taking anything."""
        ...

    def hold(self, key: str, until: float) -> None:
        """Hold off until ``until`` (same clock as ``now``); keeps the later of this and an existing deadline."""
        ...

    def held_until(self, key: str) -> float | None:
        """The hold-off deadline, or ``None``; a deadline in the past may be returned."""
        ...

    def active_holds(self, now: float) -> dict[str, float]:
        """``{key: deadline}`` of the hold-offs still running at ``now`` (routers ask once per request)."""
        ...


def _wait_s(level: float, amount: float, capacity: float, refill_per_s: float) -> float:
    if amount > capacity + _EPS:
        return math.inf
    deficit = amount - level
    return 0.0 if deficit <= _EPS else deficit / refill_per_s


class MemoryBucketStore:
    """In-process :class:`BucketStore`: ``{key: [level, last refill time]}`` and ``{key: hold deadline}``."""

    def __init__(self) -> None:
        self._buckets: dict[str, list[float]] = {}
        self._holds: dict[str, float] = {}

    def _refill(self, key: str, capacity: float, refill_per_s: float, now: float) -> list[float]:
        bucket = self._buckets.setdefault(key, [capacity, now])
        elapsed = max(0.0, now - bucket[1])  # a clock going backwards refills nothing
        bucket[0] = min(capacity, bucket[0] + elapsed * refill_per_s)
        bucket[1] = max(bucket[1], now)
        return bucket

    def take(
        self, key: str, amount: float, capacity: float, refill_per_s: float, now: float, *, force: bool = False
    ) -> float:
        bucket = self._refill(key, capacity, refill_per_s, now)
        wait = 0.0 if force else _wait_s(bucket[0], amount, capacity, refill_per_s)
        if wait == 0.0:
            bucket[0] -= amount
        return wait

    def give(self, key: str, amount: float, capacity: float, refill_per_s: float, now: float) -> None:
        bucket = self._refill(key, capacity, refill_per_s, now)
        bucket[0] = min(capacity, bucket[0] + amount)

    def level(self, key: str, capacity: float, refill_per_s: float, now: float) -> float:
        return self._refill(key, capacity, refill_per_s, now)[0]

    def hold(self, key: str, until: float) -> None:
        self._holds[key] = max(until, self._holds.get(key, -math.inf))

    def held_until(self, key: str) -> float | None:
        return self._holds.get(key)

    def active_holds(self, now: float) -> dict[str, float]:
        if not self._holds:
            return {}
        expired = [key for key, until in self._holds.items() if until <= now]
        for key in expired:  # forget them: the dict stays as small as the models held now
            del self._holds[key]
        return dict(self._holds)


class Reservation:
    """One admitted request: 1 request and ``tokens`` (the estimate) were charged to ``model``'s buckets."""

    def __init__(self, limiter: RateLimiter, model: str, tokens: int, limits: RateLimits | None) -> None:
        self._limiter = limiter
        self._limits = limits
        self._done = False
        self.model = model
        self.tokens = tokens

    @property
    def done(self) -> bool:
        """Whether :meth:`commit` or :meth:`release` was called."""
        return self._done

    def commit(self, actual_tokens: int) -> None:
        """Correct the token charge to ``actual_tokens``: refund the difference, or charge the extra (which may
        leave the bucket in debt). Only the first commit or release counts; later calls are ignored."""
        if self._done:
            return
        self._done = True
        diff = max(0, actual_tokens) - self.tokens
        if diff < 0:
            self._limiter._give(self.model, self._limits, 0, -diff)
        elif diff > 0:
            self._limiter._charge(self.model, self._limits, 0, diff)

    def release(self) -> None:
        """The request failed before using anything: give back the request and its tokens. Ignored after a commit
        or a first release."""
        if self._done:
            return
        self._done = True
        self._limiter._give(self.model, self._limits, 1, self.tokens)


class RateLimiter:
    """Per-model rpm and tpm limits, read from ``limits(model)`` at each call (so registry refreshes apply).

    Args:
        limits: the limits of a model, or ``None`` when unknown (never limited).
        clock: seconds, monotonic (tests inject a fake one).
        sleep: the coroutine used to wait (tests inject one that advances the fake clock).
        store: bucket state; a private :class:`MemoryBucketStore` by default.
        key_prefix: prepended to the store keys ``{model}:rpm``, ``{model}:tpm`` and ``{model}:hold``.
    """

    def __init__(
        self,
        limits: Callable[[str], RateLimits | None],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        store: BucketStore | None = None,
        key_prefix: str = "",
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._store: BucketStore = store if store is not None else MemoryBucketStore()
        self._prefix = key_prefix

    def _buckets(self, model: str, limits: RateLimits | None) -> list[tuple[str, float, int]]:
        """``(key, capacity, index)`` of the limited buckets; index 0 is requests, 1 tokens."""
        if limits is None or (limits.requests_per_minute is None and limits.tokens_per_minute is None):
            return []
        pairs = ((limits.requests_per_minute, "rpm"), (limits.tokens_per_minute, "tpm"))
        return [(f"{self._prefix}{model}:{name}", float(cap), i) for i, (cap, name) in enumerate(pairs) if cap]

    def _give(self, model: str, limits: RateLimits | None, requests: int, tokens: int) -> None:
        now, amounts = self._clock(), (requests, tokens)
        for key, cap, i in self._buckets(model, limits):
            if amounts[i] > 0:
                self._store.give(key, amounts[i], cap, cap / 60.0, now)

    def _charge(self, model: str, limits: RateLimits | None, requests: int, tokens: int) -> None:
        now, amounts = self._clock(), (requests, tokens)
        for key, cap, i in self._buckets(model, limits):
            if amounts[i] > 0:
                self._store.take(key, amounts[i], cap, cap / 60.0, now, force=True)

    def wait_time_s(self, model: str, tokens: int) -> float:
        """Non-blocking peek: 0.0 if a request of ``tokens`` could start now, else the seconds to wait (the longest
        of any hold-off and both buckets); ``math.inf`` when ``tokens`` exceeds the tpm burst."""
        now = self._clock()
        until = self._store.held_until(f"{self._prefix}{model}:hold")
        wait = max(0.0, until - now) if until is not None else 0.0
        limits = self._limits(model)
        if limits is None or (limits.requests_per_minute is None and limits.tokens_per_minute is None):
            return wait  # unlimited: only a hold-off can make it wait (the router asks this for every model)
        for key, cap, i in self._buckets(model, limits):
            level = self._store.level(key, cap, cap / 60.0, now)
            wait = max(wait, _wait_s(level, (1, tokens)[i], cap, cap / 60.0))
        return wait

    def try_acquire(self, model: str, tokens: int) -> Reservation | None:
        """Reserve 1 request and ``tokens`` now, or return ``None`` having charged nothing."""
        _check_tokens(tokens)
        now, limits = self._clock(), self._limits(model)
        until = self._store.held_until(f"{self._prefix}{model}:hold")
        if until is not None and until > now:
            return None
        taken: list[tuple[str, float, float]] = []
        for key, cap, i in self._buckets(model, limits):
            amount = (1, tokens)[i]
            if self._store.take(key, amount, cap, cap / 60.0, now) > 0.0:
                for t_key, t_cap, t_amount in taken:
                    self._store.give(t_key, t_amount, t_cap, t_cap / 60.0, now)
                return None
            taken.append((key, cap, amount))
        return Reservation(self, model, tokens, limits)

    def limits_of(self, model: str) -> RateLimits | None:
        """The rate limits of ``model`` now (``None``: not limited)."""
        return self._limits(model)

    def counts_tokens(self, model: str) -> bool:
        """Whether ``model`` has a tokens-per-minute limit now (only then does a request's token count matter)."""
        limits = self._limits(model)
        return limits is not None and limits.tokens_per_minute is not None

    async def acquire(self, model: str, tokens: int | Callable[[], int], *, timeout_s: float | None) -> Reservation:
        """Reserve 1 request and ``tokens``, waiting up to ``timeout_s`` (``None``: as long as needed, ``0``: not
        at all) for both buckets and any hold-off. ``tokens`` may be a function estimating them: it is called once,
        and only if the model has a tokens-per-minute limit (else the reservation counts 0 tokens).

        Raises:
            RateLimitError: the wait needed exceeds what is left of ``timeout_s`` (raised before sleeping,
                ``retry_after_s`` = that wait), or ``tokens`` exceeds the tpm limit (``retry_after_s=None``).
            InvalidRequestError: ``tokens`` is negative.
        """
        estimate = tokens if isinstance(tokens, int) else None
        if estimate is not None:
            _check_tokens(estimate)
        deadline = None if timeout_s is None else self._clock() + max(0.0, timeout_s)
        while True:
            if estimate is None and not isinstance(tokens, int) and self.counts_tokens(model):
                estimate = tokens()  # a tpm limit applies (perhaps since a refresh during a wait): count now
                _check_tokens(estimate)
            needed = 0 if estimate is None else estimate
            wait = self.wait_time_s(model, needed)
            if wait == 0.0:
                reservation = self.try_acquire(model, needed)
                if reservation is not None:
                    return reservation
                continue
            if math.isinf(wait):
                raise RateLimitError(
                    f"request of {needed} tokens is larger than the per-minute token limit of {model!r}",
                    retry_after_s=None,
                    model=model,
                    retryable=False,
                    request_sent=False,
                )
            if deadline is not None and wait > deadline - self._clock():
                raise RateLimitError(
                    f"client-side rate limit of {model!r}: {wait:.3g}s wait needed, longer than timeout {timeout_s}s",
                    retry_after_s=wait,
                    model=model,
                    request_sent=False,
                )
            await self._sleep(wait)

    def held_models(self) -> list[str]:
        """The models held off now (after a 429)."""
        prefix, suffix = self._prefix, ":hold"
        return [
            key[len(prefix) : -len(suffix)]
            for key in self._store.active_holds(self._clock())
            if key.startswith(prefix) and key.endswith(suffix)
        ]

    def hold(self, model: str, seconds: float) -> None:
        """Hold ``model`` off for ``seconds`` (after a 429); never shortens an existing hold. Non-finite or
        non-positive values are ignored."""
        if math.isfinite(seconds) and seconds > 0:
            self._store.hold(f"{self._prefix}{model}:hold", self._clock() + seconds)

    def update_from_headers(self, model: str, headers: Mapping[str, str]) -> None:
        """Clamp the local buckets down to ``x-ratelimit-remaining-requests`` / ``-tokens`` (see module docs)."""
        buckets = self._buckets(model, self._limits(model))
        if not buckets:
            return  # unlimited: nothing to clamp (and no need to read the headers)
        lowered = {str(k).lower(): v for k, v in headers.items()}
        now = self._clock()
        for key, cap, i in buckets:
            remaining = _parse_count(lowered.get(("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens")[i]))
            if remaining is None:
                continue
            excess = self._store.level(key, cap, cap / 60.0, now) - remaining
            if excess > 0:
                self._store.take(key, excess, cap, cap / 60.0, now, force=True)

    def snapshot(self, model: str) -> dict[str, float | None]:
        """``requests_available`` / ``tokens_available`` now (negative: debt; ``None``: unlimited), ``held_until``
        (seconds from now, ``None`` if not held), ``requests_per_minute`` and ``tokens_per_minute``."""
        now, limits = self._clock(), self._limits(model)
        until = self._store.held_until(f"{self._prefix}{model}:hold")
        result: dict[str, float | None] = {
            "requests_available": None,
            "tokens_available": None,
            "held_until": until - now if until is not None and until > now else None,
            "requests_per_minute": limits.requests_per_minute if limits else None,
            "tokens_per_minute": limits.tokens_per_minute if limits else None,
        }
        for key, cap, i in self._buckets(model, limits):
            result[("requests_available", "tokens_available")[i]] = self._store.level(key, cap, cap / 60.0, now)
        return result


def _check_tokens(tokens: int) -> None:
    if tokens < 0:
        raise InvalidRequestError(f"token estimate must be >= 0, got {tokens}")


def _parse_count(raw: object) -> float | None:
    try:
        value = float(str(raw).strip()) if raw is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
