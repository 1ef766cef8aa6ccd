"""Benchmark: how fast ``costmux eval`` routes labelled prompts through ``Router.decide`` (two models).

Run from the repository root::

    python bench/bench_eval.py [--quick] [--repeats 5] [--json FILE]

The vendored GSM8K and MMLU outcome sets (``datasets/routellm``, 2 models) are routed by each strategy at its default
setting with the evaluation's own loop (:func:`app.evaluation.runner.run_strategy`'s per-setting pass: decide,
then score and cost the choice), and, side by side in the same process, by a bare loop of ``Router.decide`` calls on
the same prompts: the difference is what the evaluation's bookkeeping adds. Times are process CPU seconds (one
process: one core), the best of ``--repeats`` passes; the goal is ≥ 5,000 prompts/s per core on 2 models.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.evaluation import OfflineProvider, read_outcomes  # noqa: E402
from app.evaluation.runner import prepare, route_all  # noqa: E402
from app.router import Router  # noqa: E402
from bench._report import goals_table  # noqa: E402

__all__ = ["render", "run"]

SECTION = "## Evaluation throughput"
GOAL_PER_S = 5_000
SETS = ("gsm8k", "mmlu")
STRATEGIES = ("cost_optimized", "heuristic")


def _best_cpu(function: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        function()
        best = min(best, time.process_time() - started)
    return best


def _measure(router: Router, provider: OfflineProvider, rows: list[Any], models: Any, repeats: int) -> dict[str, Any]:
    providers = {provider.name: provider}

    def evaluate_pass() -> None:
        route_all(
            lambda row, share: router.decide(row.outcome.messages, providers, quality_share=share),
            rows,
            models,
            None,
            None,
            None,
        )

    def decide_only() -> None:
        for row in rows:
            router.decide(row.outcome.messages, providers)

    evaluate_pass()  # warm the caches (profiles, catalog) once
    eval_s = _best_cpu(evaluate_pass, repeats)
    decide_s = _best_cpu(decide_only, repeats)
    return {
        "prompts": len(rows),
        "eval_per_s": len(rows) / eval_s,
        "decide_per_s": len(rows) / decide_s,
        "eval_over_decide": eval_s / decide_s,
    }


def run(quick: bool = False, repeats: int = 5) -> dict[str, Any]:
    """Prompts per CPU-second for each set and strategy: the evaluation's pass and bare ``decide`` calls."""
    figures: dict[str, Any] = {}
    for name in SETS:
        data = read_outcomes(ROOT / "datasets" / "routellm" / f"{name}.jsonl.gz")
        provider = OfflineProvider(data.models)  # prices and quality: the bundled catalog
        models, rows = prepare(data, provider)
        if quick:
            rows = rows[:300]
        for strategy in STRATEGIES:
            figures[f"{name}/{strategy}"] = _measure(Router(strategy), provider, rows, models, 1 if quick else repeats)
    slowest = min(figure["eval_per_s"] for figure in figures.values())
    goals = [
        {
            "goal": f"costmux eval routes ≥ {GOAL_PER_S:,} prompts/s per core on 2 models (through Router.decide)",
            "measured": f"{slowest:,.0f} prompts/s (slowest set and strategy)",
            "met": slowest >= GOAL_PER_S,
        }
    ]
    return {"figures": figures, "goals": goals, "settings": {"quick": quick, "repeats": repeats}}


def render(results: dict[str, Any], command: str = "python bench/bench_eval.py") -> str:
    """The markdown section of docs/benchmarks.md for ``results`` (from :func:`run`)."""
    out = [SECTION, ""]
    out.append(
        "Prompts routed per CPU-second by `costmux eval`'s pass (`Router.decide`, then the choice scored and costed) "
        "and, side by side in the same process, by bare `Router.decide` calls, on the vendored RouteLLM sets "
        "(2 models: gpt-4-1106-preview and Mixtral-8x7B, known to the bundled catalog), each strategy at its "
        f"default, best of {results['settings']['repeats']} passes after a warm-up pass. One process: one core."
    )
    out += [
        "",
        "| set / strategy | prompts | eval prompts/s | decide-only prompts/s | eval / decide time |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, figure in results["figures"].items():
        out.append(
            f"| {name} | {figure['prompts']:,} | {figure['eval_per_s']:,.0f} | {figure['decide_per_s']:,.0f} | "
            f"{figure['eval_over_decide']:.2f}× |"
        )
    out += ["", *goals_table(results["goals"])]
    out += ["", f"Reproduce: `{command}`."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 prompts a set, one pass")
    parser.add_argument("--repeats", type=int, default=5, help="passes; the best is kept")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(args.quick, args.repeats)
    print(render(results, "python bench/bench_eval.py " + " ".join(sys.argv[1:] if argv is None else argv)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
