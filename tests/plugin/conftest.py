"""Stand-ins for what the LiteLLM callback reads of the proxy (its router), for tests of the plugin's logic without
LiteLLM. The shapes are LiteLLM 1.106.2's: ``model_list`` entries and ``get_deployment_model_info``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.integrations.plugin_settings import PluginSettings
from app.integrations.proxy_routing import ProxyRouting


def deployment(
    name: str,
    litellm_model: str,
    input_usd: float | None,
    output_usd: float | None,
    *,
    model_id: str | None = None,
    max_output: int | None = 4096,
    window: int | None = 128000,
    rpm: int | None = None,
) -> dict[str, Any]:
    """One ``model_list`` entry as LiteLLM's router holds it (prices in ``model_info``, USD per token)."""
    info: dict[str, Any] = {"id": model_id or f"{name}-id"}
    if input_usd is not None:
        info["input_cost_per_token"] = input_usd
    if output_usd is not None:
        info["output_cost_per_token"] = output_usd
    if max_output is not None:
        info["max_output_tokens"] = max_output
    if window is not None:
        info["max_input_tokens"] = window
    params: dict[str, Any] = {"model": litellm_model, "api_key": "sk-upstream-secret"}
    if rpm is not None:
        params["rpm"] = rpm
    return {"model_name": name, "litellm_params": params, "model_info": info}


class FakeProxyRouter:
    """What ``ProxyDeployments`` reads of LiteLLM's router: ``model_list`` and ``get_deployment_model_info`` (here:
    the deployment's own ``model_info``; ``reads`` counts the calls)."""

    def __init__(self, model_list: list[dict[str, Any]]) -> None:
        self.model_list = model_list
        self.reads = 0

    def get_deployment_model_info(self, model_id: str, model_name: str) -> dict[str, Any] | None:
        self.reads += 1
        for entry in self.model_list:
            if entry["model_info"].get("id") == model_id:
                return dict(entry["model_info"])
        return None


def standard_models() -> list[dict[str, Any]]:
    """Three priced groups (catalog names, so quality is known) and one unpriced."""
    return [
        deployment("gpt-4o", "openai/gpt-4o", 2.5e-6, 1e-5, max_output=16384),
        deployment("gpt-4o-mini", "openai/gpt-4o-mini", 1.5e-7, 6e-7, max_output=16384),
        deployment("claude-3-haiku", "anthropic/claude-3-haiku-20240307", 2.5e-7, 1.25e-6, max_output=4096),
        deployment("mystery", "openai/mystery-model", None, None),
    ]


class StepClock:
    """Seconds that advance by ``step`` at each read."""

    def __init__(self, step: float = 0.01) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def proxy_router() -> FakeProxyRouter:
    return FakeProxyRouter(standard_models())


@pytest.fixture
def routing(proxy_router: FakeProxyRouter, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProxyRouting]:
    for name in ("COSTMUX_DEFAULT_STRATEGY", "COSTMUX_DEFAULT_MAX_COST", "COSTMUX_AUTO_EXCLUDE"):
        monkeypatch.delenv(name, raising=False)
    routing = ProxyRouting(PluginSettings.load({}), clock=StepClock())
    routing.sync(proxy_router)
    yield routing


def chat(content: str = "What is the capital of France?", **fields: Any) -> dict[str, Any]:
    """A request dict as the proxy hands it to the pre-call hook."""
    data: dict[str, Any] = {
        "model": "auto",
        "messages": [{"role": "user", "content": content}],
        "metadata": {},
        "litellm_call_id": "call-1",
        "proxy_server_request": {"headers": {}},
    }
    data.update(fields)
    return data


def attempt_kwargs(data: dict[str, Any], group: str, model_id: str | None = None) -> dict[str, Any]:
    """The kwargs LiteLLM hands the deployment hook for an attempt on ``group``."""
    return {
        **{k: v for k, v in data.items() if k != "metadata"},
        "metadata": {**data.get("metadata", {}), "model_group": group},
        "model_info": {"id": model_id or f"{group}-id"},
    }
