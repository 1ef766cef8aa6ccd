"""``StoreLink``: one process's link to a shared store whose state it mirrors locally (the shared guard's rate limits
and health, the shared prompt-bound calibration).

What such mirrors have in common, kept here once:

* **background work**: tasks spawned on the running loop (settlements, pushes, syncs), finished by :meth:`drain`;
* **a periodic sync**: :meth:`maybe_sync` starts a sync in the background at most every ``sync_interval_s`` and never
  two at once; without a running loop (a synchronous dry run) the mirror simply stays as it is;
* **degraded mode**: a failed store call makes the process use its own state for ``retry_after_s`` (``degraded``);
  the first failure of an episode is logged, every failure is reported (``on_failure``: a
  :class:`~app.events.StoreFailed` event, counted by the metrics), and the first success after it logs the recovery.

Clock: seconds, the mirror's (injected by tests).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from typing import Any

from app.errors import StoreUnavailableError

__all__ = ["StoreLink"]


class StoreLink:
    """The link to a shared store (see the module doc).

    Args:
        what: what is shared, for the log lines (``"rate limits and health of litellm"``).
        clock: seconds.
        sync_interval_s: the least time between two background syncs (how stale the mirror may get), seconds.
        retry_after_s: after a failure, how long the process uses its own state before the store is tried again.
        on_failure: called with every failure (after it was logged); e.g. emits a ``StoreFailed`` event.
        logger: where the failures and recoveries are logged.
    """

    def __init__(
        self,
        what: str,
        *,
        clock: Callable[[], float],
        sync_interval_s: float = 1.0,
        retry_after_s: float = 1.0,
        on_failure: Callable[[StoreUnavailableError], None] | None = None,
        logger: logging.Logger,
    ) -> None:
        self.what = what
        self.clock = clock
        self.sync_interval_s = sync_interval_s
        self.retry_after_s = retry_after_s
        self.on_failure = on_failure
        self._logger = logger
        self._degraded_until = -math.inf
        self._last_sync = -math.inf
        self._syncing = False
        self._tasks: set[asyncio.Task[None]] = set()

    # -- degraded mode -------------------------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """Whether the local state stands in for the store now (after a failure, for ``retry_after_s``)."""
        return self.clock() < self._degraded_until

    def failed(self, exc: StoreUnavailableError) -> None:
        """A store call failed: log it (once per episode), use the local state for ``retry_after_s``, report it."""
        if not self.degraded:
            self._logger.warning("shared %s unavailable, using this process's own state: %s", exc.store, exc)
        self._degraded_until = self.clock() + self.retry_after_s
        if self.on_failure is not None:
            self.on_failure(exc)

    def recovered(self) -> None:
        """A store call succeeded: the end of a degraded episode is logged."""
        if self._degraded_until != -math.inf:
            self._logger.info("shared %s are back", self.what)
            self._degraded_until = -math.inf

    # -- background work -----------------------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in a background task of the running loop (kept until :meth:`drain` sees it done)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the background tasks (also those they start)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def maybe_sync(self, sync: Callable[[], Coroutine[Any, Any, None]]) -> bool:
        """Start ``sync()`` in the background if the last one is ``sync_interval_s`` old and none runs; returns
        whether it started one. ``sync`` must call :meth:`synced` when it ends (also on failure)."""
        if self._syncing or self.clock() - self._last_sync < self.sync_interval_s:
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False  # no loop (a synchronous dry run): the mirror stays as it is
        self._syncing = True
        self.spawn(sync())
        return True

    def synced(self) -> None:
        """A sync ended (well or not): the next one is due ``sync_interval_s`` from now."""
        self._syncing = False
        self._last_sync = self.clock()
