"""``Coalescer``: concurrent calls of one kind gathered into one store call per event-loop turn.

Under load, many requests reserve and settle at the same moment; each Redis round trip costs ~0.1 ms of the
client's CPU whatever it carries, so the calls made while one batch is on the wire go together in the next one
(at most ``max_batch``). A lone call goes at once (the first of a quiet loop waits one turn of the loop at most).
Each call keeps its own result or exception; a failing batch fails each of its calls with the batch's error.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["Coalescer"]

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Runs ``flush(items)`` (one result per item, in order) for the items submitted while the previous batch ran.

    Args:
        flush: the store call for a batch.
        max_batch: the most items one batch carries.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]], *, max_batch: int = 64) -> None:
        self._flush = flush
        self.max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._running = 0
        self._max_running = 4  # batches on the wire at once: later items wait for one of them
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """The result of ``item`` in its batch (``asyncio.shield`` it: a batch is never cancelled half-way)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((item, future))
        if self._running < self._max_running:
            self._start(loop)
        return await future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self._queue:
            return
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        self._running += 1
        task = loop.create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        await asyncio.sleep(0)  # one loop turn: the calls made meanwhile join this batch
        while self._queue and len(batch) < self.max_batch:
            batch.append(self._queue.pop(0))
        try:
            results = await self._flush([item for item, _ in batch])
        except BaseException as exc:  # every call of the batch fails with it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        finally:
            self._running -= 1
            if self._queue:
                self._start(asyncio.get_running_loop())
