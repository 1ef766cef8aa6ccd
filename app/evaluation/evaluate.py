"""``evaluate``: every strategy on one outcome file, against the baselines, as one JSON-ready result.

Baselines (each on the same prompts and costs as the strategies, without a cap):

- **always cheapest**: the model with the lowest mean cost per prompt;
- **always best**: the model with the highest mean score on the data (the "strong" model of a pair);
- **best single model at the same spend**: the best-scoring single model whose mean cost is at most the strategy's
  (hindsight: one model chosen with the labels);
- **random at the same spend**: random mixing of single models (the quality/cost hull of the single models) at the
  strategy's cost; with two models, sending the same share of calls to the strong one at random (APGR 0.5);
- **per-prompt oracle**: for each prompt the model that scores best, the cheapest of equals (its frontier: upgraded
  prompt by prompt, best quality gain per dollar first).

Metrics (:mod:`app.evaluation.metrics`): APGR and CPT(50%)/CPT(80%) over the share of calls to the strong model when
the data has two models; AIQ (cost normalised between the cheapest and the most expensive single model) always.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from app.evaluation.metrics import (
    Point,
    aiq,
    apgr,
    calls_to_reach,
    hull_at,
    oracle_cost_frontier,
    oracle_share_curve,
    thin,
    upper_hull,
)
from app.evaluation.outcomes import OutcomeSet
from app.evaluation.runner import (
    ExternalStrategy,
    ModelInfo,
    PreparedRow,
    ProgressSink,
    RunPoint,
    StrategyRun,
    prepare,
    run_strategy,
)
from app.providers import Provider
from app.router import Router
from app.tasks import TaskType

__all__ = ["evaluate"]

#: Oracle points kept in the result (its frontier has one point per upgrade).
ORACLE_POINTS = 200


def evaluate(
    data: OutcomeSet,
    provider: Provider,
    *,
    strategies: Sequence[str] = ("cost_optimized", "heuristic"),
    max_cost: float | None = None,
    max_points: int = 24,
    progress: ProgressSink | None = None,
    routers: dict[str, Router] | None = None,
    sweep: bool = True,
    external: Mapping[str, ExternalStrategy] | None = None,
) -> dict[str, Any]:
    """Route ``data`` with each strategy (a fresh router each, or the given ``routers``) and measure it; without
    ``sweep``, at each strategy's default only (no curve metrics then). Each ``external`` router (a name and the
    function that runs it: :data:`~app.evaluation.runner.ExternalStrategy`) is measured alongside, by the same
    metrics against the same baselines; the timing counts costmux's decisions only.

    Returns a JSON-ready dict: the data and its models, each model alone, the oracle, each strategy's default
    point and sweep with its metrics, the baselines at each default, the task-type table and the timing.

    Raises:
        ConfigurationError: a model of the data has no price.
    """
    models, rows = prepare(data, provider)
    singles = {name: _single(rows, name) for name in models}
    cheapest = min(singles, key=lambda name: (singles[name][0], name))
    best = max(singles, key=lambda name: (singles[name][1], -singles[name][0]))
    pair = (next(name for name in models if name != best), best) if len(models) == 2 else None
    cost_min, cost_max = min(c for c, _ in singles.values()), max(c for c, _ in singles.values())
    single_hull = upper_hull(singles.values())
    oracle = _oracle(rows, models, pair, cost_min, cost_max)
    runs = []
    for name in strategies:
        router = (routers or {}).get(name) or Router(name)
        runs.append(
            run_strategy(
                router,
                provider,
                rows,
                models,
                max_cost=max_cost,
                max_points=max_points,
                progress=progress,
                sweep=sweep,
            )
        )
    own = list(runs)
    runs += [replace(run_external(rows, models), strategy=name) for name, run_external in (external or {}).items()]
    result: dict[str, Any] = {
        "data": {"path": data.path, "prompts": len(rows), "models": list(models)},
        "settings": {
            "max_cost_usd": max_cost,
            "max_points": max_points,
            "strategies": list(strategies),
            "external": list(external or {}),
        },
        "models": {name: _model_json(models[name], singles[name]) for name in models},
        "pair": {"weak": pair[0], "strong": pair[1]} if pair else None,
        "baselines": {"always_cheapest": cheapest, "always_best": best},
        "oracle": oracle,
        "strategies": {
            run.strategy: _strategy_json(run, pair, singles, single_hull, (singles[cheapest], singles[best]))
            for run in runs
        },
        "tasks": _task_table(rows, models, runs),
        "aiq_single_models": aiq(singles.values(), cost_min, cost_max),
        "timing": {
            "decisions": sum(run.decisions for run in own),
            "seconds": sum(run.seconds for run in own),
            "decisions_per_s": sum(run.decisions for run in own) / max(sum(run.seconds for run in own), 1e-9),
            "python": platform.python_version(),
            "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        },
    }
    return result


def _single(rows: Sequence[PreparedRow], model: str) -> Point:
    """(mean cost USD, mean score) of always sending ``model``."""
    n = len(rows)
    return (sum(row.cost_usd[model] for row in rows) / n, sum(row.outcome.scores[model] for row in rows) / n)


def _model_json(info: ModelInfo, single: Point) -> dict[str, Any]:
    cost, quality = single
    return {
        "quality": quality,
        "cost_usd": cost,
        "input_usd_per_1m": info.input_usd_per_token * 1e6,
        "output_usd_per_1m": info.output_usd_per_token * 1e6,
        "source": info.source,
        "quality_data": info.quality,
    }


def _oracle(
    rows: Sequence[PreparedRow], models: dict[str, ModelInfo], pair: tuple[str, str] | None, low: float, high: float
) -> dict[str, Any]:
    options = [[(row.cost_usd[name], row.outcome.scores[name]) for name in models] for row in rows]
    frontier = oracle_cost_frontier(options)
    out: dict[str, Any] = {
        "quality": frontier[-1][1],
        "cost_usd": frontier[-1][0],
        "frontier": thin(frontier, ORACLE_POINTS),
        "aiq": aiq(frontier, low, high),
    }
    if pair is not None:
        weak, strong = pair
        curve = oracle_share_curve([r.outcome.scores[weak] for r in rows], [r.outcome.scores[strong] for r in rows])
        n = len(rows)
        weak_q = sum(r.outcome.scores[weak] for r in rows) / n
        strong_q = sum(r.outcome.scores[strong] for r in rows) / n
        out["apgr"] = apgr(curve, weak_q, strong_q)
        out["cpt50"] = calls_to_reach(curve, weak_q, strong_q, 0.5)
        out["cpt80"] = calls_to_reach(curve, weak_q, strong_q, 0.8)
        out["share_curve"] = thin(curve, ORACLE_POINTS)
    return out


def _point_json(point: RunPoint, n: int, pair: tuple[str, str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "quality_share": point.quality_share,
        "quality": point.quality,
        "cost_usd": point.cost_usd,
        "calls": point.calls,
        "refused": point.refused,
        "cut": point.cut,
    }
    if point.setting is not None:
        out["setting"] = point.setting
    if pair is not None:
        out["strong_share"] = point.calls[pair[1]] / n
    return out


def _strategy_json(
    run: StrategyRun,
    pair: tuple[str, str] | None,
    singles: dict[str, Point],
    single_hull: list[Point],
    ends: tuple[Point, Point],
) -> dict[str, Any]:
    """A strategy's default point against the baselines, its sweep, and the metrics of its curve. The curve is
    completed with the two constant settings at the ends of any knob, always cheapest and always best (as RouteLLM's
    curves always run from 0% to 100% strong calls): a strategy whose sweep stops short of an end is charged the
    random mixing with that end, not credited with the shorter span."""
    n = len(run.default.choices)
    points = [run.default, *run.sweep]
    default = _point_json(run.default, n, pair)
    affordable = [name for name, (cost, _) in singles.items() if cost <= run.default.cost_usd * (1 + 1e-9)]
    best_within = max(affordable, key=lambda name: singles[name][1]) if affordable else None
    default["best_single_within_spend"] = (
        {"model": best_within, "quality": singles[best_within][1]} if best_within is not None else None
    )
    default["random_at_same_spend"] = hull_at(single_hull, run.default.cost_usd)
    costs = [(p.cost_usd, p.quality) for p in points]
    low, high = min(c for c, _ in singles.values()), max(c for c, _ in singles.values())
    best_cost, best_quality = ends[1]
    reaching = [cost for cost, quality in costs if quality >= best_quality - 1e-12]
    out: dict[str, Any] = {
        "default": default,
        "sweep": [_point_json(point, n, pair) for point in run.sweep],
        "aiq": aiq([*costs, *ends], low, high),
        # the cheapest setting that keeps the best single model's quality, as a share of that model's cost
        "best_quality_cost_share": min(reaching) / best_cost if reaching and best_cost > 0 else None,
        "cost_span_usd": (min(c for c, _ in costs), max(c for c, _ in costs)),
        "decisions": run.decisions,
        "seconds": run.seconds,
    }
    if pair is not None:
        weak_q, strong_q = singles[pair[0]][1], singles[pair[1]][1]
        curve = [(p.calls[pair[1]] / n, p.quality) for p in points]
        share = default["strong_share"]
        default["random_at_same_spend"] = weak_q + share * (strong_q - weak_q)
        out["strong_share_span"] = (min(x for x, _ in curve), max(x for x, _ in curve))
        curve = _completed(curve, weak_q, strong_q)
        out.update(
            apgr=apgr(curve, weak_q, strong_q),
            cpt50=calls_to_reach(curve, weak_q, strong_q, 0.5),
            cpt80=calls_to_reach(curve, weak_q, strong_q, 0.8),
        )
    return out


def _completed(curve: list[Point], weak: float, strong: float) -> list[Point]:
    """The curve with always-weak at 0% and always-strong at 100% strong calls where it has no point there."""
    shares = {x for x, _ in curve}
    return [*([(0.0, weak)] if 0.0 not in shares else []), *curve, *([(1.0, strong)] if 1.0 not in shares else [])]


def _task_table(rows: Sequence[PreparedRow], models: dict[str, ModelInfo], runs: Sequence[StrategyRun]) -> list[Any]:
    """Per task type (as costmux's analysis classifies the prompts): share of the prompts, each model's mean score
    there, and the share of those prompts each strategy sends to each model at its default."""
    table = []
    n = len(rows)
    for task in TaskType:
        indices = [i for i, row in enumerate(rows) if row.analysis.task_type is task]
        if not indices:
            continue
        scores = {name: sum(rows[i].outcome.scores[name] for i in indices) / len(indices) for name in models}
        routed = {
            run.strategy: {name: sum(run.default.choices[i] == name for i in indices) / len(indices) for name in models}
            for run in runs
        }
        table.append(
            {"task": task.value, "prompts": len(indices), "share": len(indices) / n, "scores": scores, "routed": routed}
        )
    return table
