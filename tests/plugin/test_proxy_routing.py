"""ProxyRouting: the callback's logic on stand-ins of the proxy's objects (the real proxy: tests/integration)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from app.errors import BudgetExceededError, InvalidRequestError, NoModelAvailableError
from app.integrations.attempts import AttemptRefusedError
from app.integrations.plugin_settings import PluginSettings
from app.integrations.proxy_routing import ProxyRouting, classify_failure, ledger_id
from app.metrics import CostmuxMetrics

from .conftest import FakeProxyRouter, StepClock, attempt_kwargs, chat


class UpstreamError(Exception):
    """Stand-in of LiteLLM's exceptions: what counts is the class name and ``status_code``."""

    def __init__(self, status_code: int | None) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code


class Timeout(UpstreamError):
    pass


class APIConnectionError(UpstreamError):
    pass


def _route(routing: ProxyRouting, data: dict[str, Any], cooling: tuple[str, ...] = ()) -> Any:
    request = routing.read(data)
    return None if request is None else routing.route(data, request, cooling)


def test_auto_is_rewritten_to_the_choice_within_the_cap(routing: ProxyRouting) -> None:
    data = chat(max_cost=0.001, stream=True)
    ledger = _route(routing, data)
    decision = ledger.decision
    assert data["model"] == decision.model == "gpt-4o-mini"  # the cheapest meeting the floor
    assert data["max_tokens"] == decision.max_tokens and decision.worst_case_cost_usd <= Decimal("0.001")
    assert data["fallbacks"] == [verdict.model for verdict in decision.ranked[1:3]]
    assert "max_cost" not in data  # never sent upstream
    assert data["stream_options"] == {"include_usage": True} and data["_litellm_strip_stream_usage"] is True
    summary = data["metadata"]["costmux"]
    assert (
        summary["model"] == "gpt-4o-mini" and summary["max_cost"] == "0.001" and summary["strategy"] == "cost_optimized"
    )
    assert summary["rejected"] == {"mystery": "unpriced"}


def test_a_request_carries_its_own_cost_quality_knob(routing: ProxyRouting) -> None:
    cheapest = chat(max_cost=0.01, quality_share=0)
    best = chat(max_cost=0.01, quality_share=1.0)
    cheap_ledger, best_ledger = _route(routing, cheapest), _route(routing, best)
    assert cheap_ledger.decision.quality_share == 0.0 and best_ledger.decision.quality_share == 1.0
    assert "quality_share" not in cheapest and "quality_share" not in best  # never sent upstream
    assert cheap_ledger.decision.model == "gpt-4o-mini"  # any quality will do: the cheapest
    qualities = {v.model: v.expected_quality for v in best_ledger.decision.ranked}
    assert qualities[best_ledger.decision.model] == max(qualities.values())  # all of the best quality: the best
    assert best_ledger.decision.model != cheap_ledger.decision.model
    assert best["metadata"]["costmux"]["quality_share"] == 1.0
    assert routing.headers(best)["x-costmux-quality-share"] == "1.0"
    assert "x-costmux-quality-share" not in routing.headers(_with_route(routing, chat(max_cost=0.01)))


def _with_route(routing: ProxyRouting, data: dict[str, Any]) -> dict[str, Any]:
    _route(routing, data)
    return data


def test_a_client_asking_for_stream_usage_keeps_it(routing: ProxyRouting) -> None:
    data = chat(stream=True, stream_options={"include_usage": True})
    _route(routing, data)
    assert "_litellm_strip_stream_usage" not in data


def test_max_completion_tokens_is_the_field_lowered(routing: ProxyRouting) -> None:
    data = chat(max_cost=0.0001, max_completion_tokens=5000)
    _route(routing, data)
    assert "max_tokens" not in data and data["max_completion_tokens"] < 5000


def test_named_models_pass_through_untouched(routing: ProxyRouting) -> None:
    data = chat(model="gpt-4o", max_cost=0.0000001)
    before = dict(data)
    assert _route(routing, data) is None
    assert data == before


def test_a_capped_named_model_keeps_its_model_and_fallbacks(proxy_router: FakeProxyRouter) -> None:
    routing = ProxyRouting(PluginSettings.load({"cap_named_models": True}))
    routing.sync(proxy_router)
    data = chat(model="gpt-4o", max_cost=0.001, fallbacks=["gpt-4o-mini"])
    ledger = _route(routing, data)
    assert data["model"] == "gpt-4o" and data["fallbacks"] == ["gpt-4o-mini"]  # the operator's/client's own
    assert data["max_tokens"] == ledger.decision.max_tokens < 400
    with pytest.raises(BudgetExceededError):
        _route(routing, chat(model="gpt-4o", max_cost=0.0000001))
    unknown = chat(model="openai/some-wildcard-model", max_cost=0.001)
    assert _route(routing, unknown) is None  # not a group: LiteLLM resolves it


def test_refusals_are_costmux_errors(routing: ProxyRouting) -> None:
    with pytest.raises(BudgetExceededError) as caught:
        _route(routing, chat("hello " * 300, max_cost=0.0000001))
    assert caught.value.cheapest_cost_usd is not None and caught.value.cheapest_cost_usd > 0.0000001
    with pytest.raises(InvalidRequestError):
        _route(routing, chat(model="auto:fastest"))


def test_cooling_groups_are_skipped(routing: ProxyRouting) -> None:
    data = chat(max_cost=0.001)
    ledger = _route(routing, data, cooling=("gpt-4o-mini-id",))
    assert data["model"] != "gpt-4o-mini"
    assert (
        ledger.decision.candidates[[v.model for v in ledger.decision.candidates].index("gpt-4o-mini")].reason
        == "unhealthy"
    )
    with pytest.raises(NoModelAvailableError):
        _route(routing, chat(), cooling=("gpt-4o-id", "gpt-4o-mini-id", "claude-3-haiku-id"))


def test_each_attempt_is_planned_and_charged_and_counted_once(routing: ProxyRouting) -> None:
    registry = CollectorRegistry()
    metrics = CostmuxMetrics(registry)
    metrics.instrument(routing.router)
    metrics.instrument(routing.deployments)
    data = chat(max_cost=0.012)
    ledger = _route(routing, data)
    first = routing.plan_attempt(attempt_kwargs(data, "gpt-4o-mini"))
    assert first is not None and first["max_tokens"] == 16384  # the deployment's own plan
    routing.attempt_failed(attempt_kwargs(data, "gpt-4o-mini"), Timeout(408), stream=False)
    assert ledger.spent == ledger.attempts[0].worst_case_cost_usd > 0  # no answer: charged its worst case
    second = routing.plan_attempt(attempt_kwargs(data, "claude-3-haiku"))
    assert second is not None and second["max_tokens"] < 4096  # what is left
    routing.attempt_answered(data, cost_usd="0.00003", prompt_tokens=10, completion_tokens=20, stream=False)
    assert ledger.spent == ledger.attempts[0].worst_case_cost_usd + Decimal("0.00003") <= Decimal("0.012")
    value = registry.get_sample_value
    pm = {"provider": "litellm"}
    assert value("costmux_requests_total", {**pm, "model": "gpt-4o-mini", "outcome": "timeout"}) == 1
    assert value("costmux_requests_total", {**pm, "model": "claude-3-haiku", "outcome": "success"}) == 1
    assert value("costmux_cost_usd_total", {**pm, "model": "claude-3-haiku"}) == pytest.approx(0.00003)
    assert value("costmux_tokens_total", {**pm, "model": "claude-3-haiku", "kind": "completion"}) == 20
    fallback = {"strategy": "cost_optimized", **pm, "model": "gpt-4o-mini", "error": "timeout"}
    assert value("costmux_fallbacks_total", fallback) == 1
    assert value("costmux_routing_decisions_total", {"strategy": "cost_optimized", **pm, "model": "gpt-4o-mini"}) == 1
    headers = routing.headers(data)
    assert headers["x-costmux-model"] == "claude-3-haiku" and headers["x-costmux-fallbacks"] == "1"
    assert routing.ledgers.get(ledger_id(data)) is None and len(routing.ledgers) == 0  # ended, headers sent: forgotten


def test_a_retry_on_the_same_group_is_counted_as_a_retry(routing: ProxyRouting) -> None:
    registry = CollectorRegistry()
    CostmuxMetrics(registry).instrument(routing.deployments)
    data = chat(max_cost=0.01)
    _route(routing, data)
    routing.plan_attempt(attempt_kwargs(data, "gpt-4o-mini"))
    routing.attempt_failed(attempt_kwargs(data, "gpt-4o-mini"), UpstreamError(503), stream=False)
    routing.plan_attempt(attempt_kwargs(data, "gpt-4o-mini"))
    labels = {"provider": "litellm", "model": "gpt-4o-mini", "error": "unavailable"}
    assert registry.get_sample_value("costmux_retries_total", labels) == 1


def test_an_attempt_refused_for_budget_is_not_charged(routing: ProxyRouting) -> None:
    data = chat(max_cost=0.001)
    ledger = _route(routing, data)
    routing.plan_attempt(attempt_kwargs(data, "gpt-4o-mini"))
    routing.attempt_failed(attempt_kwargs(data, "gpt-4o-mini"), APIConnectionError(500), stream=False)
    with pytest.raises(AttemptRefusedError) as caught:
        routing.plan_attempt(attempt_kwargs(data, "claude-3-haiku"))
    routing.attempt_failed(attempt_kwargs(data, "claude-3-haiku"), caught.value, stream=False)
    assert len(ledger.attempts) == 1 and ledger.spent <= Decimal("0.001")


def test_requests_costmux_does_not_route_are_not_touched_at_attempt_time(routing: ProxyRouting) -> None:
    kwargs = attempt_kwargs(chat(model="gpt-4o"), "gpt-4o")
    assert routing.plan_attempt(kwargs) is None
    with pytest.raises(AttemptRefusedError, match="without being routed"):
        routing.plan_attempt(attempt_kwargs(chat(), "auto"))


def test_a_client_cannot_name_another_requests_ledger(routing: ProxyRouting) -> None:
    routed = chat(max_cost=0.001)
    _route(routing, routed)
    forged = chat(model="gpt-4o", metadata={"costmux": dict(routed["metadata"]["costmux"])})
    assert routing.read(forged) is None
    assert "costmux" not in forged["metadata"]  # a client's own metadata.costmux is dropped
    assert routing.plan_attempt(attempt_kwargs(forged, "gpt-4o")) is None
    second = chat(max_cost=0.001)
    _route(routing, second)
    assert ledger_id(second) != ledger_id(routed)  # one ledger per request, whatever the call ids


def test_headers_of_a_non_streamed_answer_carry_its_cost(routing: ProxyRouting) -> None:
    data = chat(max_cost=0.001)
    _route(routing, data)
    routing.plan_attempt(attempt_kwargs(data, "gpt-4o-mini"))
    headers = routing.headers(data, response_cost=1.5e-05)
    assert headers["x-costmux-cost"] == "0.000015" and headers["x-costmux-max-cost"] == "0.001"
    assert int(headers["x-costmux-max-tokens"]) > 0 and headers["x-costmux-strategy"] == "cost_optimized"
    assert routing.ledgers.get(ledger_id(data)) is not None  # the answer is not logged yet
    logged = {"litellm_params": {"metadata": data["metadata"]}}  # where LiteLLM's success log carries it
    routing.attempt_answered(logged, cost_usd=1.5e-05, prompt_tokens=1, completion_tokens=1, stream=False)
    assert routing.ledgers.get(ledger_id(data)) is None


def test_no_headers_when_disabled(proxy_router: FakeProxyRouter) -> None:
    routing = ProxyRouting(PluginSettings.load({"decision_headers": False}), clock=StepClock())
    routing.sync(proxy_router)
    data = chat()
    _route(routing, data)
    assert routing.headers(data) == {}


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        (Timeout(408), ("timeout", False)),
        (APIConnectionError(500), ("unavailable", False)),
        (UpstreamError(None), ("other", False)),
        (UpstreamError(429), ("rate_limited", True)),
        (UpstreamError(401), ("authentication", True)),
        (UpstreamError(404), ("model_not_found", True)),
        (UpstreamError(400), ("bad_request", True)),
        (UpstreamError(503), ("unavailable", True)),
    ],
)
def test_failures_are_classified_by_whether_the_upstream_answered(
    exception: Exception, expected: tuple[str, bool]
) -> None:
    assert classify_failure(exception) == expected


def test_a_learned_quality_model_routes_auto_per_prompt(proxy_router: FakeProxyRouter) -> None:
    from app.errors import QualityModelError
    from app.router.quality import LearnedQuality

    routing = ProxyRouting(PluginSettings.load({"quality_model": "default"}))
    routing.sync(proxy_router)
    assert isinstance(routing.router.quality, LearnedQuality)
    ledger = _route(routing, chat(max_cost=0.01))
    sources = {verdict.quality_source for verdict in ledger.decision.ranked}
    assert sources <= {"learned", "difficulty+catalog", "difficulty+prior", "default"} and sources & {
        "learned",
        "difficulty+catalog",
    }
    with pytest.raises(QualityModelError, match="cannot read"):
        ProxyRouting(PluginSettings.load({"quality_model": "/nonexistent/model.json"}))
