"""What a provider knows about each model: prices, context window, rate limits, capabilities, quality, metadata.

Three sources feed the registry, in order of precedence, field by field: ``custom_models`` given by the user, the
proxy's ``/model/info`` (discovered), and the bundled catalog of well-known models (:mod:`app.catalog`). A custom
price replaces the proxy's price, while a context window the custom entry leaves out still comes from the proxy, and
a quality score neither gives comes from the catalog. The catalog only fills in fields: it never adds models to
``names()``.

A proxy model is looked up in the catalog by what it serves: its ``model_info.base_model``, then its
``litellm_params.model``, then its own name (a model group ``smart`` serving ``anthropic/claude-sonnet-4-5`` is
Claude Sonnet 4.5). The catalog's price is used only where it is the list price (:attr:`CatalogMatch.price_applies`).
A model the catalog does not know gets a quality prior (:func:`~app.catalog.quality_prior`), marked as assumed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.catalog import Capabilities, CatalogEntry, CatalogMatch, ModelCatalog, Reasoning, quality_prior, vendor_of
from app.errors import ConfigurationError
from app.pricing import ModelPricing, decimal_str, parse_pricing, to_decimal_usd
from app.tasks import TaskType
from app.tokens.families import FAMILIES, FamilyResolution, family_of_spec

__all__ = ["ModelRegistry", "ModelSpec", "RateLimits", "parse_model_info", "spec_from_catalog", "spec_from_custom"]


class RateLimits(BaseModel):
    """Client-side limits of one model; ``None`` means no limit is known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)


class ModelSpec(BaseModel):
    """Everything costmux knows about one model.

    ``pricing`` is ``None`` when no price is known: such a model is never costed as free.
    ``context_window_tokens`` is the maximum number of input tokens; ``max_output_tokens`` the most it can generate.
    ``quality`` maps task types to a score in [0, 1] (``None``: no quality data); ``assumed_quality`` names the tasks
    whose score is a prior, not a measurement. ``reasoning`` says how a reasoning model spends hidden tokens.
    ``source`` names the sources that contributed, joined by ``+`` (``custom``, ``proxy``, ``catalog``, ``prior``).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    pricing: ModelPricing | None = None
    rate_limits: RateLimits = RateLimits()
    context_window_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    provider: str | None = None
    capabilities: Capabilities = Capabilities()
    quality: dict[TaskType, float] | None = None
    assumed_quality: frozenset[TaskType] = frozenset()
    reasoning: Reasoning | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: str = "custom"

    def overlay(self, base: ModelSpec) -> ModelSpec:
        """This (custom) spec over ``base`` (discovered): fields set here win, the rest come from ``base``."""
        limits = RateLimits(
            requests_per_minute=self.rate_limits.requests_per_minute or base.rate_limits.requests_per_minute,
            tokens_per_minute=self.rate_limits.tokens_per_minute or base.rate_limits.tokens_per_minute,
        )
        return ModelSpec(
            name=self.name,
            pricing=self.pricing or base.pricing,
            rate_limits=limits,
            context_window_tokens=self.context_window_tokens or base.context_window_tokens,
            max_output_tokens=self.max_output_tokens or base.max_output_tokens,
            provider=self.provider or base.provider,
            capabilities=Capabilities(
                tools=_known(self.capabilities.tools, base.capabilities.tools),
                vision=_known(self.capabilities.vision, base.capabilities.vision),
                json_output=_known(self.capabilities.json_output, base.capabilities.json_output),
            ),
            quality={**(base.quality or {}), **(self.quality or {})} if (self.quality or base.quality) else None,
            assumed_quality=(base.assumed_quality - set(self.quality or {})) | self.assumed_quality,
            reasoning=self.reasoning or base.reasoning,
            metadata={**base.metadata, **self.metadata},
            source=f"{self.source}+{base.source}",
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-ready summary: prices in USD per token and per 1M tokens (as strings, exact), limits, metadata."""
        pricing: dict[str, str] | None = None
        if self.pricing is not None:
            in_1m, out_1m = self.pricing.per_1m()
            pricing = {
                "input_usd_per_token": decimal_str(self.pricing.input_usd_per_token),
                "output_usd_per_token": decimal_str(self.pricing.output_usd_per_token),
                "input_usd_per_1m": decimal_str(in_1m),
                "output_usd_per_1m": decimal_str(out_1m),
            }
        return {
            "name": self.name,
            "pricing": pricing,
            "rate_limits": self.rate_limits.model_dump(),
            "context_window": self.context_window_tokens,
            "max_output_tokens": self.max_output_tokens,
            "provider": self.provider,
            "capabilities": self.capabilities.model_dump(),
            "quality": {str(task): score for task, score in self.quality.items()} if self.quality else None,
            "quality_assumed": sorted(str(task) for task in self.assumed_quality),
            "reasoning": self.reasoning.to_json_dict() if self.reasoning is not None else None,
            "metadata": copy.deepcopy(self.metadata),
            "source": self.source,
            "token_family": self.token_family()._asdict(),
        }

    def token_family(self) -> FamilyResolution:
        """The model's token-count family and how it was resolved (:func:`app.tokens.families.family_of_spec`)."""
        return family_of_spec(self)


def _known(first: bool | None, second: bool | None) -> bool | None:
    return first if first is not None else second


def _custom_quality(name: str, raw: Any) -> dict[TaskType, float] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{name}: metadata.quality must map task types to scores in [0, 1]")
    quality: dict[TaskType, float] = {}
    for task, score in raw.items():
        try:
            task_type = TaskType(task)
        except ValueError:
            tasks = ", ".join(t.value for t in TaskType)
            raise ConfigurationError(f"{name}: unknown task type {task!r} in metadata.quality ({tasks})") from None
        if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
            raise ConfigurationError(f"{name}: quality for {task} must be a number in [0, 1], got {score!r}")
        quality[task_type] = float(score)
    return quality


def _custom_capabilities(name: str, raw: Any) -> Capabilities:
    if raw is None:
        return Capabilities()
    try:
        return Capabilities.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(f"{name}: metadata.capabilities: {exc.errors()[0]['msg']}") from exc


def _positive_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigurationError(f"{field} must be a positive integer, got {value!r}")
    try:
        number = int(float(value))
    except ValueError as exc:
        raise ConfigurationError(f"{field} must be a positive integer, got {value!r}") from exc
    if number <= 0 or number != float(value):
        raise ConfigurationError(f"{field} must be a positive integer, got {value!r}")
    return number


def spec_from_custom(
    name: str,
    pricing: Mapping[str, Any] | ModelPricing | None,
    rate_limits: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> ModelSpec:
    """Validate one ``custom_models`` entry (the caller's dicts are copied, never mutated).

    ``metadata`` may hold ``context_window`` (input tokens), ``max_output_tokens`` (or ``max_tokens``),
    ``provider``, ``capabilities`` (``{"tools": bool, "vision": bool, "json": bool}``), ``quality``
    (``{"code_generation": 0.9, ...}``, scores in [0, 1]) and ``token_family`` (one of
    :data:`app.tokens.FAMILIES`: the tokenizer family its prompts are billed with, when its names do not say);
    other keys are kept as free-form metadata.

    Raises:
        ConfigurationError: the name, a price, a limit or a window is invalid.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("model name must be a non-empty string")
    meta = copy.deepcopy(dict(metadata or {}))
    try:
        limits = RateLimits.model_validate(dict(rate_limits or {}))
    except ValidationError as exc:
        raise ConfigurationError(f"rate_limits of {name!r}: {exc.errors()[0]['msg']}") from exc
    context = _positive_int(meta.pop("context_window", None), f"{name}: metadata.context_window")
    max_out = meta.pop("max_output_tokens", None)
    if max_out is None:
        max_out = meta.pop("max_tokens", None)
    provider = meta.pop("provider", None)
    family = meta.get("token_family")
    if family is not None and family not in FAMILIES:
        raise ConfigurationError(f"{name}: metadata.token_family must be one of {', '.join(FAMILIES)}, got {family!r}")
    capabilities = _custom_capabilities(name, meta.pop("capabilities", None))
    quality = _custom_quality(name, meta.pop("quality", None))
    return ModelSpec(
        name=name,
        pricing=parse_pricing(pricing) if pricing is not None else None,
        rate_limits=limits,
        context_window_tokens=context,
        max_output_tokens=_positive_int(max_out, f"{name}: metadata.max_output_tokens"),
        provider=str(provider) if provider is not None else None,
        capabilities=capabilities,
        quality=quality,
        metadata=meta,
        source="custom",
    )


def spec_from_catalog(name: str, entry: CatalogEntry, match: CatalogMatch | None = None) -> ModelSpec:
    """The catalog's knowledge of a model, under the name the provider uses for it. Without a ``match`` (or when
    ``match.price_applies``) the entry's price is included; otherwise the price is left to the proxy."""
    price_applies = match is None or match.price_applies
    metadata: dict[str, Any] = {"catalog_entry": entry.name}
    if match is not None:
        metadata["catalog_route"] = match.route
        metadata["catalog_price"] = "list price" if price_applies else "not used (regional or host price)"
    return ModelSpec(
        name=name,
        pricing=entry.pricing if price_applies else None,
        context_window_tokens=entry.context_window_tokens,
        max_output_tokens=entry.max_output_tokens,
        provider=entry.provider,
        capabilities=entry.capabilities,
        quality=dict(entry.quality),
        reasoning=entry.reasoning,
        metadata=metadata,
        source="catalog",
    )


def _first(*values: Any) -> Any:
    return next((value for value in values if value not in (None, "")), None)


def _proxy_pricing(info: Mapping[str, Any], params: Mapping[str, Any], name: str) -> ModelPricing | None:
    """Prices from ``model_info`` or ``litellm_params`` (strings coerced); ``None`` if either side is unknown."""
    input_price = _first(info.get("input_cost_per_token"), params.get("input_cost_per_token"))
    output_price = _first(info.get("output_cost_per_token"), params.get("output_cost_per_token"))
    if input_price is None or output_price is None:
        return None
    return ModelPricing(
        input_usd_per_token=to_decimal_usd(input_price, field=f"{name}: input_cost_per_token"),
        output_usd_per_token=to_decimal_usd(output_price, field=f"{name}: output_cost_per_token"),
    )


def _deployment_spec(entry: Mapping[str, Any]) -> ModelSpec:
    name = str(entry["model_name"])
    info: Mapping[str, Any] = entry.get("model_info") or {}
    params: Mapping[str, Any] = entry.get("litellm_params") or {}
    max_output = _first(info.get("max_output_tokens"), info.get("max_tokens"))
    return ModelSpec(
        name=name,
        pricing=_proxy_pricing(info, params, name),
        rate_limits=RateLimits(
            requests_per_minute=_positive_int(_first(info.get("rpm"), params.get("rpm")), f"{name}: rpm"),
            tokens_per_minute=_positive_int(_first(info.get("tpm"), params.get("tpm")), f"{name}: tpm"),
        ),
        context_window_tokens=_positive_int(info.get("max_input_tokens"), f"{name}: max_input_tokens"),
        max_output_tokens=_positive_int(max_output, f"{name}: max_output_tokens"),
        provider=_first(info.get("litellm_provider"), None),
        capabilities=Capabilities(
            tools=info.get("supports_function_calling"),
            vision=info.get("supports_vision"),
            json_output=info.get("supports_response_schema"),
        ),
        metadata={"litellm_model": params.get("model"), "base_model": info.get("base_model"), "mode": info.get("mode")},
        source="proxy",
    )


def _merge_deployments(first: ModelSpec, other: ModelSpec) -> ModelSpec:
    """Several deployments behind one model name: the highest price and smallest window (a safe bound for
    budgets), and the sum of their rate limits (each deployment has its own)."""

    def add(a: int | None, b: int | None) -> int | None:
        return None if a is None or b is None else a + b

    def smaller(a: int | None, b: int | None) -> int | None:
        return min(a, b) if a is not None and b is not None else (a or b)

    pricing = None
    if first.pricing is not None and other.pricing is not None:
        pricing = ModelPricing(
            input_usd_per_token=max(first.pricing.input_usd_per_token, other.pricing.input_usd_per_token),
            output_usd_per_token=max(first.pricing.output_usd_per_token, other.pricing.output_usd_per_token),
        )
    return first.model_copy(
        update={
            "pricing": pricing,
            "rate_limits": RateLimits(
                requests_per_minute=add(first.rate_limits.requests_per_minute, other.rate_limits.requests_per_minute),
                tokens_per_minute=add(first.rate_limits.tokens_per_minute, other.rate_limits.tokens_per_minute),
            ),
            "context_window_tokens": smaller(first.context_window_tokens, other.context_window_tokens),
            "max_output_tokens": smaller(first.max_output_tokens, other.max_output_tokens),
        }
    )


def parse_model_info(payload: Mapping[str, Any]) -> dict[str, ModelSpec]:
    """Read the proxy's ``/model/info`` answer into one spec per model name.

    Raises:
        ConfigurationError: a price or limit in the answer is invalid (negative, NaN, ...).
        KeyError, TypeError: the payload does not have the documented shape.
    """
    specs: dict[str, ModelSpec] = {}
    for entry in payload["data"]:
        spec = _deployment_spec(entry)
        specs[spec.name] = _merge_deployments(specs[spec.name], spec) if spec.name in specs else spec
    return specs


class ModelRegistry:
    """Custom, discovered and catalog specs of one provider's models, merged field by field (custom first)."""

    def __init__(self, catalog: ModelCatalog | None = None) -> None:
        self._catalog = catalog
        self._custom: dict[str, ModelSpec] = {}
        self._discovered: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        self._listed: tuple[str, ...] = ()
        self._merged: dict[str, ModelSpec] = {}
        self._rate_limited: tuple[str, ...] | None = None
        self.version = 0

    def _changed(self) -> None:
        self._merged.clear()
        self._rate_limited = None
        self.version += 1

    def add_custom(self, spec: ModelSpec) -> None:
        """Register a custom model. Raises ConfigurationError if the name is already a custom model."""
        if spec.name in self._custom:
            raise ConfigurationError(f"custom model {spec.name!r} is already registered")
        self._custom[spec.name] = spec
        self._changed()

    def set_discovered(self, specs: Mapping[str, ModelSpec]) -> None:
        """Replace what was discovered from the proxy's ``/model/info``."""
        self._discovered = dict(specs)
        self._aliases = {}
        for name, spec in specs.items():
            for served in (spec.metadata.get("litellm_model"), spec.metadata.get("base_model")):
                if isinstance(served, str) and served not in specs:
                    self._aliases.setdefault(served, name)
        self._changed()

    def set_listed(self, names: Iterable[str]) -> None:
        """Record the names the proxy lists at ``/v1/models``."""
        names = tuple(names)
        if names != self._listed:
            self._listed = names
            self._changed()

    def get(self, name: str) -> ModelSpec | None:
        """The merged spec of ``name`` (or of the model a provider-prefixed name like ``openai/gpt-4o`` maps to);
        merged specs are cached until the registry changes."""
        if name in self._merged:
            return self._merged[name]
        spec = self._merge(name)
        if spec is not None:  # unknown names are not cached, so arbitrary lookups cannot grow the cache
            self._merged[name] = spec
        return spec

    def _merge(self, name: str) -> ModelSpec | None:
        name = name if name in self._custom or name in self._discovered else self._aliases.get(name, name)
        custom, discovered = self._custom.get(name), self._discovered.get(name)
        spec = custom.overlay(discovered) if custom is not None and discovered is not None else custom or discovered
        match = self._catalog_match(name, spec)
        if match is not None:
            from_catalog = spec_from_catalog(name, match.entry, match)
            spec = spec.overlay(from_catalog) if spec is not None else from_catalog
        return self._with_prior(name, spec) if spec is not None else None

    def _served_names(self, name: str, spec: ModelSpec | None) -> list[str]:
        """What a model serves, most specific first: ``base_model``, ``litellm_params.model``, its own name."""
        served = [spec.metadata.get(key) for key in ("base_model", "litellm_model")] if spec is not None else []
        return [*(value for value in served if isinstance(value, str) and value), name]

    def _catalog_match(self, name: str, spec: ModelSpec | None) -> CatalogMatch | None:
        if self._catalog is None:
            return None
        for served in self._served_names(name, spec):
            match = self._catalog.resolve(served)
            if match is not None:
                return match
        return None

    def _with_prior(self, name: str, spec: ModelSpec) -> ModelSpec:
        """``spec`` with a quality prior for the tasks no source scored (see :mod:`app.catalog.prior`)."""
        missing = [task for task in TaskType if task not in (spec.quality or {})]
        if self._catalog is None or not missing:
            return spec
        vendor = next((v for served in self._served_names(name, spec) if (v := vendor_of(served)) is not None), None)
        prior = quality_prior(name, spec.pricing, self._catalog.entries(), vendor=vendor)
        if prior is None:
            return spec
        return spec.model_copy(
            update={
                "quality": {**prior.quality, **(spec.quality or {})},
                "assumed_quality": spec.assumed_quality | set(missing),
                "metadata": {**spec.metadata, "quality_prior": prior.basis},
                "source": f"{spec.source}+prior",
            }
        )

    def rate_limited(self) -> tuple[str, ...]:
        """Names of the models with an rpm or tpm limit (cached until the registry changes)."""
        if self._rate_limited is None:
            self._rate_limited = tuple(
                name
                for name in self.names()
                if (spec := self.get(name)) is not None
                and spec.rate_limits is not None
                and (spec.rate_limits.requests_per_minute or spec.rate_limits.tokens_per_minute)
            )
        return self._rate_limited

    def names(self) -> list[str]:
        """Every known model name: custom first, then discovered and listed ones, without duplicates."""
        return list(dict.fromkeys([*self._custom, *self._discovered, *self._listed]))
