"""Model catalog of the provider: custom models, /model/info sync, /v1/models cache, health checks."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.errors import ConfigurationError, InvalidResponseError, ModelNotFoundError, PricingError, ProviderError
from app.providers import LiteLLMProvider
from app.providers.model_registry import parse_model_info
from app.tasks import TaskType
from tests.captures import capture_text
from tests.unit.conftest import BASE_URL, Recorder

Make = Callable[..., LiteLLMProvider]
SEED_CUSTOM = {
    "gpt-4": {
        "pricing": {"input": 0.03, "output": 0.06},
        "rate_limits": {"requests_per_minute": 500, "tokens_per_minute": 40000},
        "metadata": {"context_window": 8192, "provider": "openai", "family": "gpt-4"},
    }
}


def captured_model_info() -> dict[str, Any]:
    text = capture_text("model_info.txt")
    return json.loads(text[text.index('{"data"') :])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_custom_models_as_in_the_seed() -> None:
    provider = LiteLLMProvider(BASE_URL, custom_models=SEED_CUSTOM)
    info = provider.get_model_info("gpt-4")
    assert info["pricing"]["input_usd_per_1m"] == "30" and info["pricing"]["output_usd_per_1m"] == "60"
    assert info["rate_limits"] == {"requests_per_minute": 500, "tokens_per_minute": 40000}
    assert info["context_window"] == 8192 and info["provider"] == "openai"
    assert info["metadata"] == {
        "family": "gpt-4",
        "catalog_entry": "gpt-4",
        "catalog_route": None,
        "catalog_price": "list price",
    }
    assert info["source"] == "custom+catalog" and info["quality"]["simple_qa"] > 0
    assert provider.calculate_cost(1000, 1000, "gpt-4") == pytest.approx(0.09)
    assert provider.get_supported_models() == ["gpt-4"]


def test_add_custom_model_validates_and_does_not_mutate_the_callers_dicts() -> None:
    provider = LiteLLMProvider(BASE_URL)
    entry = copy.deepcopy(SEED_CUSTOM["gpt-4"])
    provider.add_custom_model("gpt-4", entry["pricing"], entry["rate_limits"], entry["metadata"])
    assert entry == SEED_CUSTOM["gpt-4"]
    with pytest.raises(ConfigurationError, match="already registered"):
        provider.add_custom_model("gpt-4", {"input": 0.01, "output": 0.02})
    with pytest.raises(ConfigurationError):
        provider.add_custom_model("bad-limits", {"input": 1, "output": 1}, {"requests_per_minute": -1})
    with pytest.raises(ConfigurationError):
        provider.add_custom_model("bad-window", {"input": 1, "output": 1}, metadata={"context_window": 0})
    with pytest.raises(ConfigurationError):
        provider.add_custom_model("", {"input": 1, "output": 1})
    with pytest.raises(ConfigurationError):
        provider.add_custom_model("bad-price", {"input": -1, "output": 1})


def test_unknown_model_pricing_raises_unless_ignored() -> None:
    with pytest.raises(PricingError, match="no price is known"):
        LiteLLMProvider(BASE_URL).calculate_cost(10, 10, "nope")
    assert LiteLLMProvider(BASE_URL, cost_tracking="ignore_errors").calculate_cost(10, 10, "nope") is None
    with pytest.raises(ModelNotFoundError):
        LiteLLMProvider(BASE_URL).get_model_info("nope")


def test_free_model_costs_zero_and_is_not_unknown() -> None:
    provider = LiteLLMProvider(BASE_URL, custom_models={"local": {"pricing": {"input": 0, "output": 0}}})
    assert provider.calculate_cost(1000, 1000, "local") == 0.0


def test_parse_the_real_proxy_model_info_capture() -> None:
    specs = parse_model_info(captured_model_info())
    gpt4o = specs["gpt-4o-mini"]
    assert gpt4o.pricing is not None and gpt4o.pricing.input_usd_per_token == Decimal("2E-7")
    assert gpt4o.context_window_tokens == 128000 and gpt4o.max_output_tokens == 16384
    assert gpt4o.rate_limits.requests_per_minute == 1000 and gpt4o.provider == "openai"
    assert specs["claude-3-haiku"].max_output_tokens == 4096  # only max_tokens was given


def test_string_prices_from_litellm_params_are_coerced() -> None:
    payload = {
        "data": [
            {
                "model_name": "m",
                "litellm_params": {
                    "model": "openai/m",
                    "input_cost_per_token": "1e-05",
                    "output_cost_per_token": "2e-05",
                },
                "model_info": {"input_cost_per_token": None, "rpm": "60"},
            }
        ]
    }
    spec = parse_model_info(payload)["m"]
    assert spec.pricing is not None and spec.pricing.output_usd_per_token == Decimal("0.00002")
    assert spec.rate_limits.requests_per_minute == 60


def test_several_deployments_of_one_name_take_the_safe_bound() -> None:
    def deployment(cin: float, window: int, rpm: int) -> dict[str, Any]:
        info = {"input_cost_per_token": cin, "output_cost_per_token": cin, "max_input_tokens": window, "rpm": rpm}
        return {"model_name": "m", "litellm_params": {}, "model_info": info}

    spec = parse_model_info({"data": [deployment(1e-6, 8000, 10), deployment(3e-6, 4000, 20)]})["m"]
    assert spec.pricing is not None and spec.pricing.input_usd_per_token == Decimal("0.000003")
    assert spec.context_window_tokens == 4000 and spec.rate_limits.requests_per_minute == 30


def test_negative_price_from_the_proxy_is_rejected() -> None:
    payload = {"data": [{"model_name": "m", "model_info": {"input_cost_per_token": -1, "output_cost_per_token": 1}}]}
    with pytest.raises(ConfigurationError):
        parse_model_info(payload)


async def test_sync_pricing_merges_with_custom_models_field_by_field(make_provider: Make) -> None:
    provider = make_provider(
        lambda r: httpx.Response(200, json=captured_model_info()),
        custom_models={"gpt-4o": {"pricing": {"input_per_1m": 1, "output_per_1m": 2}}},
    )
    await provider.sync_pricing()
    info = provider.get_model_info("gpt-4o")
    assert info["pricing"]["input_usd_per_1m"] == "1"  # custom wins
    assert info["context_window"] == 128000 and info["rate_limits"]["requests_per_minute"] == 3  # proxy fills
    assert info["source"] == "custom+proxy+catalog"
    assert provider.get_model_info("openai/gpt-4o-mini")["name"] == "gpt-4o-mini"  # provider-prefixed alias
    assert set(provider.get_supported_models()) >= {"gpt-4o", "claude-3-haiku", "fake-upstream"}


async def test_malformed_model_info_is_an_invalid_response(make_provider: Make) -> None:
    provider = make_provider(lambda r: httpx.Response(200, json={"nodata": []}))
    with pytest.raises(InvalidResponseError):
        await provider.sync_pricing()


async def test_model_info_is_synced_once_on_first_use_and_again_after_the_ttl(
    make_provider: Make, recorder: Recorder
) -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json=captured_model_info())
        return httpx.Response(200, json={"id": "x", "model": "gpt-4o", "choices": []})

    provider = make_provider(handler, clock=clock, models_cache_ttl_s=300)
    for _ in range(3):
        await provider.chat_completion([{"role": "user", "content": "hi"}], "gpt-4o")
    assert recorder.calls("/model/info") == 1
    clock.now += 301
    await provider.chat_completion([{"role": "user", "content": "hi"}], "gpt-4o")
    assert recorder.calls("/model/info") == 2


async def test_available_models_are_cached_refreshed_and_served_stale(make_provider: Make, recorder: Recorder) -> None:
    clock = Clock()
    state = {"up": True}

    def handler(request: httpx.Request) -> httpx.Response:
        if not state["up"]:
            raise httpx.ConnectError("refused", request=request)
        listed = [{"id": "a", "object": "model", "owned_by": "openai"}, {"id": "b", "object": "model"}]
        return httpx.Response(200, json={"data": listed, "object": "list"})

    provider = make_provider(handler, clock=clock, max_retries=0)
    models = await provider.get_available_models()
    assert models == [{"id": "a", "object": "model", "owned_by": "openai"}, {"id": "b", "object": "model"}]
    assert models.ids == ["a", "b"] and not models.stale
    models[0]["id"] = "changed by the caller"  # a copy: the cache keeps the proxy's answer
    assert (await provider.get_available_models()).ids == ["a", "b"]
    assert recorder.calls("/v1/models") == 1
    await provider.get_available_models(refresh=True)
    assert recorder.calls("/v1/models") == 2
    state["up"] = False
    clock.now += 301
    stale = await provider.get_available_models()
    assert stale.ids == ["a", "b"] and stale.stale
    assert provider.get_supported_models() == ["a", "b"]


@pytest.mark.parametrize(
    "payload", [{"data": "gpt-4o"}, {"data": ["gpt-4o"]}, {"data": [{"object": "model"}]}, {"data": [{"id": ""}]}, {}]
)
async def test_a_malformed_model_list_is_an_invalid_response(make_provider: Make, payload: dict[str, Any]) -> None:
    provider = make_provider(lambda request: httpx.Response(200, json=payload), max_retries=0)
    with pytest.raises(InvalidResponseError, match="/v1/models answer is malformed"):
        await provider.get_available_models()


async def test_available_models_with_no_cache_raise_when_the_proxy_is_down(make_provider: Make) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ProviderError):
        await make_provider(handler, max_retries=0).get_available_models()


@pytest.mark.parametrize(
    ("liveliness", "readiness", "healthy"),
    [(200, 200, True), (200, 503, False), (500, 200, False)],
)
async def test_health_check_uses_liveliness_and_readiness_only(
    make_provider: Make, recorder: Recorder, liveliness: int, readiness: int, healthy: bool
) -> None:
    statuses = {"/health/liveliness": liveliness, "/health/readiness": readiness}
    provider = make_provider(lambda r: httpx.Response(statuses.get(r.url.path, 599), json={}))
    assert await provider.health_check() is healthy
    assert {r.url.path for r in recorder.requests} <= set(statuses)


async def test_health_check_is_false_when_the_proxy_is_unreachable() -> None:
    async with LiteLLMProvider("http://127.0.0.1:9") as provider:
        assert await provider.health_check() is False


def test_the_catalog_fills_in_but_never_adds_models_or_overrides() -> None:
    custom = {
        "claude-3-haiku": {
            "pricing": {"input_per_1m": 1, "output_per_1m": 2},
            "metadata": {"quality": {"simple_qa": 0.1}},
        }
    }
    provider = LiteLLMProvider(BASE_URL, custom_models=custom)
    assert provider.get_supported_models() == ["claude-3-haiku"]
    spec = provider.get_model_spec("claude-3-haiku")
    assert spec is not None and spec.pricing is not None
    assert spec.pricing.input_usd_per_token == Decimal("0.000001")  # custom price wins
    assert spec.quality is not None and spec.quality[TaskType.SIMPLE_QA] == 0.1  # custom quality wins
    assert spec.quality[TaskType.CODE_GENERATION] > 0.5  # the rest from the catalog
    assert spec.context_window_tokens == 200000 and spec.capabilities.tools is True
    # a well-known name is priced from the catalog even before the proxy is asked
    assert provider.calculate_cost(1_000_000, 0, "gpt-4o-mini") == pytest.approx(0.15)


def test_the_catalog_can_be_disabled() -> None:
    provider = LiteLLMProvider(BASE_URL, catalog=None)
    with pytest.raises(PricingError):
        provider.calculate_cost(10, 10, "gpt-4o-mini")


def test_capabilities_come_from_the_proxy_model_info() -> None:
    payload = {
        "data": [
            {
                "model_name": "my-model",
                "litellm_params": {"model": "openai/my-model"},
                "model_info": {"supports_function_calling": False, "supports_vision": True},
            }
        ]
    }
    spec = parse_model_info(payload)["my-model"]
    assert spec.capabilities.tools is False and spec.capabilities.vision is True
    assert spec.capabilities.json_output is None


@pytest.mark.parametrize(
    "metadata",
    [
        {"quality": {"poetry": 0.5}},
        {"quality": {"simple_qa": 1.5}},
        {"quality": {"simple_qa": True}},
        {"quality": [0.5]},
        {"capabilities": {"tools": "maybe"}},
        {"capabilities": {"teleport": True}},
    ],
)
def test_invalid_quality_and_capabilities_are_rejected(metadata: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        LiteLLMProvider(BASE_URL).add_custom_model("m", {"input": 1, "output": 1}, metadata=metadata)
