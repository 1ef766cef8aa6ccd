"""Routing-quality metrics on curves of (x, quality) points: APGR and CPT (two models), AIQ (any number).

Definitions (pure functions; quality is a mean score in [0, 1], cost a mean USD per prompt):

- **APGR**, average performance gap recovered, as RouteLLM's evaluation computes it (``routellm/evals/evaluate.py``
  in lm-sys/RouteLLM): the trapezoid area under the router's quality curve over the share of calls sent to the
  strong model, normalised so that the weak model's constant quality scores 0 and the strong model's 1 over the same
  span of shares: ``(AUC − weak·Δ) / ((strong − weak)·Δ)`` with ``Δ`` the span the curve covers. A random router
  scores 0.5; the per-prompt oracle can exceed 1 (it beats the strong model at fewer calls).
- **CPT(x%)**, call-performance threshold: the smallest share of strong-model calls at which the curve reaches
  ``weak + x·(strong − weak)``, by linear interpolation along the curve sorted by share (RouteLLM interpolates the
  share at the target quality, which is the same on a rising curve); ``None`` when the curve never reaches it.
- **AIQ**, average improvement in quality (RouterBench's, Hu et al. 2024): the mean, over costs from the cheapest
  single model's to the most expensive single model's, of the router's quality/cost hull — the non-decreasing concave
  hull of its points (any point on it is reached by mixing two settings at random). Left of the hull's cheapest point
  the router cannot operate and counts 0; right of its last point it stays flat. Normalisation: cost is scaled to
  [0, 1] between the cheapest and the most expensive single model, so the figure is a quality in [0, 1] and the
  hull of the single models alone is the "random mixing of single models" baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

__all__ = [
    "Point",
    "aiq",
    "apgr",
    "calls_to_reach",
    "hull_at",
    "oracle_cost_frontier",
    "oracle_share_curve",
    "thin",
    "trapezoid",
    "upper_hull",
]

Point = tuple[float, float]
"""``(x, quality)``: x is a share of calls in [0, 1] or a mean cost in USD per prompt."""


def trapezoid(points: Iterable[Point]) -> float:
    """The trapezoid area under the points sorted by x."""
    ordered = sorted(points)
    return sum((x2 - x1) * (y1 + y2) / 2 for (x1, y1), (x2, y2) in pairwise(ordered))


def apgr(curve: Sequence[Point], weak: float, strong: float) -> float | None:
    """APGR of a (share of strong calls, quality) curve (module doc); ``None`` when it spans no share or the two
    models score the same."""
    if not curve or strong == weak:
        return None
    ordered = sorted(curve)
    span = ordered[-1][0] - ordered[0][0]
    if span <= 0:
        return None
    return (trapezoid(ordered) - weak * span) / ((strong - weak) * span)


def calls_to_reach(curve: Sequence[Point], weak: float, strong: float, fraction: float) -> float | None:
    """CPT: the smallest share of strong calls at which the curve reaches ``fraction`` of the gap (module doc)."""
    if not curve:
        return None
    target = weak + fraction * (strong - weak)
    ordered = sorted(curve)
    if ordered[0][1] >= target:
        return ordered[0][0]
    for (x1, y1), (x2, y2) in pairwise(ordered):
        if y1 < target <= y2:
            return x1 + (target - y1) / (y2 - y1) * (x2 - x1)
    return None


def upper_hull(points: Iterable[Point]) -> list[Point]:
    """The non-decreasing concave hull of the points: the upper hull from the cheapest point to the best one
    (Andrew's monotone chain), sorted by x. Points below it are dominated by a mix of two points on it."""
    best_at: dict[float, float] = {}
    for x, y in points:
        best_at[x] = max(y, best_at.get(x, y))
    hull: list[Point] = []
    for point in sorted(best_at.items()):
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:
                hull.pop()  # hull[-1] is on or below the chord from hull[-2] to point
            else:
                break
        hull.append(point)
    if not hull:
        return hull
    peak = max(range(len(hull)), key=lambda index: (hull[index][1], -hull[index][0]))
    return hull[: peak + 1]


def hull_at(hull: Sequence[Point], x: float) -> float:
    """The hull's quality at cost ``x``: 0 below its cheapest point, linear between points, flat after the last."""
    if not hull or x < hull[0][0]:
        return 0.0
    for (x1, y1), (x2, y2) in pairwise(hull):
        if x <= x2:
            return y1 + (y2 - y1) * ((x - x1) / (x2 - x1))  # x values of a hull are distinct
    return hull[-1][1]


def aiq(points: Iterable[Point], cost_min: float, cost_max: float) -> float | None:
    """AIQ of (cost, quality) points between ``cost_min`` and ``cost_max`` (module doc); ``None`` without points."""
    hull = upper_hull(points)
    if not hull:
        return None
    if cost_max <= cost_min:
        return hull_at(hull, cost_min)
    edges = sorted({cost_min, cost_max, *(x for x, _ in hull if cost_min < x < cost_max)})
    start = hull[0][0]
    area = 0.0
    for a, b in pairwise(edges):
        if b <= start:
            continue  # the router cannot spend this little
        a = max(a, start)
        area += (hull_at(hull, a) + hull_at(hull, b)) / 2 * (b - a)
    return area / (cost_max - cost_min)


def oracle_share_curve(weak_scores: Sequence[float], strong_scores: Sequence[float]) -> list[Point]:
    """The per-prompt oracle of two models over the share of strong calls: the prompts where the strong model gains
    the most go to it first (RouteLLM's ``get_optimal_accuracy``); past the prompts it gains on, quality stays flat.
    One point per share ``k / n``."""
    n = len(weak_scores)
    gains = sorted((max(s - w, 0.0) for w, s in zip(weak_scores, strong_scores, strict=True)), reverse=True)
    quality = sum(weak_scores) / n
    curve = [(0.0, quality)]
    for k, gain in enumerate(gains, start=1):
        quality += gain / n
        curve.append((k / n, quality))
    return curve


def oracle_cost_frontier(options: Sequence[Sequence[Point]]) -> list[Point]:
    """The per-prompt oracle's quality/cost frontier: each prompt starts at its cheapest option and is upgraded
    along its own hull, the best quality gain per dollar first over all prompts (exact for mixing). ``options``
    holds each prompt's ``(cost, score)`` per model; the points are means per prompt."""
    n = len(options)
    cost = quality = 0.0
    upgrades: list[tuple[float, float, float]] = []
    for choices in options:
        hull = upper_hull(choices)
        cost += hull[0][0]
        quality += hull[0][1]
        for (c1, q1), (c2, q2) in pairwise(hull):
            slope = float("inf") if c2 == c1 else (q2 - q1) / (c2 - c1)
            upgrades.append((slope, c2 - c1, q2 - q1))
    upgrades.sort(key=lambda upgrade: -upgrade[0])
    frontier = [(cost / n, quality / n)]
    for _slope, extra_cost, extra_quality in upgrades:
        cost += extra_cost
        quality += extra_quality
        frontier.append((cost / n, quality / n))
    return frontier


def thin(points: Sequence[Point], limit: int) -> list[Point]:
    """At most ``limit`` (≥ 2) of the points, evenly spaced, always with the first and the last (for reports)."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]
