"""The cap arithmetic: validation, max_tokens planning, worst case never above max_cost."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import InvalidRequestError
from app.pricing import ModelPricing
from app.router.budget import plan_output, validate_budget_mode, validate_max_cost, validate_max_tokens

GPT4O = ModelPricing(input_usd_per_token=Decimal("0.0000025"), output_usd_per_token=Decimal("0.00001"))
FREE = ModelPricing(input_usd_per_token=Decimal(0), output_usd_per_token=Decimal(0))


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, -math.inf, "abc", True, [1]])
def test_invalid_max_cost_is_a_clear_error(bad: object) -> None:
    with pytest.raises(InvalidRequestError, match="max_cost"):
        validate_max_cost(bad)


def test_max_cost_values() -> None:
    assert validate_max_cost(None) is None
    assert validate_max_cost(0) == 0
    assert validate_max_cost(0.01) == Decimal("0.01")
    assert validate_max_cost("0.002") == Decimal("0.002")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_invalid_max_tokens(bad: object) -> None:
    with pytest.raises(InvalidRequestError):
        validate_max_tokens(bad)


def test_invalid_budget_mode() -> None:
    with pytest.raises(InvalidRequestError):
        validate_budget_mode("loose")


def plan(pricing: ModelPricing = GPT4O, **kwargs: object) -> object:
    args: dict[str, object] = {
        "prompt_bound_tokens": 1000,
        "max_cost_usd": Decimal("0.01"),
        "caller_max_tokens": None,
        "model_max_output_tokens": 16384,
        "min_output_tokens": 16,
    }
    args.update(kwargs)
    return plan_output(pricing, **args)  # type: ignore[arg-type]


def test_max_tokens_is_clamped_to_what_the_cap_affords() -> None:
    result = plan()
    # (0.01 - 1000 * 2.5e-6) / 1e-5 = 750 tokens
    assert result.feasible and result.max_tokens == 750 and result.worst_case_cost_usd == Decimal("0.01")


def test_callers_max_tokens_is_never_raised_only_lowered() -> None:
    assert plan(caller_max_tokens=100).max_tokens == 100
    lowered = plan(caller_max_tokens=5000)
    assert lowered.max_tokens == 750 and "lowered from 5000" in lowered.detail


def test_model_max_output_clamps() -> None:
    assert plan(max_cost_usd=Decimal(100), model_max_output_tokens=4096).max_tokens == 4096


def test_below_the_minimum_output_is_infeasible() -> None:
    result = plan(max_cost_usd=Decimal("0.00255"))  # affords 5 tokens
    assert not result.feasible and "fewer than the minimum 16" in result.detail


def test_prompt_alone_over_the_cap() -> None:
    result = plan(max_cost_usd=Decimal("0.001"))
    # reported: the smallest feasible request (the prompt, $0.0025, and the minimum 16 output tokens)
    assert not result.feasible and result.worst_case_cost_usd == Decimal("0.00266")
    assert result.detail == "the prompt alone may cost $0.0025, over the cap"
    assert plan(max_cost_usd=Decimal("0.00266")).feasible


def test_zero_cap_allows_only_free_models() -> None:
    assert not plan(max_cost_usd=Decimal(0)).feasible
    free = plan(FREE, max_cost_usd=Decimal(0))
    assert free.feasible and free.worst_case_cost_usd == 0


def test_no_cap_sends_only_the_callers_max_tokens() -> None:
    assert plan(max_cost_usd=None).max_tokens is None
    assert plan(max_cost_usd=None, caller_max_tokens=50).max_tokens == 50


prices = st.decimals(min_value=0, max_value=Decimal("0.0001"), places=10)


# prices in whole atto-USD per token (10 decimals here) and finer ones (22 decimals: exact Decimals in the router)
any_price = st.one_of(prices, st.decimals(min_value=0, max_value=Decimal("0.0001"), places=22))


@given(
    any_price,
    any_price,
    st.integers(0, 200_000),
    st.decimals(min_value=0, max_value=1, places=8),
    st.one_of(st.none(), st.integers(1, 10_000)),
    st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_a_feasible_plan_never_exceeds_the_cap_and_sends_the_most_it_affords(
    pin: Decimal, pout: Decimal, prompt: int, cap: Decimal, caller: int | None, model_max: int | None
) -> None:
    """Exact at every price precision, whether the whole output ceiling fits the cap (no division) or the cap
    decides: one more output token would exceed the cap or the ceiling."""
    pricing = ModelPricing(input_usd_per_token=pin, output_usd_per_token=pout)
    result = plan_output(
        pricing,
        prompt_bound_tokens=prompt,
        max_cost_usd=cap,
        caller_max_tokens=caller,
        model_max_output_tokens=model_max,
        min_output_tokens=16,
    )
    if not result.feasible:
        return
    sent = result.max_tokens
    assert caller is None or (sent is not None and sent <= caller)
    if pout > 0:
        assert sent is not None
    worst = prompt * pin + (sent or 0) * pout
    assert worst <= cap and result.worst_case_cost_usd == worst
    ceilings = [limit for limit in (caller, model_max) if limit is not None]
    if sent is not None and pout > 0:
        assert sent == min(ceilings, default=None) or prompt * pin + (sent + 1) * pout > cap
