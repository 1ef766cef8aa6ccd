"""Route every labelled prompt offline through ``Router.decide`` — the path users get — and measure quality and cost.

For each strategy the prompts are routed at the strategy's default setting and then at every ``quality_share`` where
some prompt's choice can change (the ratios of the kept candidates' expected quality to the best one's, seen in the
decisions at the default; at most ``max_points`` of them, as quantiles), so the curve has every distinct outcome.

What a routed prompt scores and costs (USD, a float: these are means for a report, not money to charge):

- the chosen model's labelled score, or 0 when the ``max_tokens`` the decision sends is below the model's answer
  length for that prompt (the cap cut the answer) or when no model could take it (refused);
- prompt tokens (costmux's offline estimate) × input price + the answer's tokens × output price, the answer's
  tokens being the outcome's ``output_tokens`` for that model when given, else the typical length costmux assumes
  for the task type (capped by the model's maximum output), and never more than the ``max_tokens`` sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from app.errors import ConfigurationError, RoutingError
from app.evaluation.outcomes import Outcome, OutcomeSet
from app.providers import ModelSpec, Provider
from app.router import PromptAnalysis, Router, RoutingDecision, analyze
from app.router.scoring import expected_output_tokens
from app.router.strategies import per_prompt_of

__all__ = [
    "ExternalStrategy",
    "ModelInfo",
    "PreparedRow",
    "ProgressSink",
    "RunPoint",
    "StrategyRun",
    "point_of_choices",
    "prepare",
    "route_all",
    "run_strategy",
]


class ProgressSink(Protocol):
    """Where progress goes (the CLI's progress bar): ``start(label, total)`` then ``advance(n)``."""

    def start(self, label: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A model of the data: prices (USD per token, floats for reporting) and where its knowledge came from."""

    name: str
    input_usd_per_token: float
    output_usd_per_token: float
    max_output_tokens: int | None
    source: str
    quality: str


@dataclass(frozen=True, slots=True)
class PreparedRow:
    """An outcome with what every strategy needs: its analysis, and each model's answer tokens and cost (USD)."""

    outcome: Outcome
    analysis: PromptAnalysis
    answer_tokens: dict[str, int]
    cost_usd: dict[str, float]


@dataclass(slots=True)
class RunPoint:
    """The outcome of routing every prompt at one setting: mean score and mean cost per prompt (USD), the calls
    each model got, refused prompts (no model could take them) and answers cut by ``max_tokens``; ``setting``
    names the setting of a router that has no ``quality_share`` (an external one)."""

    quality_share: float | None
    quality: float
    cost_usd: float
    calls: dict[str, int]
    refused: int
    cut: int
    choices: list[str | None] = field(default_factory=list, repr=False)
    setting: str | None = None


@dataclass(slots=True)
class StrategyRun:
    """One strategy: its default setting and the sweep of ``quality_share``; decisions made and the time taken."""

    strategy: str
    default: RunPoint
    sweep: list[RunPoint]
    decisions: int
    seconds: float


def prepare(data: OutcomeSet, provider: Provider) -> tuple[dict[str, ModelInfo], list[PreparedRow]]:
    """Check that ``provider`` prices every model of ``data`` and precompute each prompt's costs.

    Raises:
        ConfigurationError: a model is unknown or has no price (name them, and how to give them).
    """
    models: dict[str, ModelInfo] = {}
    missing: list[str] = []
    for name in data.models:
        spec = provider.get_model_spec(name)
        if spec is None or spec.pricing is None:
            missing.append(name)
            continue
        models[name] = ModelInfo(
            name=name,
            input_usd_per_token=float(spec.pricing.input_usd_per_token),
            output_usd_per_token=float(spec.pricing.output_usd_per_token),
            max_output_tokens=spec.max_output_tokens,
            source=_source(spec.source, spec.metadata.get("catalog_entry")),
            quality=_quality_kind(spec),
        )
    if missing:
        raise ConfigurationError(
            f"no price known for {', '.join(missing)}: give them with --prices FILE (USD per 1M tokens) or "
            "--models FILE (custom_models entries)"
        )
    rows = [_prepare_row(outcome, models) for outcome in data.rows]
    return models, rows


def _quality_kind(spec: ModelSpec) -> str:
    """``"measured"``, ``"prior"`` (assumed from the price, for every task or some) or ``"none"`` (0.5 assumed)."""
    if not spec.quality:
        return "none"
    return "prior" if spec.assumed_quality else "measured"


def _source(source: str, catalog_entry: object) -> str:
    return f"{source} ({catalog_entry})" if isinstance(catalog_entry, str) and "catalog" in source else source


def _prepare_row(outcome: Outcome, models: dict[str, ModelInfo]) -> PreparedRow:
    analysis = analyze(outcome.messages)
    typical = expected_output_tokens(analysis)
    tokens: dict[str, int] = {}
    costs: dict[str, float] = {}
    for name, info in models.items():
        answer = outcome.output_tokens.get(name)
        if answer is None:
            answer = typical if info.max_output_tokens is None else min(typical, info.max_output_tokens)
        tokens[name] = answer
        costs[name] = analysis.estimated_tokens * info.input_usd_per_token + answer * info.output_usd_per_token
    return PreparedRow(outcome, analysis, tokens, costs)


Decide = Callable[[PreparedRow, float | None], RoutingDecision]


def run_strategy(
    router: Router,
    provider: Provider,
    rows: Sequence[PreparedRow],
    models: dict[str, ModelInfo],
    *,
    max_cost: float | None = None,
    max_points: int = 24,
    progress: ProgressSink | None = None,
    sweep: bool = True,
) -> StrategyRun:
    """Route every row at the router's default setting, then (``sweep``) along the ``quality_share`` sweep (module
    doc)."""
    providers = {provider.name: provider}

    def decide(row: PreparedRow, share: float | None) -> RoutingDecision:
        return router.decide(row.outcome.messages, providers, max_cost=max_cost, quality_share=share)

    strategy = router.strategy.name or type(router.strategy).__name__
    started = time.perf_counter()
    if progress is not None:
        progress.start(f"{strategy}: default", len(rows))
    ratios: list[float] = []
    default = route_all(decide, rows, models, None, progress, ratios)
    shares = sweep_shares(ratios, max_points) if sweep else []
    if progress is not None and shares:
        progress.start(f"{strategy}: sweep of {len(shares)} settings", len(rows) * len(shares))
    swept = [route_all(decide, rows, models, share, progress, None) for share in shares]
    seconds = time.perf_counter() - started
    return StrategyRun(strategy, default, swept, len(rows) * (1 + len(shares)), seconds)


def route_all(
    decide: Decide,
    rows: Sequence[PreparedRow],
    models: dict[str, ModelInfo],
    share: float | None,
    progress: ProgressSink | None,
    ratios: list[float] | None,
) -> RunPoint:
    calls = dict.fromkeys(models, 0)
    choices: list[str | None] = []
    score = cost = 0.0
    refused = cut = 0
    for index, row in enumerate(rows, start=1):
        try:
            decision = decide(row, share)
        except RoutingError:
            refused += 1
            choices.append(None)
            continue
        model = decision.model
        calls[model] += 1
        choices.append(model)
        answer = row.answer_tokens[model]
        info = models[model]
        if decision.max_tokens is not None and answer > decision.max_tokens:
            cut += 1
            cost += row.analysis.estimated_tokens * info.input_usd_per_token
            cost += decision.max_tokens * info.output_usd_per_token
        else:
            score += row.outcome.scores[model]
            cost += row.cost_usd[model]
        if ratios is not None:
            ratios.extend(_breakpoints(decision))
        if progress is not None and (index % 256 == 0 or index == len(rows)):
            progress.advance(256 if index % 256 == 0 else index % 256)
    n = len(rows)
    return RunPoint(share, score / n, cost / n, calls, refused, cut, choices)


def _breakpoints(decision: RoutingDecision) -> list[float]:
    """The ``quality_share`` at which each kept candidate stops being admitted: ``q / best`` for per-task figures,
    ``1 − (best − q)`` for per-prompt ones (the two rules of ``app.router.strategies.knob_threshold``)."""
    qualities = [verdict.expected_quality for verdict in decision.ranked]
    best = max(qualities)
    if per_prompt_of(decision.ranked):
        return [1.0 - (best - quality) for quality in qualities]
    return [quality / best for quality in qualities] if best > 0 else []


ExternalStrategy = Callable[[Sequence[PreparedRow], Mapping[str, ModelInfo]], StrategyRun]
"""A router outside costmux (another gateway's strategy, say), measured like costmux's: given the prepared rows and
the models, it routes every row at its default setting and along its own knob, and returns the run (each point
scored by :func:`point_of_choices`)."""


def point_of_choices(
    rows: Sequence[PreparedRow],
    models: Mapping[str, ModelInfo],
    choices: Sequence[str | None],
    setting: str | None = None,
) -> RunPoint:
    """What sending each row to ``choices[i]`` scores and costs, without a cap (every answer whole, costed as
    :func:`prepare` costs it); ``None`` is a refused row (score 0, cost 0).

    Raises:
        ValueError: not one choice per row, or a choice that is not a model of the data.
    """
    if len(choices) != len(rows):
        raise ValueError(f"{len(choices)} choices for {len(rows)} rows")
    calls = dict.fromkeys(models, 0)
    score = cost = 0.0
    refused = 0
    for row, model in zip(rows, choices, strict=True):
        if model is None:
            refused += 1
            continue
        if model not in calls:
            raise ValueError(f"choice {model!r} is not a model of the data ({', '.join(models)})")
        calls[model] += 1
        score += row.outcome.scores[model]
        cost += row.cost_usd[model]
    n = max(len(rows), 1)
    return RunPoint(None, score / n, cost / n, calls, refused, 0, list(choices), setting)


def sweep_shares(ratios: Sequence[float], max_points: int) -> list[float]:
    """The ``quality_share`` settings to route at: 0, 1, and just above each distinct ratio of a kept candidate's
    expected quality to the best one's (where that candidate stops being admitted), thinned to quantiles of the
    ratios when there are more than ``max_points``."""
    distinct = sorted({min(1.0, max(0.0, ratio)) for ratio in ratios} - {1.0})
    if len(distinct) > max_points - 2:
        ordered = sorted(ratios)
        picks = {ordered[round(i * (len(ordered) - 1) / (max_points - 3))] for i in range(max_points - 2)}
        distinct = sorted(pick for pick in picks if pick < 1.0)
    above = [min(1.0, ratio + 1e-9) for ratio in distinct]
    return sorted({0.0, *above, 1.0})
