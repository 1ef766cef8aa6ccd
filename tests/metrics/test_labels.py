"""Label values come from configuration only: unknown names become ``other``, model names are capped, the
closed sets stay closed; names learned later (new models, registered providers) are picked up."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import pytest
from prometheus_client import CollectorRegistry

from app.events import BudgetRefused, Fallback, RequestFinished, RetryScheduled, RoutingDecided
from app.metrics import CostmuxMetrics
from app.providers import LiteLLMProvider, ProviderRegistry
from app.router import CandidateVerdict, CostOptimizedRouter, PromptAnalysis, RoutingStrategy
from tests.metrics.conftest import PRICED

MESSAGES = [{"role": "user", "content": "hello there"}]
Make = Callable[..., LiteLLMProvider]
Sample = Callable[..., float | None]


def label_values(registry: CollectorRegistry, label: str) -> set[str]:
    return {s.labels[label] for m in registry.collect() for s in m.samples if label in s.labels}


async def test_a_model_the_configuration_does_not_know_is_other(
    make: Make, metrics: CostmuxMetrics, sample: Sample, registry: CollectorRegistry
) -> None:
    provider = metrics.instrument(make())
    await provider.chat_completion(MESSAGES, "user-typed-model-1234")
    assert sample("costmux_requests_total", provider="litellm", model="other", outcome="success") == 1
    assert "user-typed-model-1234" not in label_values(registry, "model")


async def test_models_added_later_are_learned_when_the_version_changes(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make())
    provider.add_custom_model("late", PRICED["pricing"])
    await provider.chat_completion(MESSAGES, "late")
    assert sample("costmux_requests_total", provider="litellm", model="late", outcome="success") == 1
    assert sample("costmux_model_health", provider="litellm", model="late") == 1


async def test_distinct_model_labels_are_capped(
    make: Make, registry: CollectorRegistry, sample: Sample, caplog: pytest.LogCaptureFixture
) -> None:
    models = {f"m{i}": PRICED for i in range(5)}
    with caplog.at_level(logging.WARNING, logger="costmux.metrics"):
        metrics = CostmuxMetrics(registry, max_models=3)
        provider = metrics.instrument(make(models))
        for name in models:
            await provider.chat_completion(MESSAGES, name)
    assert sample("costmux_requests_total", provider="litellm", model="other", outcome="success") == 2
    assert label_values(registry, "model") == {"m0", "m1", "m2", "other"}
    assert sum("further models are labelled" in r.getMessage() for r in caplog.records) == 1


async def test_provider_names_from_a_registry_are_read_when_registered(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    registry = ProviderRegistry()
    router = metrics.instrument(CostOptimizedRouter(providers=registry))
    registry.register(make(), name="primary")  # registered after instrumenting: learned on first sight
    routed = await router.route_request(MESSAGES, max_cost=0.05, exclude=["rpm1"])
    assert (
        sample("costmux_routing_decisions_total", strategy="cost_optimized", provider="primary", model=routed.model)
        == 1
    )


async def test_providers_passed_per_call_under_unknown_names_are_other(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make())  # known as "litellm"
    router = metrics.instrument(CostOptimizedRouter())
    routed = await router.route_request(MESSAGES, {"adhoc": provider}, max_cost=0.05)
    assert (
        sample("costmux_routing_decisions_total", strategy="cost_optimized", provider="other", model=routed.model) == 1
    )
    assert sample("costmux_requests_total", provider="litellm", model=routed.model, outcome="success") == 1


class Alphabetical(RoutingStrategy):
    """An unregistered strategy (its label is its class name once a router using it is instrumented)."""

    def rank(
        self, kept: Sequence[CandidateVerdict], analysis: PromptAnalysis, quality_share: float | None = None
    ) -> tuple[list[CandidateVerdict], str]:
        return sorted(kept, key=lambda verdict: verdict.model), "alphabetical"


async def test_strategies_are_registered_or_instrumented_names(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = make()
    instrumented = metrics.instrument(CostOptimizedRouter(Alphabetical(), providers={"litellm": provider}))
    instrumented.decide(MESSAGES, max_cost=0.05)
    instrumented.decide(MESSAGES, max_cost=0.05, strategy=type("Adhoc", (Alphabetical,), {})())
    assert sample("costmux_routing_decisions_total", strategy="Alphabetical", provider="litellm", model="frontier") == 1
    assert sample("costmux_routing_decisions_total", strategy="other", provider="litellm", model="frontier") == 1


def test_closed_sets_stay_closed(metrics: CostmuxMetrics, registry: CollectorRegistry, make: Make) -> None:
    metrics.instrument(make())
    metrics.observe(RequestFinished("litellm", "m", False, "user-controlled-outcome", 0.1))
    metrics.observe(RetryScheduled("litellm", None, "weird", 0.5))
    metrics.observe(Fallback("cost_optimized", "litellm", "m", "weird"))
    metrics.observe(BudgetRefused("cost_optimized", "weird", 0.001, (("litellm", "m", "weird"),)))  # type: ignore[arg-type]
    metrics.observe(RoutingDecided("made-up", "nobody", "nothing", 0.001, None, None))
    assert (
        registry.get_sample_value("costmux_requests_total", {"provider": "litellm", "model": "m", "outcome": "other"})
        == 1
    )
    assert (
        registry.get_sample_value("costmux_retries_total", {"provider": "litellm", "model": "none", "error": "other"})
        == 1
    )
    assert label_values(registry, "outcome") == {"other"}
    assert label_values(registry, "error") == {"other"}
    assert label_values(registry, "reason") == {"other"}
    assert label_values(registry, "strategy") == {"cost_optimized", "other"}
    assert (
        registry.get_sample_value(
            "costmux_routing_decisions_total", {"strategy": "other", "provider": "other", "model": "other"}
        )
        == 1
    )


def test_instrumenting_twice_counts_once_and_uninstrument_stops(
    metrics: CostmuxMetrics, registry: CollectorRegistry, make: Make
) -> None:
    provider = make()
    metrics.instrument(provider)
    metrics.instrument(provider)
    provider.events.emit(RequestFinished("litellm", "m", False, "success", 0.1))
    metrics.uninstrument(provider)
    provider.events.emit(RequestFinished("litellm", "m", False, "success", 0.1))
    assert (
        registry.get_sample_value("costmux_requests_total", {"provider": "litellm", "model": "m", "outcome": "success"})
        == 1
    )
    assert not provider.events.active
