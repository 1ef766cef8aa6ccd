"""Benchmark: what a learned quality model adds to a routing decision, side by side with the catalog path.

Run from the repository root::

    python bench/bench_quality.py [--quick] [--rounds 15] [--json FILE]

``CostOptimizedRouter().select_model`` over the 20 catalog models of ``bench/bench_routing.py`` (``max_cost=$0.01``,
its 2 KB prompt of prose and a little code), three routers in turn in every round:

1. **catalog**: no quality model (the catalog's per-task figures);
2. **default model**: the shipped quality model (``app/data/quality_default.json.gz``): the prompt featurized once,
   its difficulty score, and for each of the 20 models (none of which it was trained on) ``σ(logit(catalog) +
   shift)``;
3. **20 learned heads**: a model with the shipped vocabulary and one head per fleet model (the default's weights
   copied), so every model's quality is its own head's sum: the most per-model work a quality model asks.

Each round times every router's calls one by one (``perf_counter_ns``, garbage collection off) and keeps each
router's p50; the added time is the median over rounds of the paired difference of p50s (the routers take turns in
each round, so a change of machine load hits them alike), with its range.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_routing import MAX_COST_USD, catalog_fleet, prompt, sample  # noqa: E402

from app.quality import QualityModel, load_quality_model  # noqa: E402
from app.router import CostOptimizedRouter  # noqa: E402
from bench._report import goals_table  # noqa: E402

__all__ = ["CASES", "GOAL_ADDED_US", "render", "run"]

SECTION = "## Learned quality"
GOAL_ADDED_US = 100.0
CASES = ("catalog", "default model", "20 learned heads")
PROMPT_BYTES = 2_000


def _every_model_learned(model: QualityModel, names: tuple[str, ...]) -> QualityModel:
    """The shipped model with one head per fleet model (copies of its first head)."""
    head = next(iter(model.heads.values()))
    return QualityModel(model.vocabulary, model.dense_names, dict.fromkeys(names, head), model.difficulty)


def run(quick: bool = False, rounds: int = 15, iterations: int = 2_000) -> dict[str, Any]:
    """p50 µs per decision of each case (median over rounds) and the added time of the learned cases."""
    rounds, iterations = (5, 300) if quick else (rounds, iterations)
    fleet = catalog_fleet()
    messages = prompt(PROMPT_BYTES)
    default = load_quality_model("default")
    routers = {
        "catalog": CostOptimizedRouter(),
        "default model": CostOptimizedRouter(quality_model=default),
        "20 learned heads": CostOptimizedRouter(quality_model=_every_model_learned(default, fleet.names)),
    }
    providers = {"litellm": fleet.provider}
    calls = {
        name: (lambda router=router: router.select_model(messages, providers, max_cost=MAX_COST_USD))
        for name, router in routers.items()
    }
    chosen = {name: str(call()) for name, call in calls.items()}
    for call in calls.values():  # warm-up
        sample(call, iterations // 4)
    p50s: dict[str, list[float]] = {name: [] for name in CASES}
    load = [os.getloadavg()[0]]
    for index in range(rounds):
        order = CASES if index % 2 == 0 else tuple(reversed(CASES))
        for name in order:
            p50s[name].append(statistics.median(sample(calls[name], iterations)) / 1_000)
    load.append(os.getloadavg()[0])
    figures: dict[str, Any] = {}
    for name in CASES:
        diffs = [ours - base for ours, base in zip(p50s[name], p50s["catalog"], strict=True)]
        figures[name] = {
            "p50_us": statistics.median(p50s[name]),
            "added_us": statistics.median(diffs),
            "added_range_us": (min(diffs), max(diffs)),
            "chosen": chosen[name],
        }
    worst = max(figures[name]["added_us"] for name in CASES[1:])
    goals = [
        {
            "goal": f"a quality model adds ≤ {GOAL_ADDED_US:.0f} µs per decision p50 (20 models, 2 KB prompt)",
            "measured": ", ".join(f"{name} {figures[name]['added_us']:+.1f} µs" for name in CASES[1:]),
            "met": worst <= GOAL_ADDED_US,
        }
    ]
    settings = {
        "quick": quick,
        "rounds": rounds,
        "iterations": iterations,
        "vocabulary": len(default.vocabulary),
        "window_chars": list(default.window_chars),
        "load": load,
    }
    return {"figures": figures, "goals": goals, "settings": settings}


def render(results: dict[str, Any], command: str = "python bench/bench_quality.py") -> str:
    """The markdown section of docs/benchmarks.md for ``results`` (from :func:`run`)."""
    settings = results["settings"]
    out = [
        SECTION,
        "",
        "What a learned quality model (issue 15) adds to a decision: `CostOptimizedRouter().select_model`, 20 catalog "
        "models, a 2 KB prompt, `max_cost=$0.01`, without a quality model, with the shipped default model "
        f"({settings['vocabulary']:,} terms, reading the prompt's first {settings['window_chars'][0]:,} and last "
        f"{settings['window_chars'][1]:,} characters; every model's quality its catalog figure moved by the prompt's "
        "difficulty), and with one learned head per model. p50 of "
        f"{settings['iterations']:,} calls per case per round, {settings['rounds']} rounds (the cases in turn); the "
        "added time is the median of the per-round differences of p50 from the catalog case, with their range. "
        f"Load average {settings['load'][0]:.1f} at the start, {settings['load'][1]:.1f} at the end.",
        "",
        "| quality | p50 µs | added p50 µs (median, range over rounds) | chosen |",
        "|---|---:|---:|---|",
    ]
    for name, row in results["figures"].items():
        low, high = row["added_range_us"]
        added = "" if name == CASES[0] else f"{row['added_us']:+.1f} ({low:+.1f} … {high:+.1f})"
        out.append(f"| {name} | {row['p50_us']:.1f} | {added} | `{row['chosen']}` |")
    out += ["", *goals_table(results["goals"])]
    out += ["", f"Reproduce: `{command}`."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 short rounds")
    parser.add_argument("--rounds", type=int, default=15, help="rounds; the median is kept")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(args.quick, args.rounds)
    print(render(results, "python bench/bench_quality.py " + " ".join(sys.argv[1:] if argv is None else argv)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
