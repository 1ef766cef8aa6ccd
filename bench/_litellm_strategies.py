"""LiteLLM's own routing strategies, run offline on labelled prompts (for ``bench/compare_litellm_strategies.py``).

Each strategy is built by a real ``litellm.Router`` from a ``model_list`` — the data's models as deployments that carry
the prices costmux uses and a ``mock_response`` (never called) — and routes each prompt through the step LiteLLM runs
before it sends anything:

- the pre-routing strategies (``auto_router/complexity_router``, ``auto_router/quality_router``,
  ``auto_router/adaptive_router``): ``Router.async_pre_routing_hook``, whose answer names the model group;
- the deployment strategies of one model group (``simple-shuffle``, ``cost-based-routing``), the data's models being
  that group's deployments: ``Router.async_get_available_deployment``.

Each run is an :data:`app.evaluation.runner.ExternalStrategy`: ``evaluate`` scores and costs its choices like
costmux's. Offline: ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (the price map inside the package, never GitHub's), no
provider call, no embeddings; litellm is imported when a strategy first runs, never at import time.

The tier-based strategies are routed once with the class of each prompt recorded from LiteLLM's own decision and swept
on those records (``bench/_litellm_config.py``); the first ``verify`` prompts are routed again through LiteLLM at
swept settings, and a choice that differs from the swept one stops the run.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from app.evaluation.metrics import upper_hull
from app.evaluation.runner import ModelInfo, PreparedRow, ProgressSink, RunPoint, StrategyRun, point_of_choices
from bench._litellm_config import (
    KINDS,
    ROUTER,
    TIERS,
    Recorded,
    Setting,
    TierKind,
    default_mapping,
    deployment,
    ladder,
)

__all__ = ["LiteLLMStrategies", "load_litellm"]

GROUP = "costmux-compare"  # the model group whose deployments simple-shuffle and cost-based-routing choose among
SHUFFLE_SHARES = (0.25, 0.5, 0.75)  # simple-shuffle: the best model's weight share against the cheapest's
ADAPTIVE_QUALITY_WEIGHTS = (1.0, 0.9, 0.8, 0.7, 0.5)  # adaptive_router: weights.quality (cost = 1 - quality)
ADAPTIVE_DEFAULT_QUALITY = 0.7  # LiteLLM's default (AdaptiveRouterWeights)
VERIFIED_SETTINGS = 6  # the most swept settings re-routed through LiteLLM per strategy


def load_litellm() -> Any:
    """litellm, imported offline: its bundled price map (never fetched), its logs quiet."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    litellm: Any = importlib.import_module("litellm")
    litellm.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    return litellm


def _messages(row: PreparedRow) -> list[dict[str, Any]]:
    return [dict(message) for message in row.outcome.messages]


# -- the strategies ------------------------------------------------------------------------------------------------


class LiteLLMStrategies:
    """LiteLLM's strategies that decide offline, each as an ``ExternalStrategy`` for ``evaluate(external=...)``.

    Args:
        seed: seeds Python's ``random`` before every pass (simple-shuffle and the adaptive router's Thompson sampling
            draw from it) and the adaptive router's order of prompts.
        verify: how many of the first prompts are routed again through LiteLLM at swept settings (see module doc).
        progress: where progress goes (the CLI's bar), or ``None``.
    """

    def __init__(self, *, seed: int = 0, verify: int = 200, progress: ProgressSink | None = None) -> None:
        self.seed, self.verify, self.progress = seed, verify, progress
        self.notes: dict[str, dict[str, Any]] = {}  # per strategy: configuration, knob, settings, verification

    def strategies(self) -> dict[str, Callable[[Sequence[PreparedRow], Mapping[str, ModelInfo]], StrategyRun]]:
        """Name → run, in the order of the report."""
        return {
            "litellm simple-shuffle": self.simple_shuffle,
            "litellm cost-based-routing": self.lowest_cost,
            **{kind.label: partial(self._tiered, kind=kind) for kind in KINDS},
            "litellm adaptive_router (no feedback)": lambda rows, models: self.adaptive(rows, models, False),
            "litellm adaptive_router (labels as feedback)": lambda rows, models: self.adaptive(rows, models, True),
        }

    # -- one model group: simple-shuffle, cost-based-routing ---------------------------------------------------

    def simple_shuffle(self, rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo]) -> StrategyRun:
        """The data's models as one group's deployments; by default no weights (each equally likely), swept by the
        best model's ``weight`` against the cheapest's (the others left out)."""
        started = time.perf_counter()
        names = ladder(rows, models)
        cheap, best = names[0], names[-1]
        shares = SHUFFLE_SHARES if cheap != best else ()
        self._start("litellm simple-shuffle", len(rows) * (1 + len(shares)))
        litellm = load_litellm()
        router = litellm.Router(
            model_list=[deployment(name, info, GROUP) for name, info in models.items()],
            routing_strategy="simple-shuffle",
        )
        default = point_of_choices(rows, models, self._group_pass(router, rows), "no weights (each model alike)")
        sweep = []
        for share in shares:
            weighted = litellm.Router(
                model_list=[
                    deployment(cheap, models[cheap], GROUP, weight=1 - share),
                    deployment(best, models[best], GROUP, weight=share),
                ],
                routing_strategy="simple-shuffle",
            )
            label = f"weight {share:.2f} on {best}, {1 - share:.2f} on {cheap}"
            sweep.append(point_of_choices(rows, models, self._group_pass(weighted, rows), label))
        self.notes["litellm simple-shuffle"] = {
            "knob": f"deployment weights ({best} against {cheap})",
            "default": "no weights: each deployment equally likely",
            "settings": 1 + len(sweep),
        }
        return StrategyRun("", default, sweep, len(rows) * (1 + len(sweep)), time.perf_counter() - started)

    def lowest_cost(self, rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo]) -> StrategyRun:
        """The data's models as one group's deployments, ``cost-based-routing``: the deployment with the lowest input
        + output price per token (within rpm/tpm limits; none here). No knob."""
        started = time.perf_counter()
        self._start("litellm cost-based-routing", len(rows))
        router = load_litellm().Router(
            model_list=[deployment(name, info, GROUP) for name, info in models.items()],
            routing_strategy="cost-based-routing",
        )
        default = point_of_choices(rows, models, self._group_pass(router, rows), "lowest input + output price")
        self.notes["litellm cost-based-routing"] = {"knob": "none", "default": "the cheapest deployment", "settings": 1}
        return StrategyRun("", default, [], len(rows), time.perf_counter() - started)

    def _group_pass(self, router: Any, rows: Sequence[PreparedRow]) -> list[str | None]:
        async def run() -> list[str | None]:
            random.seed(self.seed)
            chosen: list[str | None] = []
            for row in rows:
                picked = await router.async_get_available_deployment(
                    model=GROUP, messages=_messages(row), request_kwargs={}
                )
                chosen.append(str(picked["model_info"]["id"]))
                self._advance()
            return chosen

        return asyncio.run(run())

    # -- tier-based: complexity_router (heuristic, heuristic_v2), quality_router -------------------------------

    def _tiered(self, rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo], kind: TierKind) -> StrategyRun:
        """Route every row once at the default setting, recording its class; sweep the kind's settings on the
        records; re-route the first ``verify`` rows at some of them to check (module doc)."""
        started = time.perf_counter()
        names = ladder(rows, models)
        self._start(kind.label, len(rows))
        records = self._record(rows, models, names, kind)
        default_setting = kind.default(records, len(names))
        settings = kind.settings(records, len(names), len(models))

        def choices(setting: Setting) -> list[str | None]:
            mapping, value = setting
            return [names[mapping[TIERS.index(kind.tier(record, value))]] for record in records]

        default = point_of_choices(rows, models, choices(default_setting), kind.label_of(default_setting, names))
        chosen = {setting: choices(setting) for setting in settings}
        sweep = [point_of_choices(rows, models, chosen[s], kind.label_of(s, names)) for s in settings]
        if len(models) > 2:  # AIQ reads the hull only: keep its points
            sweep = _hull_points(sweep)
        verified = self._verify(rows, models, names, kind, settings, chosen)
        self.notes[kind.label] = {
            "ladder": names,
            "default": kind.label_of(default_setting, names),
            "knob": kind.sweep_text(len(models)),
            "settings": len(settings),
            "verified": verified,
        }
        decisions = len(rows) + verified["prompts"] * verified["settings"]
        return StrategyRun("", default, sweep, decisions, time.perf_counter() - started)

    def _record(
        self, rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo], names: Sequence[str], kind: TierKind
    ) -> list[Recorded]:
        """Route every row at the kind's default configuration; its record of each, checked to map back to the
        model LiteLLM chose."""
        mapping = default_mapping(len(names))
        router = self._tier_router(models, names, kind, (mapping, None))

        async def run() -> list[Recorded]:
            random.seed(self.seed)
            records: list[Recorded] = []
            for row in rows:
                kwargs: dict[str, Any] = {}
                response = await router.async_pre_routing_hook(
                    model=ROUTER, request_kwargs=kwargs, messages=_messages(row)
                )
                record = kind.record(dict(response.routing_decision or {}), kwargs)
                expected = names[mapping[TIERS.index(kind.tier(record, kind.default([record], len(names))[1]))]]
                if response.model != expected:
                    raise RuntimeError(f"{kind.label} chose {response.model} where its record maps to {expected}")
                records.append(record)
                self._advance()
            return records

        return asyncio.run(run())

    def _verify(
        self,
        rows: Sequence[PreparedRow],
        models: Mapping[str, ModelInfo],
        names: Sequence[str],
        kind: TierKind,
        settings: Sequence[Setting],
        chosen: Mapping[Setting, Sequence[str | None]],
    ) -> dict[str, int]:
        """Route the first ``verify`` rows through LiteLLM at up to ``VERIFIED_SETTINGS`` of the swept settings
        (spread over the sweep) and compare with the mapped choices."""
        head = list(rows[: self.verify])
        picked = list(settings)
        if len(picked) > VERIFIED_SETTINGS:
            step = (len(picked) - 1) / (VERIFIED_SETTINGS - 1)
            picked = [picked[round(i * step)] for i in range(VERIFIED_SETTINGS)]
        if not head:
            return {"prompts": 0, "settings": 0}
        self._start(f"{kind.label}: verify", len(head) * len(picked))
        for setting in picked:
            router = self._tier_router(models, names, kind, setting)

            async def run(router: Any = router) -> list[str | None]:
                random.seed(self.seed)
                out: list[str | None] = []
                for row in head:
                    response = await router.async_pre_routing_hook(
                        model=ROUTER, request_kwargs={}, messages=_messages(row)
                    )
                    out.append(str(response.model))
                    self._advance()
                return out

            routed, expected = asyncio.run(run()), list(chosen[setting][: len(head)])
            if routed != expected:
                wrong = sum(a != b for a, b in zip(routed, expected, strict=True))
                raise RuntimeError(
                    f"{kind.label} at {kind.label_of(setting, names)} routed {wrong} of {len(head)} prompts "
                    "elsewhere than the sweep maps them"
                )
        return {"prompts": len(head), "settings": len(picked)}

    def _tier_router(
        self, models: Mapping[str, ModelInfo], names: Sequence[str], kind: TierKind, setting: Setting
    ) -> Any:
        deployments = [deployment(name, models[name], None, **kind.model_info(i)) for i, name in enumerate(names)]
        return load_litellm().Router(model_list=[*deployments, kind.deployment(names, setting)])

    # -- adaptive_router --------------------------------------------------------------------------------------

    def adaptive(self, rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo], feedback: bool) -> StrategyRun:
        """``auto_router/adaptive_router`` over every model, in a seeded random order of the prompts, at each quality
        weight. Without feedback it stays at its priors, as it does on single-turn traffic (its post-call hook
        attributes signals only to conversations of 4 messages or more); with feedback each prompt's label is the
        bandit's update after its decision (``satisfaction`` +score to alpha, ``failure`` +(1 − score) to beta:
        perfect signals, an upper bound on what it could learn)."""
        started = time.perf_counter()
        label = f"litellm adaptive_router ({'labels as feedback' if feedback else 'no feedback'})"
        self._start(label, len(rows) * len(ADAPTIVE_QUALITY_WEIGHTS))
        tiers = _adaptive_tiers(rows, models)
        passes = {w: self._adaptive_pass(rows, models, tiers, w, feedback) for w in ADAPTIVE_QUALITY_WEIGHTS}
        points = {w: point for w, (point, _updates, _learnt) in passes.items()}
        default = points[ADAPTIVE_DEFAULT_QUALITY]
        self.notes[label] = {
            "quality_tiers": tiers,
            "feedback_updates": sum(updates for _point, updates, _learnt in passes.values()),
            "learnt_at_default": passes[ADAPTIVE_DEFAULT_QUALITY][2],
            "knob": "weights.quality (weights.cost = 1 − quality)",
            "default": f"weights quality {ADAPTIVE_DEFAULT_QUALITY}, cost {1 - ADAPTIVE_DEFAULT_QUALITY:.1f}",
            "settings": len(points),
            "seed": self.seed,
        }
        sweep = list(points.values())
        return StrategyRun("", default, sweep, len(rows) * len(sweep), time.perf_counter() - started)

    def _adaptive_pass(
        self,
        rows: Sequence[PreparedRow],
        models: Mapping[str, ModelInfo],
        tiers: Mapping[str, int],
        quality_weight: float,
        feedback: bool,
    ) -> tuple[RunPoint, int, dict[str, dict[str, float]]]:
        """One pass at ``quality_weight``: its point, the feedback updates that moved a bandit cell (LiteLLM drops
        one past its sample cap), and the cells that moved, as posterior means per request type and model."""
        config = {
            "available_models": list(models),
            "weights": {"quality": quality_weight, "cost": round(1 - quality_weight, 10)},
        }
        deployments = [
            deployment(name, info, None, adaptive_router_preferences={"quality_tier": tiers[name]})
            for name, info in models.items()
        ]
        router_entry = {
            "model_name": ROUTER,
            "litellm_params": {"model": "auto_router/adaptive_router", "adaptive_router_config": config},
        }
        router = load_litellm().Router(model_list=[*deployments, router_entry])
        bandit = router.adaptive_routers[ROUTER][0].strategy
        apply_delta = importlib.import_module("litellm.router_strategy.adaptive_router.bandit").apply_delta
        request_type = importlib.import_module("litellm.types.router").RequestType
        order = list(range(len(rows)))
        random.Random(self.seed).shuffle(order)

        updates = 0

        async def run() -> list[str | None]:
            nonlocal updates
            random.seed(self.seed)
            chosen: list[str | None] = [None] * len(rows)
            for index in order:
                row = rows[index]
                response = await router.async_pre_routing_hook(model=ROUTER, request_kwargs={}, messages=_messages(row))
                model = str(response.model)
                chosen[index] = model
                if feedback:
                    cell = (request_type(response.routing_decision["request_type"]), model)
                    score = row.outcome.scores[model]
                    before = bandit._cells[cell]
                    bandit._cells[cell] = apply_delta(before, score, 1 - score)
                    updates += bandit._cells[cell] != before
                self._advance()
            return chosen

        setting = f"weights quality {quality_weight:.1f}, cost {1 - quality_weight:.1f}"
        point = point_of_choices(rows, models, asyncio.run(run()), setting)
        learnt: dict[str, dict[str, float]] = {}
        for (kind, model), cell in bandit._cells.items():
            if cell.total_samples > 0:
                learnt.setdefault(str(kind.value), {})[model] = round(cell.mean, 4)
        return point, updates, learnt

    # -- progress --------------------------------------------------------------------------------------------

    def _start(self, label: str, total: int) -> None:
        if self.progress is not None:
            self.progress.start(label, total)

    def _advance(self) -> None:
        if self.progress is not None:
            self.progress.advance()


def _adaptive_tiers(rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo]) -> dict[str, int]:
    """Each model's declared ``quality_tier`` (1–3): by mean score on the data, the best third 3, the next 2, the rest
    1; with two models 3 and 2, as LiteLLM's example declares gpt-4o and gpt-4o-mini."""
    n = len(rows)
    ranked = sorted(models, key=lambda name: -sum(row.outcome.scores[name] for row in rows) / n)
    return {name: 3 - rank * 3 // len(ranked) for rank, name in enumerate(ranked)}


def _hull_points(points: Sequence[RunPoint]) -> list[RunPoint]:
    """The points on the quality/cost hull (what AIQ reads), cheapest first."""
    hull = set(upper_hull((point.cost_usd, point.quality) for point in points))
    kept: dict[tuple[float, float], RunPoint] = {}
    for point in points:
        key = (point.cost_usd, point.quality)
        if key in hull and key not in kept:
            kept[key] = point
    return [kept[key] for key in sorted(kept)]
