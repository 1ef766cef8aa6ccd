"""Paired differences for benchmarks on a noisy, shared machine: two paths measured interleaved in the same run, each
pair close in time, so that slow drifts of the machine's load hit both sides of a pair alike.

:func:`paired_summary` gives the median of the paired differences with a percentile-bootstrap interval (pairs
resampled with replacement, seeded), and :func:`verdict` judges a goal "at most ``goal``" only when the interval
lies wholly on one side of it.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Literal

__all__ = ["bootstrap_interval", "paired_summary", "verdict"]

Verdict = Literal["met", "not met", "n/a"]


def bootstrap_interval(
    values: Sequence[float], *, level: float = 0.95, resamples: int = 2_000, seed: int = 18
) -> tuple[float, float]:
    """The ``level`` percentile-bootstrap interval of the median of ``values`` (resampled with replacement)."""
    if not values:
        raise ValueError("no values")
    rng = random.Random(seed)
    n = len(values)
    medians = sorted(statistics.median(rng.choices(values, k=n)) for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    low = medians[int(tail * resamples)]
    high = medians[min(resamples - 1, int((1.0 - tail) * resamples))]
    return low, high


def paired_summary(a: Sequence[float], b: Sequence[float], *, resamples: int = 2_000) -> dict[str, float]:
    """``a[i] - b[i]`` over the pairs: their median, its 95% bootstrap interval, and how many pairs."""
    if len(a) != len(b):
        raise ValueError("paired values must come in pairs")
    differences = [x - y for x, y in zip(a, b, strict=True)]
    low, high = bootstrap_interval(differences, resamples=resamples)
    return {"median": statistics.median(differences), "low": low, "high": high, "pairs": float(len(differences))}


def verdict(low: float, high: float, goal: float) -> Verdict:
    """ "at most ``goal``": met when the whole interval is at or below it, not met when wholly above it, else n/a
    (the run cannot tell)."""
    if high <= goal:
        return "met"
    if low > goal:
        return "not met"
    return "n/a"
