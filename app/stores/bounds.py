"""``RedisBoundStore``: the prompt-bound calibration (:mod:`app.tokens.learning`) shared by every replica through Redis,
so that a replica's bounds widen with what any replica saw billed.

The learner's :class:`~app.tokens.learning.BoundStore` interface is synchronous (it is read on the routing path), so
the store keeps a local mirror (a :class:`~app.tokens.learning.MemoryBoundStore`) that every method reads and writes,
and exchanges it with Redis in the background (:class:`~app.stores.link.StoreLink`, as the shared guard does):

* :meth:`~RedisBoundStore.append` writes the mirror at once and queues the value; the queue is pushed within
  ``batch_s`` (0.25 s), one script call for all that gathered;
* every push, and a sync at most every ``sync_interval_s`` (1 s, started by the learner's reads), reads what the other
  replicas pushed since the last one into the mirror (the learner notices through ``revision``). The values are
  tagged with the revision of the push that added them, so only what is new is read, and a replica never reads its
  own values back;
* in Redis each (model, series) window is a list of the last ``window`` values, appended and trimmed atomically by
  ``lua/bounds_sync.lua``; at most ``max_keys`` models are kept (the least recently pushed is forgotten first), and
  state not written for ``ttl_s`` (30 days) expires;
* Redis unreachable: the mirror keeps working (this replica learns alone), the unsent values wait (at most
  ``max_pending``, the oldest dropped first), the failure is logged and reported as a
  :class:`~app.events.StoreFailed` event (``store="prompt_bounds"``, counted by the metrics); after ``retry_after_s``
  the next sync tries again, and on success pushes what waited (recovery is automatic).

Keys (``P``: the prefix; one hash tag per store name, so every script runs on one Redis Cluster slot)::

    {P:bounds:<name>}:models                  models by the revision of their last push (sorted set)
    {P:bounds:<name>}:rev                     the revision counter (one per push)
    {P:bounds:<name>}:epoch                   a random id of the calibration (a reset one is read again in full)
    {P:bounds:<name>}:s:<model>               the model's series (set)
    {P:bounds:<name>}:w:<model>:<series>      a window: '<revision>:<value>' entries, oldest first (list)
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from app.errors import StoreUnavailableError
from app.events import EventBus, StoreFailed
from app.stores.link import StoreLink
from app.stores.redis_client import RedisConnection, escape_key_part
from app.tokens.learning import MemoryBoundStore

__all__ = ["RedisBoundStore"]

logger = logging.getLogger("costmux.stores")

_STORE = "prompt_bounds"
_MAX_VALUES_PER_CALL = 4_096  # values one script call pushes (a bigger queue goes in several calls)
_MAX_WINDOW = 4_096


def _model_part(model: str) -> str:
    """``model`` inside a key, ``:`` escaped too (a window key is ``...:<model>:<series>``); as ``bounds_sync.lua``."""
    return escape_key_part(model).replace(":", "%3A")


class RedisBoundStore:
    """A :class:`~app.tokens.learning.BoundStore` shared by every replica through Redis (see the module doc).

    Args:
        connection: the process's :class:`~app.stores.RedisConnection` (closed by whoever created it).
        name: whose calibration (the provider's name): replicas of one provider share it.
        window: values kept per (model, series), here and in Redis.
        max_keys: models kept, here and in Redis (the least recently updated is forgotten first).
        ttl_s: state not written for this long expires in Redis, seconds.
        clock: monotonic seconds (for the intervals below).
        sync_interval_s: the most time before this replica reads what others pushed, seconds.
        retry_after_s: after a failure, how long before Redis is tried again, seconds.
        batch_s: how long a new value waits for others before it is pushed, seconds.
        max_pending: values kept for Redis while it is unreachable.
    """

    def __init__(
        self,
        connection: RedisConnection,
        name: str = "litellm",
        *,
        window: int = 256,
        max_keys: int = 256,
        ttl_s: float = 30 * 86_400.0,
        clock: Callable[[], float] = time.monotonic,
        sync_interval_s: float = 1.0,
        retry_after_s: float = 1.0,
        batch_s: float = 0.25,
        max_pending: int = 8_192,
    ) -> None:
        if not 1 <= window <= _MAX_WINDOW or max_keys < 1 or max_pending < 1 or ttl_s <= 0:
            raise ValueError(f"1 <= window <= {_MAX_WINDOW}; max_keys, max_pending and ttl_s must be positive")
        self._redis = connection
        self.name = name
        self.window_size = window
        self.max_keys = max_keys
        self.ttl_s = ttl_s
        self.batch_s = batch_s
        self._mirror = MemoryBoundStore(window=window, max_keys=max_keys)
        self._pending: deque[tuple[str, str, float]] = deque(maxlen=max_pending)
        self._epoch = ""  # the calibration the mirror follows ('' before the first sync)
        self._since = 0  # the revision up to which the mirror holds what the other replicas pushed
        self._lock: asyncio.Lock | None = None
        self._push_due = False
        self._events: EventBus | None = None
        self._provider = ""
        tag = f"bounds:{name}"
        self._keys = (connection.key(tag, "models"), connection.key(tag, "rev"), connection.key(tag, "epoch"))
        self._window_prefix = connection.key(tag, "w") + ":"
        self._series_prefix = connection.key(tag, "s") + ":"
        self._link = StoreLink(
            f"prompt bounds of {name}",
            clock=clock,
            sync_interval_s=sync_interval_s,
            retry_after_s=retry_after_s,
            on_failure=self._report_failure,
            logger=logger,
        )

    def __repr__(self) -> str:
        return f"RedisBoundStore({self._redis.url!r}, name={self.name!r})"

    def bind(self, events: EventBus, provider: str) -> None:
        """Report failures as :class:`~app.events.StoreFailed` events of ``provider`` on ``events``."""
        self._events = events
        self._provider = provider

    def _report_failure(self, exc: StoreUnavailableError) -> None:
        events = self._events
        if events is not None and events.active:
            events.emit(StoreFailed(exc.store, exc.operation, fallback=True, provider=self._provider))

    @property
    def degraded(self) -> bool:
        """Whether Redis failed within ``retry_after_s`` (the mirror learns alone meanwhile)."""
        return self._link.degraded

    @property
    def pending(self) -> int:
        """Values not yet pushed to Redis."""
        return len(self._pending)

    # -- BoundStore (synchronous: the mirror) -----------------------------------------------------------------------

    def append(self, key: str, series: str, value: float) -> None:
        self._mirror.append(key, series, value)
        self._pending.append((key, series, value))
        if not self._push_due and not self._link.degraded:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop: pushed with the next sync
            self._push_due = True
            self._link.spawn(self._push_soon())

    def window(self, key: str, series: str) -> Sequence[float]:
        return self._mirror.window(key, series)

    def ranked(self, key: str, series: str) -> Sequence[float]:
        return self._mirror.ranked(key, series)

    def revision(self, key: str | None = None) -> int:
        if key is None:  # the learner's check for changes, once per read: a sync when one is due
            self._link.maybe_sync(self._periodic_sync)
        return self._mirror.revision(key)

    def models(self) -> list[str]:
        return self._mirror.models()

    # -- the exchange with Redis (background) -----------------------------------------------------------------------

    async def _push_soon(self) -> None:
        try:
            await asyncio.sleep(self.batch_s)  # the values appended meanwhile go in the same call
        finally:
            self._push_due = False
        await self.sync()

    async def _periodic_sync(self) -> None:
        try:
            await self.sync()
        finally:
            self._link.synced()

    async def sync(self) -> None:
        """Push the values waiting for Redis and read into the mirror what the other replicas pushed since the last
        sync. A failure is logged and reported, never raised: the values wait for the next sync."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            batch = list(self._pending)
            self._pending.clear()
            try:
                reply = await self._exchange(batch)
            except StoreUnavailableError as exc:
                self._pending = deque([*batch, *self._pending], maxlen=self._pending.maxlen)
                self._link.failed(exc)
                return
            self._link.recovered()
            self._merge(reply)

    async def _exchange(self, batch: list[tuple[str, str, float]]) -> Any:
        """One script call per ``_MAX_VALUES_PER_CALL`` values; the last one also reads (skipping this sync's own
        pushes)."""
        groups: dict[tuple[str, str], list[float]] = {}
        for model, series, value in batch:
            groups.setdefault((model, series), []).append(value)
        calls: list[list[tuple[str, str, list[float]]]] = [[]]
        size = 0
        for (model, series), values in groups.items():
            values = values[-self.window_size :]  # older ones would be trimmed at once
            if size and size + len(values) > _MAX_VALUES_PER_CALL:
                calls.append([])
                size = 0
            calls[-1].append((model, series, values))
            size += len(values)
        own: list[str] = []
        reply: Any = None
        for i, call in enumerate(calls):
            reply = await self._run(call, own, read=i == len(calls) - 1)
            own.append(str(reply[2]))
        return reply

    async def _run(self, groups: list[tuple[str, str, list[float]]], own: list[str], *, read: bool) -> Any:
        keys = list(self._keys)
        args: list[str | int | float] = [self._epoch, secrets.token_hex(8), self._since, self.window_size]
        args += [self.max_keys, round(self.ttl_s * 1000), self._window_prefix, self._series_prefix]
        args += [",".join(own), "1" if read else "0", len(groups)]
        for model, series, values in groups:
            keys += [f"{self._window_prefix}{_model_part(model)}:{escape_key_part(series)}"]
            keys += [f"{self._series_prefix}{_model_part(model)}"]
            args += [model, series, len(values), *(repr(float(v)) for v in values)]
        return await self._redis.run("bounds_sync.lua", keys, args, store=_STORE, operation="sync")

    def _merge(self, reply: Any) -> None:
        epoch, revision, _own, changes = reply
        for i in range(0, len(changes), 3):
            model, series, entries = str(changes[i]), str(changes[i + 1]), changes[i + 2]
            for entry in reversed(entries):  # oldest first
                value = float(str(entry).split(":", 1)[1])
                if value == value:  # a NaN (no replica pushes one) has no place in a ranked window
                    self._mirror.append(model, series, value)
        self._epoch = str(epoch)
        self._since = int(revision)

    async def aclose(self) -> None:
        """Push what waits (unless Redis is known down) and finish the background work; the connection stays open."""
        await self._link.drain()
        if self._pending and not self._link.degraded:
            await self.sync()
        await self._link.drain()
