"""The windows the prompt-bound learner (:mod:`app.tokens.learning`) reads: :class:`BoundStore`, the small interface
of where they live, and :class:`MemoryBoundStore`, the in-process one (also the local mirror of a store shared by
replicas, :class:`~app.stores.bounds.RedisBoundStore`).

A window is kept twice: in arrival order (a FIFO, to know which value leaves when a new one comes) and in ascending
order (:meth:`BoundStore.ranked`), updated as values come and go (``bisect``: a binary search and one ``memmove`` of
at most ``window`` pointers per append), so that a window's nearest-rank quantile or maximum is an index
(:func:`ranked_quantile`) rather than a copy, a sort and a scan on every answered call.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import OrderedDict, deque
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

__all__ = ["BoundStore", "MemoryBoundStore", "high_quantile", "ranked_quantile"]


@runtime_checkable
class BoundStore(Protocol):
    """Bounded windows of recent observations per (model key, series), and revisions to notice changes.

    Async-safe by construction: every method is synchronous and does no blocking I/O, so on an event loop each call
    is atomic. A store shared by replicas (e.g. Redis) keeps a local mirror that these methods read and write, and
    exchanges appended values with its backend in the background; the learner notices remote changes through
    :meth:`revision`.
    """

    def append(self, key: str, series: str, value: float) -> None:
        """Add ``value`` (a number, not NaN) to the window of ``(key, series)`` (dropping the oldest beyond the
        window's size)."""

    def window(self, key: str, series: str) -> Sequence[float]:
        """The window of ``(key, series)``, oldest first (empty when unknown)."""

    def ranked(self, key: str, series: str) -> Sequence[float]:
        """The same values in ascending order (empty when unknown): what quantiles are read from. A read-only view,
        valid until the store's next change (never modified by the caller, never kept)."""

    def revision(self, key: str | None = None) -> int:
        """A number that changes whenever ``key``'s windows change (``None``: any key's)."""

    def models(self) -> list[str]:
        """Every key with observations."""


_EMPTY: tuple[float, ...] = ()


class MemoryBoundStore:
    """The in-process :class:`BoundStore`: ``window`` values per series, at most ``max_keys`` models (the least
    recently updated is forgotten first), so memory stays bounded whatever model names calls use. Each series is a
    FIFO and the same values sorted (module doc)."""

    def __init__(self, *, window: int = 256, max_keys: int = 2_000) -> None:
        if window < 1 or max_keys < 1:
            raise ValueError("window and max_keys must be positive")
        self.window_size = window
        self.max_keys = max_keys
        self._windows: OrderedDict[str, dict[str, tuple[deque[float], list[float]]]] = OrderedDict()
        self._revisions: dict[str, int] = {}
        self._revision = 0

    def append(self, key: str, series: str, value: float) -> None:
        if value != value:  # NaN: it has no rank, and would corrupt the sorted window's order
            raise ValueError(f"a window's value must be a number, not {value!r}")
        windows = self._windows.get(key)
        if windows is None:
            if len(self._windows) >= self.max_keys:
                forgotten, _ = self._windows.popitem(last=False)
                self._revisions.pop(forgotten, None)
            windows = self._windows[key] = {}
        else:
            self._windows.move_to_end(key)
        kept = windows.get(series)
        if kept is None:
            kept = windows[series] = (deque(maxlen=self.window_size), [])
        arrivals, ordered = kept
        if len(arrivals) == self.window_size:  # the oldest value leaves (the deque drops it on append)
            del ordered[bisect_left(ordered, arrivals[0])]
        arrivals.append(value)
        insort(ordered, value)
        self._revision += 1
        self._revisions[key] = self._revision

    def window(self, key: str, series: str) -> Sequence[float]:
        windows = self._windows.get(key)
        kept = None if windows is None else windows.get(series)
        return _EMPTY if kept is None else tuple(kept[0])

    def ranked(self, key: str, series: str) -> Sequence[float]:
        windows = self._windows.get(key)
        kept = None if windows is None else windows.get(series)
        return _EMPTY if kept is None else kept[1]

    def revision(self, key: str | None = None) -> int:
        return self._revision if key is None else self._revisions.get(key, 0)

    def models(self) -> list[str]:
        return list(self._windows)


def ranked_quantile(ordered: Sequence[float], quantile: float) -> float:
    """The nearest-rank ``quantile`` of the ascending ``ordered`` (not empty): its ``ceil(quantile × n)``-th value."""
    n = len(ordered)
    rank = math.ceil(quantile * n)
    return ordered[(rank if rank < n else n) - 1 if rank > 0 else 0]


def high_quantile(values: Sequence[float], quantile: float) -> float:
    """The nearest-rank ``quantile`` of ``values`` (not empty, any order): the ``ceil(quantile × n)``-th smallest."""
    return ranked_quantile(sorted(values), quantile)
