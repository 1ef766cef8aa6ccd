"""``ModelList``: the models a proxy serves (its ``/v1/models`` objects), with when they were fetched and whether
they are stale."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ModelList"]


class ModelList(list[dict[str, Any]]):
    """The proxy's model objects, as ``GET /v1/models`` lists them: dicts with ``id``, ``object``, ``created``,
    ``owned_by`` and whatever else the proxy adds (iterate, index and ``len`` as usual)::

        available_models = await provider.get_available_models()
        print(f"Available models: {[model['id'] for model in available_models]}")

    Each list a provider returns holds its own copies: changing one changes nothing cached.

    Attributes:
        fetched_at: the provider clock's reading (seconds, monotonic) when the list was fetched.
        stale: true when the proxy could not be reached and this is the last good list.
    """

    def __init__(self, models: Iterable[Mapping[str, Any]], *, fetched_at: float, stale: bool = False) -> None:
        super().__init__(dict(model) for model in models)
        self.fetched_at = fetched_at
        self.stale = stale

    @property
    def ids(self) -> list[str]:
        """The models' ids, in the proxy's order."""
        return [str(model["id"]) for model in self]

    def copy_as(self, *, stale: bool) -> ModelList:
        """A copy (new dicts), flagged ``stale`` or not."""
        return ModelList(self, fetched_at=self.fetched_at, stale=stale)
