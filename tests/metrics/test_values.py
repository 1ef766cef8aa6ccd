"""Exact metric values after known sequences of provider calls and routing decisions (fake clock, scripted proxy)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

import pytest

from app.errors import BudgetExceededError, NoModelAvailableError, ProviderUnavailableError, RateLimitError
from app.metrics import CostmuxMetrics
from app.providers import LiteLLMProvider, ProviderRegistry
from app.providers.health import HealthPolicy
from app.router import CostOptimizedRouter, HeuristicRouter
from tests.metrics.conftest import CALL_S, FakeClock, ScriptedProxy, chunk, sse
from tests.scripted import StepClock

MESSAGES = [{"role": "user", "content": "hello there"}]
CODE = [{"role": "user", "content": "Write a Python function that reverses a linked list, with tests."}]
Make = Callable[..., LiteLLMProvider]
Sample = Callable[..., float | None]
P = {"provider": "litellm"}


async def test_successes_count_requests_tokens_cost_and_durations(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make())
    costs = [(await provider.chat_completion(MESSAGES, "m")).cost_usd for _ in range(3)]
    assert sample("costmux_requests_total", **P, model="m", outcome="success") == 3
    assert sample("costmux_tokens_total", **P, model="m", kind="prompt") == 30
    assert sample("costmux_tokens_total", **P, model="m", kind="completion") == 60
    # each call: 10 × $2e-6 + 20 × $8e-6 = $0.00018, added as float(Decimal) once per call
    assert costs == [0.00018] * 3
    assert sample("costmux_cost_usd_total", **P, model="m") == pytest.approx(0.00054, rel=1e-12)
    duration = {**P, "model": "m", "stream": "false"}
    assert sample("costmux_request_duration_seconds_count", **duration) == 3
    assert sample("costmux_request_duration_seconds_sum", **duration) == 3 * CALL_S
    assert sample("costmux_request_duration_seconds_bucket", **duration, le="0.1") == 0
    assert sample("costmux_request_duration_seconds_bucket", **duration, le="0.25") == 3
    assert sample("costmux_time_to_first_token_seconds_count", **P, model="m") is None  # not a stream


async def test_failures_count_by_outcome_without_tokens_or_cost(
    make: Make, proxy: ScriptedProxy, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make())
    proxy.script["m"] = [503, 400]
    for _ in range(2):
        with pytest.raises(Exception):  # noqa: B017 - ProviderUnavailableError, then BadRequestError
            await provider.chat_completion(MESSAGES, "m")
    await provider.chat_completion(MESSAGES, "m")
    assert sample("costmux_requests_total", **P, model="m", outcome="unavailable") == 1
    assert sample("costmux_requests_total", **P, model="m", outcome="bad_request") == 1
    assert sample("costmux_requests_total", **P, model="m", outcome="success") == 1
    assert sample("costmux_tokens_total", **P, model="m", kind="prompt") == 10  # the success only
    assert sample("costmux_request_duration_seconds_count", **P, model="m", stream="false") == 3


async def test_retries_count_per_retry_and_the_request_once(
    make: Make, proxy: ScriptedProxy, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make(max_retries=2))
    proxy.script["m"] = [503, 504]
    await provider.chat_completion(MESSAGES, "m")
    assert sample("costmux_retries_total", **P, model="m", error="unavailable") == 2
    assert sample("costmux_requests_total", **P, model="m", outcome="success") == 1
    assert sample("costmux_requests_total", **P, model="m", outcome="unavailable") is None


async def test_streams_record_ttft_tokens_and_cost(
    make: Make, proxy: ScriptedProxy, clock: FakeClock, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make())
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    proxy.script["m"] = [sse(chunk("hel"), chunk("lo", finish="stop"), chunk(usage=usage)), 500]
    async for _ in provider.stream_chat_completion(MESSAGES, "m"):
        clock.now += 0.5
    with pytest.raises(ProviderUnavailableError):
        async for _ in provider.stream_chat_completion(MESSAGES, "m"):
            pass
    assert sample("costmux_requests_total", **P, model="m", outcome="success") == 1
    assert sample("costmux_requests_total", **P, model="m", outcome="unavailable") == 1
    assert sample("costmux_time_to_first_token_seconds_count", **P, model="m") == 1  # the failed one had none
    assert sample("costmux_time_to_first_token_seconds_sum", **P, model="m") == CALL_S
    assert sample("costmux_request_duration_seconds_count", **P, model="m", stream="true") == 2
    assert sample("costmux_request_duration_seconds_sum", **P, model="m", stream="true") == 2 * CALL_S + 1.0
    assert sample("costmux_tokens_total", **P, model="m", kind="completion") == 3
    assert sample("costmux_cost_usd_total", **P, model="m") == pytest.approx(float(Decimal("0.000048")), rel=1e-12)


async def test_rate_limit_holds_and_waits(
    make: Make, proxy: ScriptedProxy, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make(rate_limit_timeout_s=120))
    proxy.script["m"] = [429]
    with pytest.raises(RateLimitError):
        await provider.chat_completion(MESSAGES, "m")
    for _ in range(2):  # 1 rpm: the second call waits 60 s minus the first call's 0.25 s
        await provider.chat_completion(MESSAGES, "rpm1")
    with pytest.raises(RateLimitError):  # refused at once: no wait recorded
        await provider.chat_completion(MESSAGES, "rpm1", rate_limit_timeout_s=0)
    assert sample("costmux_rate_limit_holds_total", **P, model="m") == 1
    assert sample("costmux_requests_total", **P, model="m", outcome="rate_limited") == 1
    assert sample("costmux_rate_limit_wait_seconds_count", **P, model="rpm1") == 1
    assert sample("costmux_rate_limit_wait_seconds_sum", **P, model="rpm1") == 60 - CALL_S
    assert sample("costmux_requests_total", **P, model="rpm1", outcome="rate_limited") == 1


async def test_the_breaker_gauge_cooldown_and_openings(
    make: Make, proxy: ScriptedProxy, clock: FakeClock, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make(health_policy=HealthPolicy(failure_threshold=2, cooldown_s=5)))
    health = {**P, "model": "m"}
    assert sample("costmux_model_health", **health) == 1  # known models start closed
    proxy.script["m"] = [503, 503, 503]
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            await provider.chat_completion(MESSAGES, "m")
    assert sample("costmux_model_health", **health) == 0
    assert sample("costmux_model_cooldown_seconds", **health) == 5
    clock.now += 5
    with pytest.raises(ProviderUnavailableError):  # the trial fails: open again, cooldown doubled
        await provider.chat_completion(MESSAGES, "m")
    assert sample("costmux_breaker_openings_total", **health) == 2
    assert sample("costmux_model_cooldown_seconds", **health) == 10
    clock.now += 10
    states = []
    provider.events.subscribe(lambda e: states.append(sample("costmux_model_health", **health)))
    await provider.chat_completion(MESSAGES, "m")
    assert states[0] == 0.5  # half_open while the trial ran (the metrics observer runs first)
    assert sample("costmux_model_health", **health) == 1
    assert sample("costmux_model_cooldown_seconds", **health) == 0
    assert sample("costmux_breaker_openings_total", **health) == 2


async def test_decisions_rejections_and_decision_time(make: Make, metrics: CostmuxMetrics, sample: Sample) -> None:
    provider = metrics.instrument(make())
    router = metrics.instrument(HeuristicRouter(providers={"p": provider}, clock=StepClock(0.00004)))
    for _ in range(2):
        decision = router.decide(CODE, max_cost=0.05, exclude=["small", "rpm1"])
    chosen = {"strategy": "heuristic", "provider": "p", "model": decision.model}
    assert sample("costmux_routing_decisions_total", **chosen) == 2
    assert sample("costmux_routing_rejections_total", strategy="heuristic", reason="excluded") == 4
    assert sample("costmux_routing_decision_seconds_count", strategy="heuristic") == 2
    assert sample("costmux_routing_decision_seconds_sum", strategy="heuristic") == pytest.approx(0.00008)
    assert sample("costmux_routing_decision_seconds_bucket", strategy="heuristic", le="2.5e-05") == 0
    assert sample("costmux_routing_decision_seconds_bucket", strategy="heuristic", le="5e-05") == 2


async def test_refusals_by_reason(make: Make, metrics: CostmuxMetrics, sample: Sample) -> None:
    provider = metrics.instrument(make())
    router = metrics.instrument(CostOptimizedRouter(providers={"litellm": provider}))
    with pytest.raises(BudgetExceededError):
        router.decide(CODE, max_cost=1e-9)
    for _ in range(2):
        with pytest.raises(NoModelAvailableError):
            router.decide(CODE, exclude=provider.get_supported_models())
    cost = {"strategy": "cost_optimized"}
    assert sample("costmux_budget_refusals_total", **cost, reason="over_budget") == 1
    assert sample("costmux_budget_refusals_total", **cost, reason="no_model") == 2
    models = len(provider.get_supported_models())
    assert sample("costmux_routing_rejections_total", **cost, reason="over_budget") == models
    assert sample("costmux_routing_rejections_total", **cost, reason="excluded") == 2 * models
    assert sample("costmux_routing_decision_seconds_count", **cost) == 3
    assert sample("costmux_routing_decisions_total", **cost, provider="litellm", model="m") is None


async def test_fallbacks_and_the_requests_they_make(
    make: Make, proxy: ScriptedProxy, metrics: CostmuxMetrics, sample: Sample
) -> None:
    provider = metrics.instrument(make())
    router = metrics.instrument(HeuristicRouter(providers={"litellm": provider}))
    proxy.script = {"frontier": [503, 503], "mid": [502]}
    first = await router.route_request(CODE, max_cost=0.05, exclude=["m", "rpm1"])
    second = await router.route_request(CODE, max_cost=0.05, exclude=["m", "rpm1"])
    assert (first.model, second.model) == ("small", "mid")
    fallback = {"strategy": "heuristic", "provider": "litellm", "error": "unavailable"}
    assert sample("costmux_fallbacks_total", **fallback, model="frontier") == 2
    assert sample("costmux_fallbacks_total", **fallback, model="mid") == 1
    assert sample("costmux_routing_decisions_total", strategy="heuristic", provider="litellm", model="frontier") == 2
    assert sample("costmux_requests_total", **P, model="frontier", outcome="unavailable") == 2
    assert sample("costmux_requests_total", **P, model="small", outcome="success") == 1
    assert sample("costmux_requests_total", **P, model="mid", outcome="success") == 1
    total = sum(s.value for m in metrics.registry.collect() for s in m.samples if s.name == "costmux_cost_usd_total")
    assert total == pytest.approx(first.cost_usd + second.cost_usd, rel=1e-12)


async def test_an_actual_cost_above_the_worst_case_is_counted(
    make: Make, proxy: ScriptedProxy, metrics: CostmuxMetrics, sample: Sample
) -> None:
    proxy.completion_tokens = 100_000  # an upstream that ignores max_tokens
    provider = metrics.instrument(make())
    router = metrics.instrument(HeuristicRouter(providers={"litellm": provider}))
    routed = await router.route_request(CODE, max_cost=0.05, max_tokens=50)
    assert sample("costmux_cost_over_estimate_total", provider="litellm", model=routed.model) == 1
    assert sample("costmux_tokens_total", **P, model=routed.model, kind="completion") == 100_000


async def test_a_router_alone_counts_decisions_not_requests(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    router = metrics.instrument(CostOptimizedRouter(providers={"litellm": make()}))
    routed = await router.route_request(MESSAGES, max_cost=0.05)
    assert (
        sample("costmux_routing_decisions_total", strategy="cost_optimized", provider="litellm", model=routed.model)
        == 1
    )
    assert sample("costmux_requests_total", **P, model=routed.model, outcome="success") is None


async def test_a_registry_s_providers_are_counted_also_when_registered_later(
    make: Make, metrics: CostmuxMetrics, sample: Sample
) -> None:
    registry = metrics.instrument(ProviderRegistry({"litellm": make()}))
    await registry["litellm"].chat_completion(MESSAGES, "m")
    late = make(name="late")
    registry.register(late)  # after instrumenting: observed from now on
    await late.chat_completion(MESSAGES, "m")
    assert sample("costmux_requests_total", **P, model="m", outcome="success") == 1
    assert sample("costmux_requests_total", provider="late", model="m", outcome="success") == 1
    registry.unregister("late")  # no longer observed
    await late.chat_completion(MESSAGES, "m")
    assert sample("costmux_requests_total", provider="late", model="m", outcome="success") == 1
    metrics.uninstrument(registry)  # neither its providers nor its later registrations
    await registry["litellm"].chat_completion(MESSAGES, "m")
    registry.register(late)
    await late.chat_completion(MESSAGES, "m")
    assert sample("costmux_requests_total", **P, model="m", outcome="success") == 1
    assert sample("costmux_requests_total", provider="late", model="m", outcome="success") == 1


class _SilentProvider:
    """A provider of the ``Provider`` interface that emits no events (a host's own implementation)."""

    name = "silent"
    models_version = 0

    def get_supported_models(self) -> list[str]:
        return []

    def get_model_spec(self, model: str) -> None:
        return None

    async def ensure_model_info(self) -> None:
        return None

    async def chat_completion(self, messages: object, model: str, **params: object) -> None:
        raise NotImplementedError

    def model_availability(self, model: str, prompt_tokens: int) -> None:
        return None


def test_a_registered_provider_without_events_is_named_in_a_warning(
    metrics: CostmuxMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ProviderRegistry()
    metrics.instrument(registry)
    with caplog.at_level(logging.WARNING, logger="costmux.metrics"):
        registry.register(_SilentProvider())  # type: ignore[arg-type]
        registry.unregister("silent")
    assert [r.getMessage() for r in caplog.records] == ["provider 'silent' emits no events: its calls are not counted"]
