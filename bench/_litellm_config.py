"""How LiteLLM's strategies are configured for ``bench/compare_litellm_strategies.py``: the deployments, the tier
mappings, the knobs swept and how a recorded decision maps to a model at another setting. Pure: no litellm here.

The tier-based strategies decide in two steps: a class per prompt (complexity_router's tier from its rule-based score
or from heuristic v2's success probabilities; quality_router's complexity tier), then configuration maps the class
to a model. Each is routed once through LiteLLM with its class recorded from its own decision; a knob that moves
only the second step (the mapping), or moves the first in the way LiteLLM documents (v1's ``simple_medium``
boundary: a score below it is SIMPLE; v2's success threshold: the first tier whose probability meets it), is swept
by :meth:`TierKind.tier` on the records. The runner re-routes some prompts through LiteLLM at swept settings to check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement
from typing import Any

from app.evaluation.metrics import upper_hull
from app.evaluation.runner import ModelInfo, PreparedRow

__all__ = [
    "KINDS",
    "ROUTER",
    "TIERS",
    "Recorded",
    "TierKind",
    "default_mapping",
    "deployment",
    "describe",
    "ladder",
    "mappings",
    "tier_at_threshold",
]

TIERS = ("SIMPLE", "MEDIUM", "COMPLEX", "REASONING")
ROUTER = "costmux-compare-router"  # the model name of a pre-routing strategy's deployment
MAX_KNOB_SETTINGS = 24  # the most values of a numeric knob swept (as costmux's quality_share sweep)
DEFAULT_BOUNDARIES = {"simple_medium": 0.15, "medium_complex": 0.35, "complex_reasoning": 0.60}
SCORED = frozenset({"heuristic_scorer", "reasoning_override"})  # causes whose tier follows the score

Mapping4 = tuple[int, int, int, int]
Setting = tuple[Mapping4, float | None]  # the tier → ladder mapping, and the kind's numeric knob (or None)


def deployment(
    name: str, info: ModelInfo, group: str | None = None, weight: float | None = None, **model_info: Any
) -> dict[str, Any]:
    """A model of the data as a LiteLLM deployment: costmux's prices (USD per token), a mock answer, never called;
    in ``group`` (one model group of several deployments) when given, with simple-shuffle's ``weight``."""
    prices = {"input_cost_per_token": info.input_usd_per_token, "output_cost_per_token": info.output_usd_per_token}
    params: dict[str, Any] = {
        "model": f"openai/costmux-compare/{name}",
        "api_key": "offline",
        "api_base": "http://127.0.0.1:9/v1",
        "mock_response": "offline",
        **prices,
    }
    if weight is not None:
        params["weight"] = weight
    return {"model_name": group or name, "litellm_params": params, "model_info": {"id": name, **prices, **model_info}}


def ladder(rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo]) -> list[str]:
    """The models a tier-based strategy is configured with: those on the quality/cost hull of the single models
    (mean score against mean cost on the data, cheapest first) — an operator who knows each model's overall quality
    and price, and leaves out a model another one beats on both."""
    n = len(rows)
    singles = {
        name: (sum(row.cost_usd[name] for row in rows) / n, sum(row.outcome.scores[name] for row in rows) / n)
        for name in models
    }
    return [next(name for name in models if singles[name] == point) for point in upper_hull(singles.values())]


def mappings(size: int) -> list[Mapping4]:
    """Every monotone assignment of the four tiers to a ladder of ``size`` models (a harder tier never gets a
    cheaper model), as ladder indices per tier."""
    return [(a, b, c, d) for a, b, c, d in combinations_with_replacement(range(size), 4)]


def default_mapping(size: int) -> Mapping4:
    """The ladder spread evenly over the tiers: the cheapest model for SIMPLE, the best for REASONING (with two
    models: SIMPLE and MEDIUM to the cheaper, COMPLEX and REASONING to the better)."""
    a, b, c, d = (round(index * (size - 1) / 3) for index in range(4))
    return (a, b, c, d)


def describe(mapping: Mapping4, names: Sequence[str]) -> str:
    """``SIMPLE, MEDIUM → a; COMPLEX, REASONING → b``."""
    groups: dict[str, list[str]] = {}
    for tier, index in zip(TIERS, mapping, strict=True):
        groups.setdefault(names[index], []).append(tier)
    return "; ".join(f"{', '.join(tiers)} → {name}" for name, tiers in groups.items())


def tier_at_threshold(probabilities: Mapping[str, float], threshold: float) -> str:
    """Heuristic v2's tier at a success threshold, as LiteLLM documents it: the first tier whose predicted success
    probability meets the threshold, else REASONING."""
    return next((tier for tier in TIERS if probabilities[tier] >= threshold), "REASONING")


def _escalated(tier: str) -> str:
    """One tier up, at most REASONING (what an escalation keyword does when all four tiers are configured)."""
    return TIERS[min(TIERS.index(tier) + 1, len(TIERS) - 1)]


def _spread(values: Sequence[float], limit: int) -> list[float]:
    """The distinct values, or ``limit`` of them evenly spaced by rank (always the lowest and the highest)."""
    distinct = sorted(set(values))
    if len(distinct) <= limit:
        return distinct
    step = (len(distinct) - 1) / (limit - 1)
    return sorted({distinct[round(i * step)] for i in range(limit)})


@dataclass(frozen=True, slots=True)
class Recorded:
    """What a tier-based strategy's decision says about a prompt (``decision`` is LiteLLM's routing decision)."""

    tier: str  # the tier whose model was routed to
    cause: str
    escalated: bool
    score: float | None = None  # v1's weighted score
    probabilities: Mapping[str, float] | None = None  # v2's success probability per tier
    threshold: float | None = None  # v2's threshold in effect
    complexity_tier: str | None = None  # quality_router's complexity tier


class TierKind:
    """A tier-based strategy: its deployment for a setting, what it records, its class at a setting, its sweep."""

    label = ""
    knob = ""

    def deployment(self, names: Sequence[str], setting: Setting) -> dict[str, Any]:
        raise NotImplementedError

    def record(self, decision: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Recorded:
        return Recorded(
            _name(decision.get("tier")),
            str(decision.get("cause")),
            bool(decision.get("escalated")),
            decision.get("score"),
        )

    def tier(self, record: Recorded, value: float | None) -> str:
        return record.tier

    def default(self, records: Sequence[Recorded], size: int) -> Setting:
        return (default_mapping(size), None)

    def settings(self, records: Sequence[Recorded], size: int, n_models: int) -> list[Setting]:
        return [(mapping, None) for mapping in mappings(size)]

    def model_info(self, position: int) -> dict[str, Any]:
        return {}

    def sweep_text(self, n_models: int) -> str:
        return "the tier → model mapping (complexity_to_quality)"

    def label_of(self, setting: Setting, names: Sequence[str]) -> str:
        return (
            describe(setting[0], names)
            if setting[1] is None
            else f"{self.knob} {setting[1]:.4f}; " + describe(setting[0], names)
        )


class Complexity(TierKind):
    """``auto_router/complexity_router``, default classifier (heuristic v1). Knobs: the tier → model mapping, and
    the ``simple_medium`` boundary (swept with two-level mappings: SIMPLE to one model, every other tier to a
    better one; the other boundaries kept above it)."""

    label = "litellm complexity_router"
    knob = "simple_medium"

    def deployment(self, names: Sequence[str], setting: Setting) -> dict[str, Any]:
        mapping, boundary = setting
        config: dict[str, Any] = {"tiers": {tier: names[i] for tier, i in zip(TIERS, mapping, strict=True)}}
        if boundary is not None:
            config["tier_boundaries"] = {
                "simple_medium": boundary,
                "medium_complex": max(boundary, DEFAULT_BOUNDARIES["medium_complex"]),
                "complex_reasoning": max(boundary, DEFAULT_BOUNDARIES["complex_reasoning"]),
            }
        return _complexity_router(config)

    def tier(self, record: Recorded, value: float | None) -> str:
        if value is None or record.cause not in SCORED or record.escalated or record.score is None:
            return record.tier  # an escalated prompt is never SIMPLE; other causes do not read the score
        if record.score < value:
            return "SIMPLE"
        return record.tier if record.tier != "SIMPLE" else "MEDIUM"  # with a two-level mapping: not SIMPLE

    def settings(self, records: Sequence[Recorded], size: int, n_models: int) -> list[Setting]:
        scores = [r.score for r in records if r.cause in SCORED and r.score is not None]
        boundaries = [*_spread(scores, MAX_KNOB_SETTINGS - 1), max(scores, default=0.0) + 0.001]  # + all SIMPLE
        two_level = [(i, j, j, j) for i in range(size) for j in range(i + 1, size)]
        by_boundary: list[Setting] = [(mapping, b) for mapping in two_level for b in boundaries]
        if n_models == 2 and two_level:
            return by_boundary  # one knob: the boundary, SIMPLE to the weak model and the rest to the strong
        return [*super().settings(records, size, n_models), *by_boundary]

    def sweep_text(self, n_models: int) -> str:
        if n_models == 2:
            return "the simple_medium boundary, with SIMPLE → the weaker model and every other tier → the stronger"
        return "every monotone tier → model mapping, and the simple_medium boundary with every two-level mapping"


class HeuristicV2(TierKind):
    """``complexity_router`` with ``classifier_type: heuristic_v2``. Knobs: the success threshold (its documented
    cost/quality knob) and the mapping; with two models the threshold alone, at the default mapping."""

    label = "litellm complexity_router heuristic_v2"
    knob = "threshold"

    def deployment(self, names: Sequence[str], setting: Setting) -> dict[str, Any]:
        mapping, threshold = setting
        config: dict[str, Any] = {
            "classifier_type": "heuristic_v2",
            "tiers": {tier: names[i] for tier, i in zip(TIERS, mapping, strict=True)},
        }
        if threshold is not None:
            config["heuristic_v2_success_threshold"] = threshold
        return _complexity_router(config)

    def record(self, decision: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Recorded:
        forecast = decision.get("heuristic_v2_forecast")
        if decision.get("cause") != "heuristic_v2" or not forecast:
            raise RuntimeError(f"heuristic v2 decided by {decision.get('cause')!r}: its threshold cannot be swept")
        base = super().record(decision, kwargs)
        probabilities = {tier: float(p) for tier, p in forecast["probabilities"].items()}
        return Recorded(base.tier, base.cause, base.escalated, None, probabilities, float(forecast["threshold"]))

    def tier(self, record: Recorded, value: float | None) -> str:
        assert record.probabilities is not None and value is not None
        tier = tier_at_threshold(record.probabilities, value)
        return _escalated(tier) if record.escalated else tier

    def default(self, records: Sequence[Recorded], size: int) -> Setting:
        return (default_mapping(size), records[0].threshold if records else None)

    def settings(self, records: Sequence[Recorded], size: int, n_models: int) -> list[Setting]:
        # a prompt's tier moves when the threshold passes one of its probabilities: each value (thinned), one
        # above them all (every prompt REASONING), and the artifact's default
        values = [p for r in records for tier, p in (r.probabilities or {}).items() if tier != "REASONING"]
        default = self.default(records, size)
        above = min(1.0, max(values, default=0.0) + 1e-6)
        extra = [] if default[1] is None else [default[1]]
        thresholds = sorted({*_spread(values, MAX_KNOB_SETTINGS - 2), above, *extra})
        if n_models == 2:
            return [(default[0], t) for t in thresholds]
        return [(mapping, t) for t in thresholds for mapping in mappings(size)]

    def sweep_text(self, n_models: int) -> str:
        if n_models == 2:
            return "heuristic_v2_success_threshold, at the default mapping"
        return "heuristic_v2_success_threshold × every monotone tier → model mapping"


class Quality(TierKind):
    """``auto_router/quality_router``: the ladder's models declare quality tiers 1, 2, ... (cheapest first); the knob
    is ``complexity_to_quality``, the complexity tier → quality tier mapping."""

    label = "litellm quality_router"

    def deployment(self, names: Sequence[str], setting: Setting) -> dict[str, Any]:
        config = {
            "available_models": list(names),
            "default_model": names[0],
            "complexity_to_quality": {tier: i + 1 for tier, i in zip(TIERS, setting[0], strict=True)},
        }
        return {"model_name": ROUTER, "litellm_params": {"model": "auto_router/quality_router", **_qr(config)}}

    def record(self, decision: Mapping[str, Any], kwargs: Mapping[str, Any]) -> Recorded:
        complexity = _name(kwargs["metadata"]["quality_router_decision"]["complexity_tier"])
        return Recorded(complexity, str(decision.get("cause")), False, None, None, None, complexity)

    def model_info(self, position: int) -> dict[str, Any]:
        return {"litellm_routing_preferences": {"quality_tier": position + 1}}


def _complexity_router(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_name": ROUTER,
        "litellm_params": {"model": "auto_router/complexity_router", "complexity_router_config": config},
    }


def _qr(config: dict[str, Any]) -> dict[str, Any]:
    return {"quality_router_config": config}


def _name(value: object) -> str:
    return str(getattr(value, "value", value))


KINDS: tuple[TierKind, ...] = (Complexity(), HeuristicV2(), Quality())
