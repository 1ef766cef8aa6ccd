"""``Coalescer``: concurrent calls of one kind gathered into one store call.

Under load, many requests reserve and settle at the same moment; each Redis round trip costs ~0.1 ms of the
client's CPU whatever it carries, so the calls made while batches are on the wire go together in the next one (at
most ``max_batch`` items, at most ``max_running`` batches on the wire at once). :meth:`Coalescer.enqueue` returns a
plain future: no task per call. A batch starts as a task that takes its items when it first runs, so the calls
made in the same turn of the event loop as the first one go with it (a lone call waits that one turn, nothing
more).

Each item is sent once its batch starts, whatever its caller does meanwhile, and keeps its own result or
exception; a failing batch fails each of its items with the batch's error, once. A caller that gives up (its task
is cancelled, a timeout) cancels its future: the item is still sent, and ``on_orphan(item, result, error)`` is
called with its outcome, so that the store can undo or complete what the caller no longer sees (give a reservation
back, retry a failed settlement): nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

logger = logging.getLogger("costmux.stores")

T = TypeVar("T")
R = TypeVar("R")

OrphanHandler = Callable[[T, R | None, BaseException | None], None]


class Coalescer(Generic[T, R]):
    """Runs ``flush(items)`` (one result per item, in order) for the items enqueued while earlier batches ran.

    Args:
        flush: the store call for a batch.
        max_batch: the most items one batch carries.
        max_running: the most batches on the wire at once; later items wait in the queue (and go together).
        on_orphan: called with ``(item, result, None)`` or ``(item, None, error)`` for each item whose caller gave
            up before its batch answered (its future was cancelled). It must not raise.
    """

    def __init__(
        self,
        flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        *,
        max_batch: int = 64,
        max_running: int = 4,
        on_orphan: OrphanHandler[T, R] | None = None,
    ) -> None:
        if max_batch < 1 or max_running < 1:
            raise ValueError("max_batch and max_running must be at least 1")
        self._flush = flush
        self.max_batch = max_batch
        self.max_running = max_running
        self._on_orphan = on_orphan
        self._queue: deque[tuple[T, asyncio.Future[R]]] = deque()
        self._running = 0  # batches started (their task created) and not finished
        self._starting = False  # a batch's task is created but has not taken its items yet
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """Batches on the wire (or about to be) now."""
        return self._running

    def enqueue(self, item: T) -> asyncio.Future[R]:
        """Queue ``item``; the future gets its result (or its batch's error). Cancelling the future gives up on it,
        not on the item (see the module doc)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        self._maybe_start(loop)
        return future

    async def submit(self, item: T) -> R:
        """``await enqueue(item)``."""
        return await self.enqueue(item)

    async def drain(self) -> None:
        """Wait until every item queued so far has been sent and answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _maybe_start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._queue and not self._starting and self._running < self.max_running:
            self._starting = True
            self._running += 1
            task = loop.create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self) -> None:
        self._starting = False
        batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
        loop = asyncio.get_running_loop()
        self._maybe_start(loop)  # more than a batch waiting: the next one goes on the wire too, up to max_running
        try:
            if batch:
                await self._send(batch)
        finally:
            self._running -= 1
            self._maybe_start(loop)

    async def _send(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} items got {len(results)} results")
        except asyncio.CancelledError:  # the batch's task itself (shutdown): its callers are cancelled with it
            for item, future in batch:
                if future.cancelled():
                    self._orphan(item, None, asyncio.CancelledError())
                else:
                    future.cancel()
            raise
        except BaseException as exc:  # every item of the batch fails with it, once
            for item, future in batch:
                if future.cancelled():
                    self._orphan(item, None, exc)
                elif not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (item, future), result in zip(batch, results, strict=True):
                if future.cancelled():
                    self._orphan(item, result, None)
                elif not future.done():
                    future.set_result(result)

    def _orphan(self, item: T, result: R | None, error: BaseException | None) -> None:
        if self._on_orphan is None:
            return
        try:
            self._on_orphan(item, result, error)
        except Exception:  # a bug in the handler must not lose the rest of the batch
            logger.exception("handling a store call whose caller had gone failed")
