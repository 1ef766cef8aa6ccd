"""A catalog of well-known models, with strict lookup of the names LiteLLM users write.

costmux ships a default catalog (``app/data/catalog.json``, see ``docs/catalog.md`` for the sources, dates and the
rule that turns public benchmarks into quality scores). The router reads it for what neither the user
(``custom_models``) nor the proxy (``/model/info``) says, field by field; users can load their own file with
:meth:`ModelCatalog.from_file`.

Looking a model up (:meth:`ModelCatalog.resolve`, :meth:`ModelCatalog.find`) is case-insensitive and reads names
as :mod:`app.catalog.names` describes: an exact name or alias (after the route prefix) always wins; then the
canonical form (dates, versions, ``-latest``/``-preview``, Bedrock and Vertex decorations removed). A canonical
form shared by two entries, neither of which claims it exactly, matches nothing. Nothing is read at import time:
the bundled file is loaded on the first :func:`default_catalog` call and cached.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from app.catalog.entry import CatalogEntry
from app.catalog.names import canonical_key, parse_name
from app.errors import ConfigurationError

__all__ = ["CatalogMatch", "ModelCatalog", "default_catalog"]

_BUNDLED = "data/catalog.json"
_FILE_KEYS = frozenset({"as_of", "models", "description"})


class CatalogMatch(NamedTuple):
    """What a name resolved to.

    Attributes:
        entry: the catalog entry.
        route: the LiteLLM route of the name (``"bedrock"``, ``"openrouter"``, ...), ``None`` without one.
        regional: the name is a regional deployment (priced above the global list price by some clouds).
        exact: the name (or its last segment) is the entry's name or one of its aliases.
    """

    entry: CatalogEntry
    route: str | None
    regional: bool
    exact: bool

    @property
    def price_applies(self) -> bool:
        """Whether the entry's price is the list price under this name: a name without a route, or one of the
        entry's ``price_routes``, and not a regional deployment. Elsewhere a host sets its own price, so only the
        proxy's price (or a custom one) is used: a catalog price that is too low would break a cost cap."""
        if self.regional:
            return False
        return self.route is None or self.route in self.entry.price_routes


def _exact_key(name: str) -> str:
    """Lower case, surrounding space removed, route/org prefix (everything up to the last ``/``) removed."""
    return name.strip().lower().rsplit("/", 1)[-1].strip()


class ModelCatalog:
    """An immutable set of :class:`CatalogEntry` with fast, strict name lookup.

    Build one from entries (``ModelCatalog(entries, as_of=date(2025, 2, 15))``), from a file
    (:meth:`from_file`) or from parsed JSON (:meth:`from_dict`); the bundled one is :func:`default_catalog`.

    Raises:
        ConfigurationError: two entries claim the same name or alias, or the catalog is empty.
    """

    def __init__(self, entries: Iterable[CatalogEntry], as_of: date) -> None:
        self._entries = tuple(entries)
        if not self._entries:
            raise ConfigurationError("a model catalog needs at least one model")
        if not isinstance(as_of, date):
            raise ConfigurationError(f"as_of must be a date, got {type(as_of).__name__}")
        self._as_of = as_of
        self._exact: dict[str, CatalogEntry] = {}
        for entry in self._entries:
            if not isinstance(entry, CatalogEntry):
                raise ConfigurationError(f"catalog entries must be CatalogEntry, got {type(entry).__name__}")
            for label in (entry.name, *entry.aliases):
                key = _exact_key(label)
                other = self._exact.get(key)
                if other is not None and other is not entry:
                    raise ConfigurationError(
                        f"model name {label!r} is claimed by both {other.name!r} and {entry.name!r}"
                    )
                self._exact[key] = entry
        # Suffix-stripped names. An exact name always wins; a stripped name shared by different entries (two dated
        # snapshots and no undated entry) is ambiguous and is dropped, so such a lookup finds nothing.
        candidates: dict[str, set[int]] = {}
        by_id = {id(entry): entry for entry in self._entries}
        for entry in self._entries:
            for label in (entry.name, *entry.aliases):
                candidates.setdefault(canonical_key(_exact_key(label)), set()).add(id(entry))
        self._canonical: dict[str, CatalogEntry] = {}
        for key, owners in candidates.items():
            if key in self._exact:
                self._canonical[key] = self._exact[key]
            elif len(owners) == 1:
                self._canonical[key] = by_id[next(iter(owners))]

    @property
    def as_of(self) -> date:
        """The date the catalog's prices and scores were checked."""
        return self._as_of

    def entries(self) -> list[CatalogEntry]:
        """All entries, in catalog order."""
        return list(self._entries)

    def find(self, name: str) -> CatalogEntry | None:
        """The entry for ``name`` (a name or alias, in any of the tolerated spellings), or ``None``."""
        match = self.resolve(name)
        return match.entry if match is not None else None

    def resolve(self, name: str) -> CatalogMatch | None:
        """What ``name`` resolves to (with its route, and whether the entry's price applies), or ``None``."""
        if not isinstance(name, str) or not name.strip():
            return None
        parsed = parse_name(name)
        if not parsed.exact:
            return None
        entry = self._exact.get(parsed.exact)
        if entry is not None:
            return CatalogMatch(entry, parsed.route, parsed.regional, True)
        entry = self._canonical.get(parsed.canonical)
        return CatalogMatch(entry, parsed.route, parsed.regional, False) if entry is not None else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ModelCatalog({len(self._entries)} models, as_of={self._as_of.isoformat()})"

    def to_dict(self) -> dict[str, Any]:
        """The catalog in file form, e.g. to start a custom catalog from the bundled one."""
        return {"as_of": self._as_of.isoformat(), "models": [entry.to_json_dict() for entry in self._entries]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "model catalog") -> ModelCatalog:
        """Build a catalog from parsed JSON ``{"as_of": "YYYY-MM-DD", "models": [...]}``.

        Raises:
            ConfigurationError: the data is not a valid catalog; the message starts with ``source``.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{source}: must be a JSON object with as_of and models")
        unknown = sorted(set(data) - _FILE_KEYS)
        if unknown:
            raise ConfigurationError(f"{source}: unknown keys {unknown}; expected as_of, models")
        raw_date = data.get("as_of")
        if not isinstance(raw_date, str):
            raise ConfigurationError(f"{source}: as_of must be a date string YYYY-MM-DD")
        try:
            as_of = date.fromisoformat(raw_date)
        except ValueError as exc:
            raise ConfigurationError(f"{source}: as_of must be a date YYYY-MM-DD, got {raw_date!r}") from exc
        models = data.get("models")
        if not isinstance(models, list) or not models:
            raise ConfigurationError(f"{source}: models must be a non-empty list")
        entries = []
        for index, raw in enumerate(models):
            try:
                entries.append(CatalogEntry.from_json_dict(raw))
            except ConfigurationError as exc:
                raise ConfigurationError(f"{source}: models[{index}]: {exc}") from exc
        try:
            return cls(entries, as_of)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | Path) -> ModelCatalog:
        """Load a catalog file (same shape as the bundled ``app/data/catalog.json``).

        Raises:
            ConfigurationError: the file is missing, not JSON, or not a valid catalog.
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"model catalog {file}: cannot read it ({exc.strerror or exc})") from exc
        return cls._from_text(text, source=f"model catalog {file}")

    @classmethod
    def _from_text(cls, text: str, *, source: str) -> ModelCatalog:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"{source}: not valid JSON ({exc})") from exc
        return cls.from_dict(data, source=source)


@cache
def default_catalog() -> ModelCatalog:
    """The catalog bundled with costmux (``app/data/catalog.json``), loaded on first use and cached.

    Raises:
        ConfigurationError: the bundled file is missing or invalid (a broken installation).
    """
    resource = resources.files("app").joinpath(_BUNDLED)
    try:
        text = resource.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"bundled model catalog app/{_BUNDLED} cannot be read ({exc})") from exc
    return ModelCatalog._from_text(text, source=f"bundled model catalog app/{_BUNDLED}")
