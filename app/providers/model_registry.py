"""What a provider knows about each model: prices, context window, rate limits, metadata.

Two sources feed the registry: ``custom_models`` given by the user, and the proxy's ``/model/info``
(discovered). A custom entry overrides the proxy field by field: a custom price replaces the proxy's price, while a
context window the custom entry leaves out still comes from the proxy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import ConfigurationError
from app.pricing import ModelPricing, decimal_str, parse_pricing, to_decimal_usd

__all__ = ["ModelRegistry", "ModelSpec", "RateLimits", "parse_model_info", "spec_from_custom"]

ModelSource = Literal["custom", "proxy", "custom+proxy"]


class RateLimits(BaseModel):
    """Client-side limits of one model; ``None`` means no limit is known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests_per_minute: int | None = Field(default=None, gt=0)
    tokens_per_minute: int | None = Field(default=None, gt=0)


class ModelSpec(BaseModel):
    """Everything costmux knows about one model.

    ``pricing`` is ``None`` when no price is known: such a model is never costed as free.
    ``context_window_tokens`` is the maximum number of input tokens; ``max_output_tokens`` the most it can generate.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    pricing: ModelPricing | None = None
    rate_limits: RateLimits = RateLimits()
    context_window_tokens: int | None = Field(default=None, gt=0)
    max_output_tokens: int | None = Field(default=None, gt=0)
    provider: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    source: ModelSource = "custom"

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
            metadata={**base.metadata, **self.metadata},
            source="custom+proxy",
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
            "metadata": copy.deepcopy(self.metadata),
            "source": self.source,
        }


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

    ``metadata`` may hold ``context_window`` (input tokens), ``max_output_tokens`` (or ``max_tokens``) and
    ``provider``; other keys are kept as free-form metadata.

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
    return ModelSpec(
        name=name,
        pricing=parse_pricing(pricing) if pricing is not None else None,
        rate_limits=limits,
        context_window_tokens=context,
        max_output_tokens=_positive_int(max_out, f"{name}: metadata.max_output_tokens"),
        provider=str(provider) if provider is not None else None,
        metadata=meta,
        source="custom",
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
        metadata={"litellm_model": params.get("model"), "mode": info.get("mode")},
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
    """Custom and discovered model specs of one provider, with custom entries overriding field by field."""

    def __init__(self) -> None:
        self._custom: dict[str, ModelSpec] = {}
        self._discovered: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        self._listed: tuple[str, ...] = ()

    def add_custom(self, spec: ModelSpec) -> None:
        """Register a custom model. Raises ConfigurationError if the name is already a custom model."""
        if spec.name in self._custom:
            raise ConfigurationError(f"custom model {spec.name!r} is already registered")
        self._custom[spec.name] = spec

    def set_discovered(self, specs: Mapping[str, ModelSpec]) -> None:
        """Replace what was discovered from the proxy's ``/model/info``."""
        self._discovered = dict(specs)
        self._aliases = {}
        for name, spec in specs.items():
            litellm_model = spec.metadata.get("litellm_model")
            if isinstance(litellm_model, str) and litellm_model not in specs:
                self._aliases.setdefault(litellm_model, name)

    def set_listed(self, names: Iterable[str]) -> None:
        """Record the names the proxy lists at ``/v1/models``."""
        self._listed = tuple(names)

    def get(self, name: str) -> ModelSpec | None:
        """The merged spec of ``name`` (or of the model a provider-prefixed name like ``openai/gpt-4o`` maps to)."""
        name = name if name in self._custom or name in self._discovered else self._aliases.get(name, name)
        custom, discovered = self._custom.get(name), self._discovered.get(name)
        if custom is not None and discovered is not None:
            return custom.overlay(discovered)
        return custom or discovered

    def names(self) -> list[str]:
        """Every known model name: custom first, then discovered and listed ones, without duplicates."""
        return list(dict.fromkeys([*self._custom, *self._discovered, *self._listed]))
