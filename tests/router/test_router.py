"""Routers: decisions, verdicts, the hard cap, strategies and the registry (pure: no network)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.errors import BudgetExceededError, ConfigurationError, InvalidRequestError, NoModelAvailableError
from app.router import (
    CostOptimizedRouter,
    HeuristicRouter,
    RejectReason,
    Router,
    RoutingStrategy,
    available_strategies,
    register_strategy,
)
from app.router.decision import CandidateVerdict
from app.router.scoring import AnswerLength
from tests.router.conftest import FLEET, make_provider, model

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
CODE = [
    {
        "role": "user",
        "content": "Write a Python function that merges two sorted lists in O(n) time, with type hints and tests.",
    }
]


def test_seed_select_model_returns_provider_model_reason() -> None:
    provider = make_provider(FLEET)
    result = HeuristicRouter().select_model(messages=QUESTION, providers={"litellm": provider})
    assert isinstance(result, tuple) and len(result) == 3
    provider_name, chosen, reason = result
    assert provider_name == "litellm" and chosen in FLEET and reason


def test_heuristic_prefers_quality_and_cost_optimized_prefers_price() -> None:
    providers = {"litellm": make_provider(FLEET)}
    assert HeuristicRouter().select_model(CODE, providers)[1] == "frontier"
    assert CostOptimizedRouter(quality_share=0.75).select_model(QUESTION, providers)[1] == "small"
    assert CostOptimizedRouter().select_model(QUESTION, providers)[1] == "frontier"  # 0.9 of 0.92 admits no other


def test_every_candidate_gets_a_verdict_with_a_reason() -> None:
    models = {
        **FLEET,
        "unpriced": model(None, None, quality=0.99),
        "tiny-window": model(0.01, 0.01, quality=0.9, window=10),
    }
    decision = CostOptimizedRouter().decide(QUESTION, {"litellm": make_provider(models)}, max_cost=0.01)
    by_model = {verdict.model: verdict for verdict in decision.candidates}
    assert (
        by_model["unpriced"].reason is RejectReason.UNPRICED
        and "never routed as if free" in by_model["unpriced"].detail
    )
    assert by_model["tiny-window"].reason is RejectReason.CONTEXT
    assert all(by_model[name].kept for name in FLEET)
    assert "litellm/unpriced: rejected: unpriced" in decision.explain()


def test_tools_need_a_model_that_supports_them() -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    decision = CostOptimizedRouter(quality_share=0.75).decide(QUESTION, {"litellm": make_provider(FLEET)}, tools=tools)
    small = next(v for v in decision.candidates if v.model == "small")
    assert small.reason is RejectReason.CAPABILITY and "tools" in small.detail
    assert decision.model == "mid"


def test_images_need_vision() -> None:
    image = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        }
    ]
    models = {"frontier": FLEET["frontier"], "mid": model(0.5, 1.5, quality=0.8, tools=True, vision=False)}
    assert CostOptimizedRouter().select_model(image, {"p": make_provider(models)})[1] == "frontier"


def test_max_tokens_sent_is_what_the_cap_affords() -> None:
    decision = HeuristicRouter().decide(CODE, {"litellm": make_provider(FLEET)}, max_cost=0.05)
    assert decision.model == "frontier" and decision.max_tokens is not None
    assert decision.worst_case_cost_usd is not None and decision.worst_case_cost_usd <= Decimal("0.05")
    # the prompt bound of the model's family ("frontier" is no known model: the unknown family's prior, above the
    # OpenAI-calibrated upper estimate)
    prompt = decision.chosen.prompt_bound_tokens
    assert decision.chosen.token_family == "unknown" and prompt is not None
    assert prompt > decision.analysis.upper_estimate_tokens
    assert decision.max_tokens == min(4096, int((Decimal("0.05") - prompt * Decimal("5e-6")) / Decimal("15e-6")))


def test_callers_max_tokens_is_kept_when_affordable() -> None:
    decision = HeuristicRouter().decide(CODE, {"litellm": make_provider(FLEET)}, max_cost=1, max_tokens=77)
    assert decision.max_tokens == 77


def test_no_feasible_model_raises_budget_exceeded_with_the_cheapest_option() -> None:
    with pytest.raises(BudgetExceededError) as caught:
        CostOptimizedRouter().decide(CODE, {"litellm": make_provider(FLEET)}, max_cost=0.000001)
    error = caught.value
    assert error.max_cost_usd == 0.000001 and error.cheapest_cost_usd is not None
    assert error.cheapest_cost_usd > 0.000001
    assert set(error.reasons) == {"litellm/frontier", "litellm/mid", "litellm/small"}
    assert all(reason.startswith("over_budget") for reason in error.reasons.values())


def test_zero_means_zero_and_none_means_no_cap() -> None:
    providers = {"p": make_provider({**FLEET, "local": model(0, 0, quality=0.6)})}
    assert CostOptimizedRouter().select_model(QUESTION, providers, max_cost=0)[1] == "local"
    with pytest.raises(BudgetExceededError):
        CostOptimizedRouter().select_model(QUESTION, {"p": make_provider(FLEET)}, max_cost=0)
    decision = HeuristicRouter().decide(QUESTION, {"p": make_provider(FLEET)}, max_cost=None)
    assert decision.max_cost_usd is None and decision.max_tokens is None


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "lots", True])
def test_invalid_max_cost_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="max_cost"):
        CostOptimizedRouter().select_model(QUESTION, {"p": make_provider(FLEET)}, max_cost=bad)


def test_nothing_fits_for_other_reasons_is_no_model_available() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    with pytest.raises(NoModelAvailableError) as caught:
        CostOptimizedRouter().decide(QUESTION, {"p": make_provider({"small": FLEET["small"]})}, tools=tools)
    assert caught.value.reasons == {"p/small": "capability: does not support tools"}


def test_no_known_models_is_no_model_available() -> None:
    with pytest.raises(NoModelAvailableError, match="know no models"):
        CostOptimizedRouter().decide(QUESTION, {"p": make_provider({})})


def test_unknown_quality_is_assumed_and_said() -> None:
    decision = CostOptimizedRouter().decide(QUESTION, {"p": make_provider({"anon": model(1, 1)})})
    assert decision.chosen.quality_is_default and "no quality data: assumed" in decision.chosen.detail


def test_several_providers() -> None:
    providers = {"a": make_provider({"frontier": FLEET["frontier"]}), "b": make_provider({"small": FLEET["small"]})}
    assert CostOptimizedRouter(quality_share=0.75).select_model(QUESTION, providers)[:2] == ("b", "small")
    assert HeuristicRouter().select_model(CODE, providers)[:2] == ("a", "frontier")


def test_strategy_by_name_on_any_router_and_unknown_names() -> None:
    providers = {"p": make_provider(FLEET)}
    router = HeuristicRouter(quality_share=0.75)
    assert router.select_model(QUESTION, providers, strategy="cost_optimized")[1] == "small"
    assert set(available_strategies()) >= {"heuristic", "cost_optimized"}
    with pytest.raises(ConfigurationError, match="unknown routing strategy"):
        Router("cascade")


def test_registering_a_strategy() -> None:
    @register_strategy("alphabetical-test")
    class Alphabetical(RoutingStrategy):
        def rank(self, kept: Any, analysis: Any, quality_share: Any = None) -> tuple[list[CandidateVerdict], str]:
            return sorted(kept, key=lambda v: v.model), "first by name"

    decision = Router("alphabetical-test").decide(QUESTION, {"p": make_provider(FLEET)})
    assert decision.model == "frontier" and decision.strategy == "alphabetical-test"
    with pytest.raises(ConfigurationError):
        register_strategy("heuristic")(Alphabetical)


def test_exclude_and_exact_mode_guard() -> None:
    providers = {"p": make_provider(FLEET)}
    router = CostOptimizedRouter(quality_share=0.75)
    assert router.select_model(QUESTION, providers, exclude={"p/small"})[1] == "mid"
    with pytest.raises(InvalidRequestError, match="route_request"):
        CostOptimizedRouter().decide(QUESTION, providers, budget_mode="exact")


def test_strict_mode_bounds_the_prompt_by_bytes() -> None:
    long_prompt = [{"role": "user", "content": "word " * 2000}]
    providers = {"p": make_provider(FLEET)}
    estimate = CostOptimizedRouter().decide(long_prompt, providers, max_cost=0.01, budget_mode="estimate")
    strict = CostOptimizedRouter().decide(long_prompt, providers, max_cost=0.01, budget_mode="strict")
    assert strict.analysis.strict_tokens >= len(("word " * 2000).encode())
    assert strict.worst_case_cost_usd is not None and strict.worst_case_cost_usd <= Decimal("0.01")
    assert strict.budget_mode == "strict" and estimate.budget_mode == "estimate"


def test_a_cap_that_would_cut_the_answer_lowers_its_expected_quality_by_the_chance() -> None:
    providers = {"p": make_provider(FLEET)}
    decision = HeuristicRouter().decide(CODE, providers, max_cost=0.002)
    frontier = next(v for v in decision.candidates if v.model == "frontier")
    assert frontier.kept and frontier.may_truncate and frontier.max_tokens is not None
    fits = AnswerLength.of(decision.analysis).fit_probability(frontier.max_tokens)
    assert frontier.expected_quality == pytest.approx(0.92 * fits) and fits < 0.05
    assert f"may be cut: it fits max_tokens={frontier.max_tokens} with probability {fits:.0%}" in frontier.detail
    assert decision.model != "frontier" and decision.chosen.expected_quality > frontier.expected_quality


def test_a_likely_cut_does_not_flip_the_ranking_blindly() -> None:
    """A model whose answer the cap may cut still wins when its expected quality stays the best."""
    models = {"strong": model(5, 15, quality=0.95, max_output=4096), "weak": model(0.1, 0.2, quality=0.3)}
    decision = HeuristicRouter().decide(CODE, {"p": make_provider(models)}, max_cost=0.009)
    strong = next(v for v in decision.candidates if v.model == "strong")
    assert strong.may_truncate and 0.3 < strong.expected_quality < strong.quality
    assert decision.model == "strong" and "the cap may cut its answer" in decision.reason


def test_the_callers_own_max_tokens_is_not_counted_as_a_cut() -> None:
    decision = HeuristicRouter().decide(CODE, {"p": make_provider(FLEET)}, max_cost=1, max_tokens=100)
    assert decision.model == "frontier" and decision.max_tokens == 100
    assert all(v.expected_quality == v.quality for v in decision.candidates)


def test_the_knob_per_router_per_call_and_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    providers = {"p": make_provider(FLEET)}
    assert CostOptimizedRouter().decide(QUESTION, providers).quality_share is None  # the strategy's default
    assert CostOptimizedRouter(quality_share=0.7).select_model(QUESTION, providers)[1] == "small"
    assert CostOptimizedRouter(quality_share=0.7).select_model(QUESTION, providers, quality_share=1)[1] == "frontier"
    monkeypatch.setenv("COSTMUX_QUALITY_SHARE", "0.8")
    decision = CostOptimizedRouter().decide(QUESTION, providers)
    assert decision.model == "mid" and decision.quality_share == 0.8 and "share 0.80" in decision.reason
    monkeypatch.setenv("COSTMUX_QUALITY_SHARE", "2")
    with pytest.raises(ConfigurationError, match="COSTMUX_QUALITY_SHARE"):
        CostOptimizedRouter()


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), "0.5", True])
def test_an_invalid_quality_share_is_a_validation_error(bad: Any) -> None:
    with pytest.raises(InvalidRequestError, match="quality_share"):
        CostOptimizedRouter().decide(QUESTION, {"p": make_provider(FLEET)}, quality_share=bad)
    with pytest.raises(InvalidRequestError, match="quality_share"):
        CostOptimizedRouter(quality_share=bad)
