"""Reasoning behaviour, the caller's limits, proxy aliases and priors for unknown models (no network)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.catalog import ReasoningRequest, ReasoningStyle, default_catalog, quality_prior, reasoning_request
from app.catalog.prior import HARD_TASKS, KNOWN_VENDOR_MARGIN, UNKNOWN_VENDOR_MARGIN
from app.errors import InvalidRequestError
from app.models import ChatMessage
from app.pricing import parse_pricing
from app.providers import LiteLLMProvider
from app.providers.model_registry import ModelRegistry, parse_model_info
from app.providers.payloads import request_body
from app.router import CostOptimizedRouter, HeuristicRouter
from app.router.budget import caller_output_limit
from app.tasks import TaskType


def entry(name: str) -> Any:
    found = default_catalog().find(name)
    assert found is not None
    return found


# -- what a request asks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, None),
        ({"reasoning_effort": "high"}, ReasoningRequest("high", None)),
        ({"reasoning_effort": {"effort": "LOW", "summary": "auto"}}, ReasoningRequest("low", None)),
        ({"reasoning_effort": "bogus"}, None),
        ({"thinking": {"type": "enabled", "budget_tokens": 3000}}, ReasoningRequest(None, 3000)),
        ({"thinking": {"type": "disabled"}}, ReasoningRequest("none", None)),
    ],
)
def test_reasoning_request_reads_the_openai_and_anthropic_spellings(params: Any, expected: Any) -> None:
    assert reasoning_request(params) == expected


def test_each_style_spends_and_bounds_reasoning_its_own_way() -> None:
    gpt5, sonnet, flash_lite, reasoner = (
        entry(n).reasoning for n in ("gpt-5", "claude-sonnet-4-5", "gemini-2.5-flash-lite", "deepseek-reasoner")
    )
    assert gpt5.style is ReasoningStyle.OPENAI and gpt5.limit_param == "max_completion_tokens"
    assert sonnet.limit_param == flash_lite.limit_param == reasoner.limit_param == "max_tokens"
    # OpenAI reasons at medium unless told; "minimal" and "high" change the expectation
    assert gpt5.expected_reasoning_tokens(None) == gpt5.expected_tokens["medium"]
    assert gpt5.expected_reasoning_tokens(ReasoningRequest("minimal", None)) < gpt5.expected_reasoning_tokens(
        ReasoningRequest("high", None)
    )
    assert gpt5.expected_reasoning_tokens(ReasoningRequest("none", None)) == 0
    # Claude thinks only when asked; an explicit budget is what it may spend; max_tokens must exceed the budget
    assert sonnet.expected_reasoning_tokens(None) == 0
    assert sonnet.expected_reasoning_tokens(ReasoningRequest(None, 5000)) == 5000
    assert sonnet.minimum_limit_tokens(ReasoningRequest("high", None)) == 4096  # LiteLLM 1.106.2's budget
    assert gpt5.minimum_limit_tokens(ReasoningRequest("high", None)) == 0
    # Flash-Lite does not think by default; DeepSeek's reasoner always does, whatever the effort
    assert flash_lite.expected_reasoning_tokens(None) == 0
    assert reasoner.expected_reasoning_tokens(ReasoningRequest("none", None)) > 0


def test_gpt_5_1_does_not_reason_unless_asked() -> None:
    reasoning = entry("gpt-5.1").reasoning
    assert reasoning.expected_reasoning_tokens(None) == 0
    assert reasoning.expected_reasoning_tokens(ReasoningRequest("medium", None)) > 0


def test_the_caller_limit_is_the_smaller_of_both_spellings() -> None:
    assert caller_output_limit(None, {}) is None
    assert caller_output_limit(500, {"max_completion_tokens": 300}) == 300
    assert caller_output_limit(None, {"max_completion_tokens": 300}) == 300
    with pytest.raises(InvalidRequestError, match="max_completion_tokens"):
        caller_output_limit(None, {"max_completion_tokens": 0})


HI = [ChatMessage(role="user", content="hi")]


def test_one_limit_is_sent_under_the_model_s_field() -> None:
    body = request_body(HI, "o3", 800, None, {"max_completion_tokens": 900}, limit_field="max_completion_tokens")
    assert body["max_completion_tokens"] == 800 and "max_tokens" not in body
    body = request_body(HI, "gpt-4o", None, None, {"max_completion_tokens": 900})
    assert body["max_tokens"] == 900 and "max_completion_tokens" not in body
    with pytest.raises(InvalidRequestError):
        request_body(HI, "gpt-4o", None, None, {"max_completion_tokens": -1})


# -- proxy aliases -----------------------------------------------------------------------------------------------


def _model_info(*deployments: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(deployments)}


def test_a_proxy_alias_is_resolved_through_what_it_serves() -> None:
    registry = ModelRegistry(default_catalog())
    registry.set_discovered(
        parse_model_info(
            _model_info(
                {"model_name": "smart", "litellm_params": {"model": "anthropic/claude-sonnet-4-5"}, "model_info": {}},
                {
                    "model_name": "cheap",
                    "litellm_params": {"model": "openai/my-deployment"},
                    "model_info": {"base_model": "azure/gpt-4.1-nano"},
                },
                {"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o-mini"}, "model_info": {}},
            )
        )
    )
    smart, cheap, misnamed = (registry.get(n) for n in ("smart", "cheap", "gpt-4o"))
    assert smart is not None and smart.metadata["catalog_entry"] == "claude-sonnet-4-5"
    assert smart.pricing is not None  # anthropic/ is the list-price route
    assert cheap is not None and cheap.metadata["catalog_entry"] == "gpt-4.1-nano"
    assert misnamed is not None and misnamed.metadata["catalog_entry"] == "gpt-4o-mini"  # what it serves wins


def test_a_host_route_takes_quality_but_never_the_catalog_price() -> None:
    registry = ModelRegistry(default_catalog())
    registry.set_discovered(
        parse_model_info(
            _model_info({"model_name": "fast-llama", "litellm_params": {"model": "groq/llama-3.1-8b-instant"}})
        )
    )
    spec = registry.get("fast-llama")
    assert spec is not None and spec.metadata["catalog_entry"] == "llama-3.1-8b-instruct"
    assert spec.pricing is None and spec.quality is not None and not spec.assumed_quality


# -- priors ------------------------------------------------------------------------------------------------------


def test_an_unknown_model_of_a_known_vendor_starts_below_its_best_cheaper_sibling() -> None:
    prior = quality_prior("gpt-5.5", parse_pricing({"input_per_1m": 5, "output_per_1m": 30}), default_catalog())
    assert prior is not None
    reference = entry(prior.reference)
    assert reference.provider == "openai"
    hard, other = KNOWN_VENDOR_MARGIN
    for task in TaskType:
        margin = hard if task in HARD_TASKS else other
        assert prior.quality[task] == pytest.approx(reference.quality[task] - margin)
    assert "assumed from" in prior.basis


def test_an_unknown_vendor_gets_a_wider_margin_and_an_unpriced_model_none() -> None:
    pricing = parse_pricing({"input_per_1m": 1, "output_per_1m": 3})
    prior = quality_prior("acme-large-2", pricing, default_catalog())
    assert prior is not None and "vendor unknown" in prior.basis
    reference = entry(prior.reference)
    assert prior.quality[TaskType.CODE_GENERATION] == pytest.approx(
        reference.quality[TaskType.CODE_GENERATION] - UNKNOWN_VENDOR_MARGIN[0]
    )
    assert quality_prior("acme-large-2", None, default_catalog()) is None


def test_a_model_cheaper_than_all_its_siblings_starts_from_the_cheapest() -> None:
    prior = quality_prior("gpt-5-pico", parse_pricing({"input_per_1m": 0.01, "output_per_1m": 0.02}), default_catalog())
    assert prior is not None and "cheapest" in prior.basis


def _provider(**custom: Any) -> LiteLLMProvider:
    return LiteLLMProvider("http://127.0.0.1:9", "sk-test", custom_models=custom)


def test_an_unknown_model_is_assumed_in_the_decision_and_never_preferred_for_hard_tasks() -> None:
    price = {"input_per_1m": 1.25, "output_per_1m": 10}
    provider = _provider(**{"gpt-5": {"pricing": price}, "gpt-5.2-preview-x": {"pricing": price}})
    spec = provider.get_model_spec("gpt-5.2-preview-x")
    assert spec is not None and spec.assumed_quality == frozenset(TaskType)
    assert "quality_prior" in spec.metadata and spec.source.endswith("+prior")
    hard = [ChatMessage(role="user", content="Write a Python function that merges two sorted linked lists in place.")]
    for router in (HeuristicRouter(), CostOptimizedRouter()):
        decision = router.decide(hard, {"litellm": provider}, max_cost=Decimal("0.05"))
        assert decision.model == "gpt-5", router
        unknown = next(v for v in decision.candidates if v.model == "gpt-5.2-preview-x")
        assert unknown.quality_is_default and "assumed" in unknown.detail
        assert unknown.quality < next(v for v in decision.candidates if v.model == "gpt-5").quality
