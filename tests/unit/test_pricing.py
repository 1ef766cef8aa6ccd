"""Prices: exact arithmetic, unit conversions in one place, invalid prices rejected, unknown ≠ free."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.errors import ConfigurationError
from app.pricing import (
    ModelPricing,
    atto_to_usd,
    atto_usd_str,
    decimal_str,
    parse_pricing,
    resolve_actual_cost,
    to_atto_usd,
    to_decimal_usd,
)

prices = st.decimals(min_value=0, max_value=Decimal("0.1"), places=9, allow_nan=False, allow_infinity=False)
tokens = st.integers(min_value=0, max_value=10_000_000)


def test_seed_dict_means_usd_per_1k_tokens() -> None:
    pricing = parse_pricing({"input": 0.03, "output": 0.06})
    assert pricing.input_usd_per_token == Decimal("0.00003")
    assert pricing.per_1m() == (Decimal("30.000"), Decimal("60.000"))
    # 1,000 prompt + 500 completion tokens of gpt-4 = $0.03 + $0.03
    assert pricing.cost_usd(1000, 500) == Decimal("0.06")


@pytest.mark.parametrize(
    "table",
    [
        {"input": 2.5e-3, "output": 1e-2},
        {"input_per_1k": "0.0025", "output_per_1k": "0.01"},
        {"input_per_1m": 2.5, "output_per_1m": 10},
        {"input_cost_per_token": 2.5e-06, "output_cost_per_token": "1e-05"},
        {"input_per_token": Decimal("0.0000025"), "output_per_token": Decimal("0.00001")},
    ],
)
def test_every_unit_spelling_gives_the_same_price(table: dict[str, object]) -> None:
    assert parse_pricing(table) == ModelPricing(
        input_usd_per_token=Decimal("0.0000025"), output_usd_per_token=Decimal("0.00001")
    )


@pytest.mark.parametrize("bad", [-0.01, math.nan, math.inf, -math.inf, "abc", True, None, [1]])
def test_invalid_prices_are_rejected(bad: object) -> None:
    with pytest.raises(ConfigurationError):
        parse_pricing({"input": bad, "output": 0.01})


def test_zero_is_a_real_price() -> None:
    pricing = parse_pricing({"input": 0, "output": 0})
    assert pricing.is_free and pricing.cost_usd(1000, 1000) == 0


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"input": 0.01}, "no output price"),
        ({"input": 0.01, "inptu": 0.02, "output": 0.01}, "unknown pricing keys"),
        ({"input": 0.01, "input_per_1m": 10, "output": 0.01}, "more than once"),
    ],
)
def test_incomplete_or_ambiguous_tables_are_rejected(table: dict[str, object], fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        parse_pricing(table)


def test_float_prices_are_read_through_their_shortest_repr() -> None:
    assert to_decimal_usd(0.1) == Decimal("0.1")
    assert to_decimal_usd("1e-05") == Decimal("0.00001")


@given(prices, prices, tokens, tokens, tokens, tokens)
def test_cost_is_exact_and_additive(pin: Decimal, pout: Decimal, p1: int, c1: int, p2: int, c2: int) -> None:
    pricing = ModelPricing(input_usd_per_token=pin, output_usd_per_token=pout)
    assert pricing.cost_usd(p1, c1) + pricing.cost_usd(p2, c2) == pricing.cost_usd(p1 + p2, c1 + c2)
    assert pricing.cost_usd(p1, c1) == p1 * pin + c1 * pout


@given(prices, prices, tokens, tokens, st.integers(0, 1000), st.integers(0, 1000))
def test_cost_is_monotone(pin: Decimal, pout: Decimal, p: int, c: int, dp: int, dc: int) -> None:
    pricing = ModelPricing(input_usd_per_token=pin, output_usd_per_token=pout)
    assert pricing.cost_usd(p + dp, c + dc) >= pricing.cost_usd(p, c)


@given(st.decimals(min_value=0, max_value=100, places=6), st.decimals(min_value=0, max_value=100, places=6))
def test_unit_conversions_agree(per_1m_in: Decimal, per_1m_out: Decimal) -> None:
    per_1m = parse_pricing({"input_per_1m": per_1m_in, "output_per_1m": per_1m_out})
    per_1k = parse_pricing({"input": per_1m_in / 1000, "output": per_1m_out / 1000})
    per_token = parse_pricing(
        {"input_cost_per_token": per_1m_in / 1_000_000, "output_cost_per_token": per_1m_out / 1_000_000}
    )
    assert per_1m == per_1k == per_token


def test_sums_of_many_small_costs_do_not_drift() -> None:
    pricing = parse_pricing({"input_cost_per_token": 1e-7, "output_cost_per_token": 3e-7})
    total = sum((pricing.cost_usd(7, 3) for _ in range(100_000)), Decimal(0))
    assert total == Decimal("0.16")


class TestResolveActualCost:
    priced = ModelPricing(input_usd_per_token=Decimal("0.001"), output_usd_per_token=Decimal("0.002"))
    free = ModelPricing(input_usd_per_token=Decimal(0), output_usd_per_token=Decimal(0))

    def test_a_positive_reported_cost_wins(self) -> None:
        assert resolve_actual_cost(Decimal("0.5"), 10, 20, self.priced) == (Decimal("0.5"), "proxy")

    def test_reported_zero_for_a_priced_model_is_recomputed(self) -> None:
        assert resolve_actual_cost(Decimal(0), 10, 20, self.priced) == (Decimal("0.050"), "computed")

    def test_reported_zero_for_a_free_model_is_kept(self) -> None:
        assert resolve_actual_cost(Decimal(0), 10, 20, self.free) == (Decimal(0), "proxy")

    def test_no_report_and_no_price_is_unknown_not_zero(self) -> None:
        assert resolve_actual_cost(None, 10, 20, None) == (None, "unknown")
        assert resolve_actual_cost(Decimal(0), 10, 20, None) == (None, "unknown")


@given(st.integers(0, 10**28 - 1))  # up to 28 digits: exact in Decimal's default context ($10 billion)
def test_atto_usd_text_is_the_decimal_text(atto: int) -> None:
    assert atto_usd_str(atto) == decimal_str(atto_to_usd(atto))


@given(st.decimals(min_value=0, max_value=1000, places=24))
def test_atto_usd_text_of_finer_amounts(usd: Decimal) -> None:
    assert atto_usd_str(to_atto_usd(usd)) == decimal_str(usd)
