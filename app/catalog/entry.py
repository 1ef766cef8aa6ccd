"""One model of a catalog: prices, windows, capabilities, reasoning behaviour and quality per task type."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from app.catalog.reasoning import Reasoning
from app.errors import ConfigurationError
from app.pricing import ModelPricing, parse_pricing
from app.tasks import TaskType

__all__ = ["Capabilities", "CatalogEntry"]

# JSON keys of one model in a catalog file.
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
        "reasoning",
        "price_routes",
        "quality",
        "price_source",
        "quality_basis",
    }
)
_REQUIRED_MODEL_KEYS = _MODEL_KEYS - {"aliases", "capabilities", "reasoning", "price_routes"}


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
    ``quality`` has a score in [0, 1] for every :class:`~app.tasks.TaskType`. ``reasoning`` says how a reasoning
    model spends hidden tokens (``None``: it does not reason). ``price_routes`` are the LiteLLM routes (``openai``,
    ``bedrock``, ``openrouter``, ...) on which the entry's price is the list price; a name without a route counts as
    the vendor's own, where the price applies too (see :class:`~app.catalog.catalog.CatalogMatch`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()
    provider: str = Field(min_length=1)
    pricing: ModelPricing
    context_window_tokens: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    capabilities: Capabilities = Capabilities()
    reasoning: Reasoning | None = None
    price_routes: tuple[str, ...] = ()
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
                    "reasoning": raw.get("reasoning"),
                    "price_routes": tuple(_routes(label, raw.get("price_routes", []))),
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
            **({"reasoning": self.reasoning.to_json_dict()} if self.reasoning is not None else {}),
            **({"price_routes": list(self.price_routes)} if self.price_routes else {}),
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


def _routes(label: str, raw: Any) -> list[str]:
    if isinstance(raw, str) or not isinstance(raw, list | tuple) or not all(isinstance(r, str) for r in raw):
        raise ConfigurationError(f"catalog model {label}: price_routes must be a list of LiteLLM route names")
    return [route.strip().lower() for route in raw]
