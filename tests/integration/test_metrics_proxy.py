"""Metrics against the real LiteLLM proxy: what the counters say equals what the responses reported."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from prometheus_client import CollectorRegistry

from app.errors import ModelNotFoundError
from app.metrics import CostmuxMetrics
from app.models import ChatMessage
from app.pricing import to_decimal_usd
from app.providers import LiteLLMProvider, ProviderRegistry
from app.router import CostOptimizedRouter
from app.sandbox import LiteLLMProxy

# routed to paid models only (not the free llama-3-8b, nor mock-gpt, whose usage is fixed), so every cost counts
PROMPTS = [
    "What is the capital of France?",
    "Write a Python function that merges two sorted lists, with tests.",
    "Summarise the plot of Hamlet in three sentences.",
    "Translate 'good morning' into German, Spanish and Italian.",
]


async def test_counters_equal_what_the_routed_responses_reported(litellm_proxy: LiteLLMProxy) -> None:
    registry = CollectorRegistry()
    metrics = CostmuxMetrics(registry)
    async with LiteLLMProvider(litellm_proxy.base_url, litellm_proxy.master_key) as provider:
        providers = ProviderRegistry()
        providers.register(metrics.instrument(provider))
        router = metrics.instrument(CostOptimizedRouter(providers=providers))
        await provider.get_available_models()  # the proxy's models are configuration: learned when next seen

        expected_requests: dict[str, int] = defaultdict(int)
        routed_to: dict[str, int] = defaultdict(int)
        expected_tokens: dict[tuple[str, str], int] = defaultdict(int)
        expected_cost: dict[str, Decimal] = defaultdict(Decimal)
        for prompt in PROMPTS:
            routed = await router.route_request(
                [ChatMessage(role="user", content=prompt)], max_cost=0.01, exclude=["mock-gpt", "llama-3-8b"]
            )
            usage = routed.usage
            assert usage is not None and routed.response.cost_usd is not None and routed.fallbacks == 0
            expected_requests[routed.model] += 1
            routed_to[routed.model] += 1
            expected_tokens[(routed.model, "prompt")] += usage.prompt_tokens
            expected_tokens[(routed.model, "completion")] += usage.completion_tokens
            expected_cost[routed.model] += to_decimal_usd(routed.response.cost_usd)

        stream = provider.stream_chat_completion([ChatMessage(role="user", content="Count to five.")], "gpt-4o")
        async for _ in stream:
            pass
        assert stream.usage is not None and stream.cost_usd is not None
        expected_requests["gpt-4o"] += 1
        expected_tokens[("gpt-4o", "prompt")] += stream.usage.prompt_tokens
        expected_tokens[("gpt-4o", "completion")] += stream.usage.completion_tokens
        expected_cost["gpt-4o"] += to_decimal_usd(stream.cost_usd)
        with pytest.raises(ModelNotFoundError):  # a name the configuration does not know
            await provider.chat_completion([ChatMessage(role="user", content="hi")], "no-such-model-xyz")

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, {"provider": "litellm", **labels}) or 0.0

    for model, count in expected_requests.items():
        assert value("costmux_requests_total", model=model, outcome="success") == count
        assert value("costmux_cost_usd_total", model=model) == pytest.approx(float(expected_cost[model]), rel=1e-9)
    for (model, kind), tokens in expected_tokens.items():
        assert value("costmux_tokens_total", model=model, kind=kind) == tokens
    for model, count in routed_to.items():
        assert value("costmux_routing_decisions_total", strategy="cost_optimized", model=model) == count
    assert value("costmux_time_to_first_token_seconds_count", model="gpt-4o") == 1
    assert value("costmux_requests_total", model="other", outcome="model_not_found") == 1
    assert "no-such-model-xyz" not in metrics.render().decode()
    assert value("costmux_model_health", model="gpt-4o-mini") == 1
    assert sum(routed_to.values()) == len(PROMPTS) and all(cost > 0 for cost in expected_cost.values())
