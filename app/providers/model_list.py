"""``ModelList``: the model names a proxy serves, with when they were fetched and whether they are stale."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ModelList"]


class ModelList(list[str]):
    """A list of model names (iterate, index and ``len`` as usual).

    Attributes:
        fetched_at: the provider clock's reading (seconds, monotonic) when the list was fetched.
        stale: true when the proxy could not be reached and this is the last good list.
    """

    def __init__(self, names: Iterable[str], *, fetched_at: float, stale: bool = False) -> None:
        super().__init__(names)
        self.fetched_at = fetched_at
        self.stale = stale

    def as_stale(self) -> ModelList:
        """A copy flagged stale."""
        return ModelList(self, fetched_at=self.fetched_at, stale=True)
