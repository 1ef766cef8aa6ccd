"""Cross-validation of learned quality (``costmux train --cv K``): train on K−1 folds, route the held-out fold with
``Router.decide`` through :func:`~app.evaluation.evaluate.evaluate`, and report each fold's metrics and their mean.

Folds are the training set's own: rows shuffled with a seed and dealt into K folds, or, with ``by_group``, whole
groups (an outcome's ``group``, e.g. MMLU's subject) dealt so that no group is in two folds — the honest test of
prompts unlike any seen in training.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from typing import Any

from app.errors import ConfigurationError
from app.evaluation.evaluate import evaluate
from app.evaluation.outcomes import OutcomeSet
from app.evaluation.runner import ProgressSink
from app.evaluation.training import Featurized, TrainOptions, featurize, fit
from app.providers import Provider
from app.router import Router
from app.router.quality import LearnedQuality, QualityMode

__all__ = ["cross_validate", "folds"]


def folds(data: OutcomeSet, k: int, *, seed: int = 0, by_group: bool = False) -> list[list[int]]:
    """The held-out row indices of each of ``k`` folds (every row in exactly one).

    Raises:
        ConfigurationError: ``k`` < 2, fewer rows (or groups) than folds, or ``by_group`` with rows lacking a group.
    """
    if k < 2:
        raise ConfigurationError("cross-validation needs at least 2 folds")
    rng = random.Random(seed)
    if not by_group:
        order = list(range(len(data.rows)))
        if len(order) < k:
            raise ConfigurationError(f"{len(order)} prompts cannot make {k} folds")
        rng.shuffle(order)
        return [sorted(order[i::k]) for i in range(k)]
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(data.rows):
        if row.group is None:
            raise ConfigurationError(f'--group-folds: line {row.line} has no "group"')
        groups.setdefault(row.group, []).append(index)
    if len(groups) < k:
        raise ConfigurationError(f"{len(groups)} groups cannot make {k} folds")
    names = sorted(groups)
    rng.shuffle(names)
    names.sort(key=lambda name: -len(groups[name]))  # largest first, each to the smallest fold so far
    dealt: list[list[int]] = [[] for _ in range(k)]
    for name in names:
        min(dealt, key=len).extend(groups[name])
    return [sorted(fold) for fold in dealt]


def cross_validate(
    data: OutcomeSet,
    provider: Provider,
    *,
    k: int = 5,
    seed: int = 0,
    by_group: bool = False,
    options: TrainOptions | None = None,
    mode: QualityMode = "combined",
    strategies: Sequence[str] = ("cost_optimized", "heuristic"),
    max_points: int = 24,
    progress: ProgressSink | None = None,
    features: Featurized | None = None,
    row_weights: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Per fold: fit on the other folds, evaluate on this one with each strategy using the fitted model. Returns
    ``{"folds": [...], "mean": {strategy: {metric: mean}}, "settings": ...}`` (metrics: ``apgr`` for two models,
    ``aiq`` always, the quality/cost at the default setting, and ``best_quality_cost_share``: the cheapest setting
    that keeps the best single model's quality, as a share of that model's cost, ``None`` where none keeps it)."""
    held_out = folds(data, k, seed=seed, by_group=by_group)
    features = features or featurize(data.rows, (options or TrainOptions()).window_chars)
    results = []
    for number, test in enumerate(held_out, start=1):
        test_set = set(test)
        train = [i for i in range(len(data.rows)) if i not in test_set]
        weights = None if row_weights is None else [row_weights[i] for i in train]
        model = fit(
            [data.rows[i] for i in train], data.models, options, features=features.subset(train), row_weights=weights
        )
        estimator = LearnedQuality(model, mode)
        routers = {name: Router(name, quality_model=estimator) for name in strategies}
        held = OutcomeSet(data.path, data.models, tuple(data.rows[i] for i in test))
        result = evaluate(held, provider, strategies=strategies, routers=routers, max_points=max_points)
        results.append({"fold": number, "prompts": len(test), "strategies": _metrics(result)})
        if progress is not None:
            progress.advance()
    return {
        "settings": {"folds": k, "seed": seed, "by_group": by_group, "mode": mode, "points": max_points},
        "folds": results,
        "mean": _means(results, strategies),
    }


def _metrics(result: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    out = {}
    for name, run in result["strategies"].items():
        default = run["default"]
        out[name] = {
            "apgr": run.get("apgr"),
            "aiq": run["aiq"],
            "quality": default["quality"],
            "cost_usd": default["cost_usd"],
            "best_quality_cost_share": run["best_quality_cost_share"],
        }
    return out


def _means(results: list[dict[str, Any]], strategies: Sequence[str]) -> dict[str, dict[str, float | None]]:
    means: dict[str, dict[str, float | None]] = {}
    for name in strategies:
        figures: dict[str, float | None] = {}
        for metric in ("apgr", "aiq", "quality", "cost_usd", "best_quality_cost_share"):
            values = [fold["strategies"][name][metric] for fold in results]
            figures[metric] = statistics.fmean(values) if None not in values else None
        means[name] = figures
    return means
