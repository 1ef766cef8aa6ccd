"""The curve metrics on hand-computed cases: APGR and CPT as RouteLLM computes them, the hull, AIQ."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.evaluation.metrics import (
    aiq,
    apgr,
    calls_to_reach,
    hull_at,
    oracle_cost_frontier,
    oracle_share_curve,
    upper_hull,
)


def test_a_random_router_scores_half_and_the_constant_ends_score_their_share() -> None:
    line = [(x / 10, 0.6 + 0.2 * x / 10) for x in range(11)]  # random routing: linear between weak and strong
    assert apgr(line, 0.6, 0.8) == pytest.approx(0.5)
    assert calls_to_reach(line, 0.6, 0.8, 0.5) == pytest.approx(0.5)
    assert calls_to_reach(line, 0.6, 0.8, 0.8) == pytest.approx(0.8)
    assert apgr([(0.0, 0.6), (1.0, 0.6)], 0.6, 0.8) == pytest.approx(0.0)


def test_apgr_is_the_normalised_trapezoid_area_over_the_span_covered() -> None:
    curve = [(0.0, 0.6), (0.2, 0.75), (1.0, 0.8)]
    area = 0.2 * (0.6 + 0.75) / 2 + 0.8 * (0.75 + 0.8) / 2
    assert apgr(curve, 0.6, 0.8) == pytest.approx((area - 0.6) / 0.2)
    assert calls_to_reach(curve, 0.6, 0.8, 0.5) == pytest.approx(0.2 * (0.7 - 0.6) / 0.15)
    assert calls_to_reach(curve, 0.6, 0.8, 1.01) is None  # never reached
    assert apgr([(0.5, 0.7)], 0.6, 0.8) is None  # a single point spans nothing


def test_the_two_model_oracle_takes_the_largest_gains_first() -> None:
    weak, strong = [1, 0, 0, 1], [1, 1, 1, 0]  # two prompts gain, one loses, one ties
    curve = oracle_share_curve(weak, strong)
    assert curve == [(0.0, 0.5), (0.25, 0.75), (0.5, 1.0), (0.75, 1.0), (1.0, 1.0)]
    assert apgr(curve, 0.5, 0.75) == pytest.approx(1.5)  # beats the strong model with half the calls
    assert calls_to_reach(curve, 0.5, 0.75, 0.8) == pytest.approx(0.2)


def test_the_hull_is_non_decreasing_and_concave() -> None:
    points = [(1.0, 0.5), (2.0, 0.55), (3.0, 0.7), (4.0, 0.65), (5.0, 0.72), (2.5, 0.3)]
    assert upper_hull(points) == [(1.0, 0.5), (3.0, 0.7), (5.0, 0.72)]
    hull = upper_hull(points)
    assert hull_at(hull, 0.5) == 0.0 and hull_at(hull, 2.0) == pytest.approx(0.6) and hull_at(hull, 9) == 0.72


def test_aiq_normalises_cost_between_the_cheapest_and_the_most_expensive_single_model() -> None:
    singles = [(1.0, 0.5), (3.0, 0.7)]
    assert aiq(singles, 1.0, 3.0) == pytest.approx(0.6)  # the mean of the chord
    assert aiq([(2.0, 0.8)], 1.0, 3.0) == pytest.approx(0.4)  # nothing below its cost, flat after it
    assert aiq([(1.0, 0.7)], 1.0, 3.0) == pytest.approx(0.7)
    assert aiq([], 1.0, 3.0) is None


def test_the_cost_oracle_upgrades_the_best_gain_per_dollar_first() -> None:
    options = [[(1.0, 0.0), (3.0, 1.0)], [(1.0, 1.0), (3.0, 1.0)]]
    frontier = oracle_cost_frontier(options)
    assert frontier == [(1.0, 0.5), (2.0, 1.0)]


@given(st.lists(st.tuples(st.floats(0, 10), st.floats(0, 1)), min_size=1, max_size=30))
@example(points=[(0.0, 0.5), (5e-324, 1.0)])  # a subnormal step: the interpolation must not underflow
def test_the_hull_dominates_every_point_from_its_start(points: list[tuple[float, float]]) -> None:
    hull = upper_hull(points)
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in pairwise(hull))
    for x, y in points:
        if x >= hull[0][0]:
            assert hull_at(hull, x) >= y - 1e-9
