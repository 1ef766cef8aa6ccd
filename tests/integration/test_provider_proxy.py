"""LiteLLMProvider against the real LiteLLM proxy 1.106.2 (started once per session by conftest)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from app.errors import AuthenticationError, ModelNotFoundError, PricingError, ProviderUnavailableError
from app.providers import LiteLLMProvider
from app.sandbox import FakeUpstream, LiteLLMProxy, free_port

MESSAGES = [{"role": "user", "content": "Explain in two sentences why the sky is blue, please."}]
PRICES = {"gpt-4o": (Decimal("0.0000025"), Decimal("0.00001")), "gpt-4o-mini": (Decimal("1.5E-7"), Decimal("6E-7"))}


@pytest.fixture
async def provider(litellm_proxy: LiteLLMProxy) -> AsyncIterator[LiteLLMProvider]:
    async with LiteLLMProvider(litellm_proxy.base_url, litellm_proxy.master_key) as provider:
        yield provider


async def test_health_check(provider: LiteLLMProvider) -> None:
    assert await provider.health_check() is True


async def test_lists_the_configured_models(provider: LiteLLMProvider) -> None:
    models = await provider.get_available_models()
    assert {"gpt-4o", "gpt-4o-mini", "claude-3-haiku", "llama-3-8b", "mock-gpt"} <= set(models.ids)
    assert all(model["object"] == "model" and "owned_by" in model for model in models)
    assert not models.stale


async def test_the_documented_model_listing_runs_verbatim(
    provider: LiteLLMProvider, capsys: pytest.CaptureFixture[str]
) -> None:
    # as in the provider's documentation (docs/providers.md)
    available_models = await provider.get_available_models()
    print(f"Available models: {[model['id'] for model in available_models]}")
    printed = capsys.readouterr().out
    assert printed.startswith("Available models: [") and "'gpt-4o-mini'" in printed


async def test_sync_pricing_reads_prices_windows_and_limits(provider: LiteLLMProvider) -> None:
    specs = await provider.sync_pricing()
    gpt4o = specs["gpt-4o"]
    assert gpt4o.pricing is not None
    assert (gpt4o.pricing.input_usd_per_token, gpt4o.pricing.output_usd_per_token) == PRICES["gpt-4o"]
    assert gpt4o.context_window_tokens == 128000 and gpt4o.max_output_tokens == 16384
    llama = specs["llama-3-8b"]
    assert llama.pricing is not None and llama.pricing.is_free  # a real zero price, not "unknown"


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini"])
async def test_chat_cost_equals_the_proxy_cost_header(
    provider: LiteLLMProvider, fake_upstream: FakeUpstream, model: str
) -> None:
    response = await provider.chat_completion(MESSAGES, model, max_tokens=40)
    assert response.usage is not None and response.usage.prompt_tokens > 10
    assert 0 < response.usage.completion_tokens <= 40
    assert response.cost_source == "proxy" and response.call_id
    price_in, price_out = PRICES[model]
    computed = response.usage.prompt_tokens * price_in + response.usage.completion_tokens * price_out
    assert response.cost_usd == pytest.approx(float(computed), rel=1e-9)
    assert provider.calculate_cost(response.usage.prompt_tokens, response.usage.completion_tokens, model) == (
        pytest.approx(response.cost_usd, rel=1e-9)
    )


async def test_free_model_costs_zero(provider: LiteLLMProvider) -> None:
    response = await provider.chat_completion(MESSAGES, "llama-3-8b")
    # the proxy may omit the cost header for a zero cost: then it is computed from the (zero) price
    assert response.cost_usd == 0.0 and response.cost_source in ("proxy", "computed")


async def test_mock_model_through_the_proxy(provider: LiteLLMProvider) -> None:
    response = await provider.chat_completion(MESSAGES, "mock-gpt")
    assert response.content == "hello" and response.usage is not None and response.usage.total_tokens == 30
    assert response.cost_usd == pytest.approx(10 * 1.5e-7 + 20 * 6e-7)


async def test_stream_with_usage_and_cost(provider: LiteLLMProvider) -> None:
    stream = provider.stream_chat_completion(MESSAGES, "gpt-4o", max_tokens=30)
    text = ""
    async for chunk in stream:
        text += chunk["choices"][0]["delta"].get("content") or ""
    assert text and stream.completed and stream.usage is not None
    assert 0 < stream.usage.completion_tokens <= 30
    price_in, price_out = PRICES["gpt-4o"]
    computed = stream.usage.prompt_tokens * price_in + stream.usage.completion_tokens * price_out
    assert stream.cost_usd == pytest.approx(float(computed), rel=1e-9)


async def test_stream_passes_the_usage_chunk_when_asked(provider: LiteLLMProvider) -> None:
    chunks = [
        chunk
        async for chunk in provider.stream_chat_completion(
            MESSAGES, "gpt-4o-mini", max_tokens=10, stream_options={"include_usage": True}
        )
    ]
    assert chunks[-1]["usage"]["total_tokens"] > 0 and chunks[-1]["choices"][0]["delta"] == {}


async def test_unknown_model_is_model_not_found(provider: LiteLLMProvider) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await provider.chat_completion(MESSAGES, "no-such-model")
    assert caught.value.status_code == 400


async def test_wrong_key_is_an_authentication_error(litellm_proxy: LiteLLMProxy) -> None:
    async with LiteLLMProvider(litellm_proxy.base_url, "sk-wrong-key-123") as provider:
        with pytest.raises(AuthenticationError) as caught:
            await provider.chat_completion(MESSAGES, "gpt-4o-mini")
    assert "sk-wrong-key-123" not in str(caught.value)


async def test_no_key_is_an_authentication_error(litellm_proxy: LiteLLMProxy) -> None:
    async with LiteLLMProvider(litellm_proxy.base_url) as provider:
        with pytest.raises(AuthenticationError):
            await provider.chat_completion(MESSAGES, "gpt-4o-mini")


async def test_custom_price_overrides_the_proxy_for_routing_but_the_bill_is_the_proxys(
    litellm_proxy: LiteLLMProxy,
) -> None:
    custom = {"gpt-4o-mini": {"pricing": {"input_per_1m": 100, "output_per_1m": 100}}}
    async with LiteLLMProvider(litellm_proxy.base_url, litellm_proxy.master_key, custom_models=custom) as provider:
        await provider.sync_pricing()
        info = provider.get_model_info("gpt-4o-mini")
        assert info["pricing"]["input_usd_per_1m"] == "100" and info["context_window"] == 128000
        response = await provider.chat_completion(MESSAGES, "gpt-4o-mini", max_tokens=5)
        assert response.usage is not None
        billed = response.usage.prompt_tokens * 1.5e-7 + response.usage.completion_tokens * 6e-7
        assert response.cost_usd == pytest.approx(billed, rel=1e-9)


async def test_unpriced_custom_model_is_refused_in_strict_mode(litellm_proxy: LiteLLMProxy) -> None:
    custom = {"gpt-4o-mini": {"pricing": {"input": 0.001, "output": 0.002}}}
    async with LiteLLMProvider(litellm_proxy.base_url, litellm_proxy.master_key, custom_models=custom) as provider:
        with pytest.raises(PricingError):
            provider.calculate_cost(10, 10, "model-nobody-priced")


async def test_proxy_down_is_provider_unavailable_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with LiteLLMProvider(url, "k", max_retries=0) as provider:
        with pytest.raises(ProviderUnavailableError, match="proxy is running"):
            await provider.chat_completion(MESSAGES, "gpt-4o")
        assert await provider.health_check() is False
