"""The LiteLLM proxy's config file: deployments (:class:`ProxyModel`) rendered as JSON that YAML loaders read.

YAML is a superset of JSON, so the proxy reads a ``.yaml`` file holding this text; no YAML library is needed.
Floats are spelled with a dot (``1.0e-05``) because PyYAML (YAML 1.1) reads ``1e-05`` as a *string*.
Prices are USD per token; ``rpm``/``tpm`` are requests/tokens per minute.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.errors import ConfigurationError

__all__ = ["FAKE_UPSTREAM_API_KEY", "ProxyModel", "default_test_models", "render_config"]

FAKE_UPSTREAM_API_KEY = "sk-fake-upstream"
"""The ``api_key`` every deployment sends upstream (the fake upstream accepts any key)."""


@dataclass(frozen=True)
class ProxyModel:
    """One proxy deployment. Prices in USD per token (``None``: LiteLLM's price map); rpm/tpm per minute."""

    name: str
    litellm_model: str
    input_cost_per_token: float | None = None
    output_cost_per_token: float | None = None
    max_tokens: int | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    api_base: str | None = None
    mock_response: str | None = None
    model_id: str | None = None
    base_model: str | None = None  # model_info.base_model: what a deployment under another name serves

    def to_config(self) -> dict[str, Any]:
        """The ``model_list`` entry for this deployment."""
        params: dict[str, Any] = {"model": self.litellm_model, "api_key": FAKE_UPSTREAM_API_KEY}
        if self.api_base is not None:
            params["api_base"] = self.api_base
        if self.mock_response is not None:
            params["mock_response"] = self.mock_response
        info_fields = (
            "input_cost_per_token",
            "output_cost_per_token",
            "max_tokens",
            "max_input_tokens",
            "max_output_tokens",
            "rpm",
            "tpm",
        )
        info: dict[str, Any] = {"id": self.model_id} if self.model_id is not None else {}
        info.update({k: getattr(self, k) for k in info_fields if getattr(self, k) is not None})
        if self.base_model is not None:
            info["base_model"] = self.base_model
        return {"model_name": self.name, "litellm_params": params, "model_info": info}


def _yaml_float(value: float) -> str:
    """A float spelled so both JSON and YAML 1.1 (PyYAML) read it as a float: ``1e-05`` → ``1.0e-05``."""
    if not math.isfinite(value):
        raise ConfigurationError(f"non-finite number in proxy config: {value!r}")
    text = repr(value)
    mantissa, sep, exponent = text.partition("e")
    if sep and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def _dump(value: Any, indent: str = "") -> str:
    """JSON text of ``value`` (dicts, lists, str, int, float, bool, None) with YAML-safe floats."""
    inner = indent + "  "
    if isinstance(value, Mapping):
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_dump(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}" if items else "{}"
    if isinstance(value, list | tuple):
        elems = [inner + _dump(v, inner) for v in value]
        return "[\n" + ",\n".join(elems) + f"\n{indent}]" if elems else "[]"
    if isinstance(value, float):
        return _yaml_float(value)
    return json.dumps(value, ensure_ascii=False)


def render_config(
    models: Sequence[ProxyModel],
    master_key: str,
    *,
    router_settings: Mapping[str, Any] | None = None,
    litellm_settings: Mapping[str, Any] | None = None,
    callback_settings: Mapping[str, Any] | None = None,
) -> str:
    """The proxy config file text (JSON, which the proxy's YAML loader reads) for ``models``; the optional blocks
    (``router_settings``, ``litellm_settings`` such as ``callbacks``, ``callback_settings``) as given."""
    names = [m.model_id for m in models if m.model_id is not None]
    if len(names) != len(set(names)):
        raise ConfigurationError("duplicate model_id in proxy models")
    config: dict[str, Any] = {
        "model_list": [m.to_config() for m in models],
        "general_settings": {"master_key": master_key},
    }
    for key, block in (
        ("router_settings", router_settings),
        ("litellm_settings", litellm_settings),
        ("callback_settings", callback_settings),
    ):
        if block:
            config[key] = dict(block)
    return _dump(config) + "\n"


def default_test_models(upstream_base_url: str) -> list[ProxyModel]:
    """The standard sandbox deployments (prices USD per token).

    - ``gpt-4o``: openai/gpt-4o at $2.5e-6 in / $1e-5 out, served by the upstream at ``upstream_base_url``.
    - ``gpt-4o-mini``: openai/gpt-4o-mini at $1.5e-7 / $6e-7, upstream.
    - ``claude-3-haiku``: Anthropic's price ($2.5e-7 / $1.25e-6) but sent as ``openai/claude-3-haiku`` to the
      OpenAI-compatible upstream.
    - ``llama-3-8b``: a free local model ($0 / $0), upstream.
    - ``mock-gpt``: openai/gpt-4o-mini answered by the proxy itself with ``mock_response="hello"`` (no
      upstream; non-streaming usage is always 10 prompt / 20 completion tokens), priced $1.5e-7 / $6e-7.
    """
    up = upstream_base_url
    return [
        ProxyModel(
            "gpt-4o",
            "openai/gpt-4o",
            2.5e-6,
            1e-5,
            max_tokens=16384,
            max_input_tokens=128000,
            max_output_tokens=16384,
            api_base=up,
            model_id="gpt-4o-upstream",
        ),
        ProxyModel(
            "gpt-4o-mini",
            "openai/gpt-4o-mini",
            1.5e-7,
            6e-7,
            max_tokens=16384,
            max_input_tokens=128000,
            max_output_tokens=16384,
            api_base=up,
            model_id="gpt-4o-mini-upstream",
        ),
        ProxyModel(
            "claude-3-haiku",
            "openai/claude-3-haiku",
            2.5e-7,
            1.25e-6,
            max_tokens=4096,
            max_input_tokens=200000,
            max_output_tokens=4096,
            api_base=up,
            model_id="claude-3-haiku-upstream",
        ),
        ProxyModel(
            "llama-3-8b",
            "openai/llama-3-8b",
            0.0,
            0.0,
            max_tokens=8192,
            max_input_tokens=8192,
            max_output_tokens=8192,
            api_base=up,
            model_id="llama-3-8b-local",
        ),
        ProxyModel("mock-gpt", "openai/gpt-4o-mini", 1.5e-7, 6e-7, mock_response="hello", model_id="mock-gpt"),
    ]
