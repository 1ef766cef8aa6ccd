"""Properties of routing over random catalogs, prompts and caps (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.catalog.prior import HARD_TASKS
from app.errors import BudgetExceededError, NoModelAvailableError, RoutingError
from app.router import CostOptimizedRouter, HeuristicRouter, QualityFloor, RejectReason, Router
from app.tasks import TaskType
from tests.router.conftest import make_provider, model

price = st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=80, allow_nan=False).map(lambda x: round(x, 4)))
quality = st.floats(min_value=0.2, max_value=0.99).map(lambda x: round(x, 2))
entry = st.builds(
    lambda pin, pout, q, window, max_out: model(pin, pout, quality=q, window=window, max_output=max_out),
    price,
    price,
    st.one_of(st.none(), quality),
    st.one_of(st.none(), st.integers(50, 200_000)),
    st.one_of(st.none(), st.integers(16, 16_384)),
)
catalogs = st.dictionaries(st.text("abcdefgh-", min_size=1, max_size=8), entry, min_size=1, max_size=6)
texts = st.one_of(
    st.text(min_size=1, max_size=400),
    st.sampled_from(
        [
            "What is 2+2?",
            "Write a Python function that sorts a list of dicts by key, with tests.",
            "Translate into German: good morning, how are you?",
            "Summarize the following text: " + "lorem ipsum dolor sit amet " * 40,
            "Analyze and compare the trade-offs of SQL and NoSQL databases step by step. " * 5,
        ]
    ),
)
caps = st.one_of(st.none(), st.just(0), st.decimals(min_value=0, max_value=Decimal("0.05"), places=6))
modes = st.sampled_from(["estimate", "strict"])
STRATEGIES = ("cost_optimized", "heuristic")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decide(router: Any, models: dict[str, Any], text: str, cap: Any, mode: str, max_tokens: int | None = None) -> Any:
    return router.decide(
        [{"role": "user", "content": text}],
        {"p": make_provider(models)},
        max_cost=cap,
        budget_mode=mode,
        max_tokens=max_tokens,
    )


@SETTINGS
@given(catalogs, texts, caps, modes, st.one_of(st.none(), st.integers(1, 5000)))
def test_no_kept_candidate_has_a_worst_case_above_the_cap(
    models: dict[str, Any], text: str, cap: Any, mode: str, max_tokens: int | None
) -> None:
    for router in (HeuristicRouter(), CostOptimizedRouter()):
        try:
            decision = decide(router, models, text, cap, mode, max_tokens)
        except BudgetExceededError as exc:
            assert cap is not None and exc.cheapest_cost_usd is not None and exc.cheapest_cost_usd > float(cap)
            retried = decide(router, models, text, exc.cheapest_cost_usd, mode, max_tokens)  # the cap it asked for
            assert retried.worst_case_cost_usd is not None
            assert retried.worst_case_cost_usd <= Decimal(repr(exc.cheapest_cost_usd))
            continue
        except NoModelAvailableError as exc:
            assert not any(reason.startswith("over_budget") for reason in exc.reasons.values()) or cap is None
            continue
        for verdict in decision.candidates:
            if verdict.kept and cap is not None:
                assert verdict.worst_case_cost_usd is not None and verdict.worst_case_cost_usd <= Decimal(str(cap))
                assert verdict.max_tokens is None or max_tokens is None or verdict.max_tokens <= max_tokens
        assert decision.chosen.kept and decision.chosen in decision.ranked


@SETTINGS
@given(catalogs, texts, caps, modes, st.floats(0, 1))
def test_cost_optimized_picks_the_cheapest_feasible_model_meeting_the_floor(
    models: dict[str, Any], text: str, cap: Any, mode: str, share: float
) -> None:
    try:
        decision = CostOptimizedRouter(quality_share=share).decide(
            [{"role": "user", "content": text}], {"p": make_provider(models)}, max_cost=cap, budget_mode=mode
        )
    except RoutingError:
        return
    kept = [v for v in decision.candidates if v.kept]
    hard = decision.analysis.task_type in HARD_TASKS  # there, measured before assumed (strategies' module doc)
    measured = [v for v in kept if not v.quality_is_default] if hard else kept
    best = max(v.expected_quality for v in measured or kept)
    floor = QualityFloor()(decision.analysis, best, share)
    assert floor <= best
    meeting = [v for v in kept if v.expected_quality >= floor]
    if hard and any(not v.quality_is_default for v in meeting):
        meeting = [v for v in meeting if not v.quality_is_default]
    chosen = decision.chosen
    cheapest = min(v.estimated_cost_usd for v in meeting if v.estimated_cost_usd is not None)
    assert chosen.estimated_cost_usd == cheapest
    tied = [v for v in meeting if v.estimated_cost_usd == cheapest]
    assert chosen.expected_quality == max(v.expected_quality for v in tied)


@SETTINGS
@given(catalogs, texts, caps, st.lists(st.floats(0, 1), min_size=2, max_size=8), st.sampled_from(STRATEGIES))
def test_sweeping_the_quality_share_moves_the_choice_monotonically(
    models: dict[str, Any], text: str, cap: Any, shares: list[float], strategy: str
) -> None:
    """From the cheapest adequate model (share 0) to the best one (share 1), never back: as the share rises the
    choice's expected quality and expected cost never fall."""
    router = Router(strategy)
    providers = {"p": make_provider(models)}
    messages = [{"role": "user", "content": text}]
    try:
        decisions = [
            router.decide(messages, providers, max_cost=cap, quality_share=s) for s in [0.0, *sorted(shares), 1.0]
        ]
    except RoutingError:
        return
    chosen = [d.chosen for d in decisions]
    kept = [v for v in decisions[0].candidates if v.kept]
    all_measured = not any(v.quality_is_default for v in kept)
    for before, after in pairwise(chosen):
        assert after.expected_quality >= before.expected_quality
        if all_measured:  # on hard tasks a measured model comes before an assumed one, whatever its price
            assert (after.estimated_cost_atto or 0) >= (before.estimated_cost_atto or 0)
    hard = decisions[0].analysis.task_type in HARD_TASKS
    measured = [v for v in kept if not v.quality_is_default] if hard else kept
    best = max(v.expected_quality for v in measured or kept)
    assert chosen[-1].expected_quality >= best
    adequate = QualityFloor().adequate(decisions[0].analysis) if strategy == "cost_optimized" else 0.0
    admitted = [v for v in kept if v.expected_quality >= min(best, adequate)]
    if all_measured:
        assert chosen[0].estimated_cost_atto == min(v.estimated_cost_atto or 0 for v in admitted)


@SETTINGS
@given(catalogs, texts, caps, modes)
def test_same_input_same_decision(models: dict[str, Any], text: str, cap: Any, mode: str) -> None:
    outcomes = []
    for _ in range(2):
        try:
            decision = decide(CostOptimizedRouter(), models, text, cap, mode)
            outcomes.append((decision.provider, decision.model, decision.max_tokens, decision.reason))
        except RoutingError as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    assert outcomes[0] == outcomes[1]


@SETTINGS
@given(catalogs, texts, st.decimals(min_value=0, max_value=Decimal("0.001"), places=7))
def test_infeasible_requests_raise_budget_exceeded(models: dict[str, Any], text: str, cap: Decimal) -> None:
    try:
        decision = decide(CostOptimizedRouter(), models, text, cap, "estimate")
    except BudgetExceededError as exc:
        assert exc.reasons and exc.max_cost_usd == float(cap)
        return
    except NoModelAvailableError:
        return
    assert decision.worst_case_cost_usd is not None and decision.worst_case_cost_usd <= cap
    rejected_for_budget = [v for v in decision.candidates if v.reason is RejectReason.OVER_BUDGET]
    assert all(v.worst_case_cost_usd is not None and v.worst_case_cost_usd > 0 for v in rejected_for_budget)


def test_the_floor_rises_with_complexity() -> None:
    floor = QualityFloor()
    simple = decide(CostOptimizedRouter(), {"a": model(1, 1, quality=0.9)}, "What is 2+2?", None, "estimate")
    complex_ = decide(
        CostOptimizedRouter(),
        {"a": model(1, 1, quality=0.9)},
        "Analyze and compare step by step, with at least three criteria, the trade-offs of: " + "x y z " * 800,
        None,
        "estimate",
    )
    assert complex_.analysis.complexity > simple.analysis.complexity
    assert floor(complex_.analysis, 0.9, 0.0) > floor(simple.analysis, 0.9, 0.0)
    assert floor.adequate(complex_.analysis) > floor.adequate(simple.analysis)
    assert simple.analysis.task_type is TaskType.MATH_REASONING or simple.analysis.task_type is TaskType.SIMPLE_QA
