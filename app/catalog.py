"""A catalog of well-known models: prices, context windows, capabilities and a quality score per task type.

costmux ships a default catalog (``app/data/catalog.json``, see ``docs/catalog.md`` for the sources, dates and the
rule that turns public benchmarks into quality scores). The router reads it for what neither the user
(``custom_models``) nor the proxy (``/model/info``) says, field by field; users can load their own file with
:meth:`ModelCatalog.from_file`.

Looking a model up (:meth:`ModelCatalog.find`) is case-insensitive and tolerates the spellings deployments use for
the same model, without matching loosely:

- a provider or route prefix is ignored: ``openai/gpt-4o``, ``bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0``
  (everything before the last ``/``; for Bedrock ids also the ``us.``/``eu.``/``apac.`` region and the
  ``anthropic.``/``mistral.`` vendor prefix and the ``-v2:0`` version suffix);
- a date or version-pointer suffix is ignored: ``-20240620``, ``-2024-08-06``, ``-latest``, Vertex's ``@20241022``;
- Llama names are compared by family, version and size: ``meta-llama/Meta-Llama-3-8B-Instruct``, ``llama3-8b``,
  ``llama-3-8b-instruct`` and ``Meta-Llama-3.1-8B-Instruct-Turbo`` find their entries.

An exact name or alias always wins over a suffix-stripped match, so a dated snapshot with its own price
(``gpt-4o-2024-05-13``) finds its own entry, not ``gpt-4o``. Nothing else is stripped: ``gpt-4o-mini`` never finds
``gpt-4o``, ``gpt-4`` never finds ``gpt-4o``, ``llama-3.3-70b`` never finds ``llama-3.1-70b``, and an unknown name
gives ``None``. Meta's Bedrock ids (``meta.llama3-70b-instruct-v1:0``) are deliberately not matched: Bedrock's Llama
prices are several times the hosted price in this catalog, and a price that is too low would break a cost cap.

Nothing is read at import time: the bundled file is loaded on the first :func:`default_catalog` call and cached.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from app.errors import ConfigurationError
from app.pricing import ModelPricing, parse_pricing
from app.tasks import TaskType

__all__ = ["Capabilities", "CatalogEntry", "ModelCatalog", "default_catalog"]

_BUNDLED = "data/catalog.json"

# JSON keys of one model in a catalog file, and of the file itself.
_MODEL_KEYS = frozenset(
    {
        "name",
        "aliases",
        "provider",
        "input_per_1m",
        "output_per_1m",
        "context_window",
        "max_output_tokens",
        "capabilities",
        "quality",
        "price_source",
        "quality_basis",
    }
)
_REQUIRED_MODEL_KEYS = _MODEL_KEYS - {"aliases", "capabilities"}
_FILE_KEYS = frozenset({"as_of", "models", "description"})


class Capabilities(BaseModel):
    """What a model supports; ``None`` means unknown (neither yes nor no).

    ``json_output`` is a JSON output mode (``response_format``) through the LiteLLM proxy; in a catalog file its key
    is ``"json"``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tools: StrictBool | None = None
    vision: StrictBool | None = None
    json_output: StrictBool | None = Field(default=None, validation_alias=AliasChoices("json_output", "json"))

    def to_json_dict(self) -> dict[str, bool]:
        """The known capabilities in catalog-file form (``{"tools": true, "json": false}``); unknown ones left out."""
        known = {"tools": self.tools, "vision": self.vision, "json": self.json_output}
        return {key: value for key, value in known.items() if value is not None}


class CatalogEntry(BaseModel):
    """One model of a catalog.

    ``context_window_tokens`` is the largest prompt the entry vouches for at its price (for Gemini 1.5 it is capped
    at the 128K tokens up to which the listed price applies); ``max_output_tokens`` the most it can generate.
    ``quality`` has a score in [0, 1] for every :class:`~app.tasks.TaskType`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    provider: str = Field(min_length=1)
    pricing: ModelPricing
    context_window_tokens: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    capabilities: Capabilities = Capabilities()
    quality: dict[TaskType, float]
    price_source: str = Field(min_length=1)
    quality_basis: str = Field(min_length=1)

    @field_validator("name", "provider", "price_source", "quality_basis")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("aliases")
    @classmethod
    def _aliases_not_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not alias.strip() for alias in value):
            raise ValueError("aliases must not be blank")
        return tuple(alias.strip() for alias in value)

    @field_validator("quality", mode="before")
    @classmethod
    def _quality_values_are_numbers(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            for task, score in value.items():
                if isinstance(score, bool) or not isinstance(score, int | float):
                    raise ValueError(f"quality[{task!r}] must be a number in [0, 1], got {score!r}")
        return value

    @field_validator("quality")
    @classmethod
    def _quality_complete_and_in_range(cls, value: dict[TaskType, float]) -> dict[TaskType, float]:
        missing = [task.value for task in TaskType if task not in value]
        if missing:
            raise ValueError(f"quality is missing task types {missing}; give a score for every task type")
        for task, score in value.items():
            if not math.isfinite(score) or not 0.0 <= score <= 1.0:
                raise ValueError(f"quality[{task.value!r}] must be in [0, 1], got {score!r}")
        return {task: float(value[task]) for task in TaskType}

    def quality_for(self, task: TaskType | str) -> float:
        """The quality score for ``task`` (a :class:`TaskType` or its value, e.g. ``"code_generation"``)."""
        return self.quality[TaskType(task)]

    @classmethod
    def from_json_dict(cls, raw: Mapping[str, Any]) -> CatalogEntry:
        """Build an entry from one model of a catalog file (the shape documented in ``docs/catalog.md``).

        Raises:
            ConfigurationError: a key is missing, unknown or invalid.
        """
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"a catalog model must be an object, got {type(raw).__name__}")
        label = repr(raw.get("name")) if isinstance(raw.get("name"), str) else "(no name)"
        unknown = sorted(set(raw) - _MODEL_KEYS)
        if unknown:
            raise ConfigurationError(f"catalog model {label}: unknown keys {unknown}; known keys {sorted(_MODEL_KEYS)}")
        missing = sorted(_REQUIRED_MODEL_KEYS - set(raw))
        if missing:
            raise ConfigurationError(f"catalog model {label}: missing keys {missing}")
        aliases = raw.get("aliases", [])
        if isinstance(aliases, str) or not isinstance(aliases, list | tuple):
            raise ConfigurationError(f"catalog model {label}: aliases must be a list of names")
        try:
            pricing = parse_pricing({"input_per_1m": raw["input_per_1m"], "output_per_1m": raw["output_per_1m"]})
        except ConfigurationError as exc:
            raise ConfigurationError(f"catalog model {label}: {exc}") from exc
        try:
            return cls.model_validate(
                {
                    "name": raw["name"],
                    "aliases": tuple(aliases),
                    "provider": raw["provider"],
                    "pricing": pricing,
                    "context_window_tokens": raw["context_window"],
                    "max_output_tokens": raw["max_output_tokens"],
                    "capabilities": raw.get("capabilities") or {},
                    "quality": raw["quality"],
                    "price_source": raw["price_source"],
                    "quality_basis": raw["quality_basis"],
                }
            )
        except ValidationError as exc:
            raise ConfigurationError(f"catalog model {label}: {_describe(exc)}") from exc

    def to_json_dict(self) -> dict[str, Any]:
        """This entry in catalog-file form (prices in USD per 1M tokens); :meth:`from_json_dict` reads it back."""
        input_1m, output_1m = self.pricing.per_1m()
        return {
            "name": self.name,
            "aliases": list(self.aliases),
            "provider": self.provider,
            "input_per_1m": float(input_1m),
            "output_per_1m": float(output_1m),
            "context_window": self.context_window_tokens,
            "max_output_tokens": self.max_output_tokens,
            "capabilities": self.capabilities.to_json_dict(),
            "quality": {task.value: score for task, score in self.quality.items()},
            "price_source": self.price_source,
            "quality_basis": self.quality_basis,
        }


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


# -- name normalisation ----------------------------------------------------------------------------------------------

_BEDROCK_PREFIX = re.compile(r"^(?:(?:us|eu|apac|us-gov)\.)?(?:anthropic|mistral)\.")
_BEDROCK_VERSION = re.compile(r"-v\d+:\d+$")
_VERTEX_VERSION = re.compile(r"@[\w.\-]+$")
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|20\d{6}|latest)$")
_LLAMA = re.compile(
    r"^(?:meta-)?llama-?(?P<major>\d+)(?:[.\-_](?P<minor>\d+))?-(?P<size>\d+b)"
    r"(?:-(?:instruct|chat))?(?:-(?:turbo|hf))*$"
)


def _exact_key(name: str) -> str:
    """Lower case, surrounding space removed, provider/route prefix (everything up to the last ``/``) removed."""
    return name.strip().lower().rsplit("/", 1)[-1].strip()


def _canonical_key(name: str) -> str:
    """:func:`_exact_key` without Bedrock decorations, date/``-latest``/``@version`` suffixes; Llama names unified."""
    key = _exact_key(name)
    key = _BEDROCK_PREFIX.sub("", key)
    key = _BEDROCK_VERSION.sub("", key)
    key = _VERTEX_VERSION.sub("", key)
    while True:
        stripped = _DATE_SUFFIX.sub("", key)
        if stripped == key or not stripped:
            break
        key = stripped
    llama = _LLAMA.match(key)
    if llama is not None:
        version = llama["major"] + (f".{llama['minor']}" if llama["minor"] is not None else "")
        key = f"llama-{version}-{llama['size']}"
    return key


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
                candidates.setdefault(_canonical_key(label), set()).add(id(entry))
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
        if not isinstance(name, str) or not name.strip():
            return None
        entry = self._exact.get(_exact_key(name))
        if entry is not None:
            return entry
        return self._canonical.get(_canonical_key(name))

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
