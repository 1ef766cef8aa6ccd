"""Benchmark: what recording one answered call costs the prompt-bound learner (:mod:`app.tokens.learning`), the
incremental windows of today side by side with the learner as it was before them, in one process.

Run from the repository root::

    python bench/bench_learning.py [--quick] [--rounds 9] [--json FILE]

Every answered call of ``LiteLLMProvider`` and of the LiteLLM callback is recorded (``PromptBoundLearner.record``):
five values appended to the model's windows (its text group's, all groups', the prior's, the strict bound's, the
completion's) and the model's view recomputed. Before, that recomputation copied, sorted and scanned every window of
the model; now each window is also kept sorted as values come and go (``bisect``), so quantiles and maxima are
indexes and only the group appended to is re-read. The "before" learner is ``app/tokens/learning.py`` at commit
``BEFORE`` (read with ``git show``; without git history the section shows today's figures only).

Both learners get the same calls: 1 or 20 models (catalog-like families), five prompts covering the four text groups,
bills of 0.80–1.15× the estimate, ``max_tokens`` sent; every window is full (256 values) before timing. A round times
``record()`` alone and ``record()`` followed by ``views()`` (what the next routing decision reads: before, a record
made it look at every model's revision), 2,000 calls each, both learners in turn (their order alternating from round
to round); times are process CPU time (the machine is shared: a wall clock would count other processes' turns),
figures are medians over rounds of µs per call, and the ratio is the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.tokens import PRIORS, FamilyCounts, TokenFamily, count_prompt_tokens, family_counts  # noqa: E402
from app.tokens import learning as after_module  # noqa: E402
from bench._report import goals_table  # noqa: E402

__all__ = ["BEFORE", "GOAL_RECORD_US", "MODEL_COUNTS", "before_module", "render", "run"]

SECTION = "## Prompt-bound learning"
#: the last commit whose learner sorted every window on each record (the tree before the incremental windows)
BEFORE = "05ed0a1f171bf72cf6ec55fe93a6598490b8f122"
GOAL_RECORD_US = 15.0
MODEL_COUNTS = (1, 20)
WINDOW = 256
CALLS = 2_000
LOOPS = ("record", "record + views")
FAMILIES: tuple[TokenFamily, ...] = ("openai_o200k", "anthropic", "google", "meta_llama3", "mistral")
TEXTS = (
    "The quarterly report shows a steady increase in recurring revenue across all regions. " * 10,
    "def total(items):\n    return sum(item.price * item.quantity for item in items if item.active)\n" * 8,
    "人工智能正在改变我们的生活方式和工作方式。" * 20,
    "Ça a été très généralement reçu à Zürich. Привет, как дела? Γεια σου κόσμε. " * 8,
    "2024-03-01,1532.75,0.0825,ACME-7731; 2024-03-02,1498.10,0.0791,ACME-7732; " * 10,
)
Learner = Any  # the before module's PromptBoundLearner is another class than today's


def before_module() -> ModuleType | None:
    """``app/tokens/learning.py`` as of :data:`BEFORE`, loaded as a module (``None`` without git history)."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE}:app/tokens/learning.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    name = "bench._learning_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    exec(compile(source, f"{BEFORE[:7]}:app/tokens/learning.py", "exec"), module.__dict__)
    return module


def calls(models: int, count: int, seed: int) -> list[tuple[str, FamilyCounts, int, int, int]]:
    """``count`` answered calls over ``models`` models, round robin: model, its request's family figures, billed
    prompt tokens, billed completion tokens, ``max_tokens`` sent."""
    rng = random.Random(seed)
    figures = [count_prompt_tokens([{"role": "user", "content": text}]) for text in TEXTS]
    names = [f"provider-{i}/model-{i}" for i in range(models)]
    out = []
    for i in range(count):
        model = names[i % models]
        counts = family_counts(figures[rng.randrange(len(figures))], PRIORS[FAMILIES[i % models % len(FAMILIES)]])
        billed = max(1, round(counts.estimate_tokens * rng.uniform(0.80, 1.15)))
        out.append((model, counts, billed, rng.randrange(1, 257), 256))
    return out


def warmed(module: ModuleType, models: int, window: int) -> Learner:
    """A learner of ``module`` whose every window (``window`` values) of ``models`` models is full."""
    learner = module.PromptBoundLearner(module.MemoryBoundStore(window=window))
    for model, counts, billed, completion, max_tokens in calls(models, models * window * 8, seed=1):
        learner.record(model, counts, billed, billed_completion_tokens=completion, max_tokens=max_tokens)
    return learner


def timers(learner: Learner, models: int, count: int) -> dict[str, Callable[[], None]]:
    """The two timed loops of ``count`` calls: ``record()`` alone, and ``record()`` then ``views()``."""
    work = calls(models, count, seed=2)
    record, views = learner.record, learner.views

    def record_only() -> None:
        for model, counts, billed, completion, max_tokens in work:
            record(model, counts, billed, billed_completion_tokens=completion, max_tokens=max_tokens)

    def record_and_read() -> None:
        for model, counts, billed, completion, max_tokens in work:
            record(model, counts, billed, billed_completion_tokens=completion, max_tokens=max_tokens)
            views()

    return dict(zip(LOOPS, (record_only, record_and_read), strict=True))


def run(
    quick: bool = False,
    rounds: int = 9,
    *,
    window: int = WINDOW,
    model_counts: tuple[int, ...] = MODEL_COUNTS,
    count: int = CALLS,
) -> dict[str, Any]:
    """µs per call of each learner, per model count and timed loop (medians over rounds), and their ratios
    (``window`` values per window, ``count`` calls per timed loop)."""
    rounds = 3 if quick else rounds
    modules = {"after": after_module}
    old = before_module()
    if old is not None:
        modules["before"] = old
    figures: dict[str, Any] = {}
    for models in model_counts:
        loops = {name: timers(warmed(module, models, window), models, count) for name, module in modules.items()}
        samples: dict[tuple[str, str], list[float]] = {(loop, name): [] for loop in LOOPS for name in modules}
        for i in range(rounds):  # each round times every loop of both learners, in turn
            order = list(modules) if i % 2 == 0 else list(reversed(modules))
            for loop in LOOPS:
                for name in order:
                    elapsed = timeit.Timer(loops[name][loop], timer=time.process_time).timeit(number=1)
                    samples[loop, name].append(elapsed / count * 1e6)
        for loop in LOOPS:
            row: dict[str, Any] = {name: statistics.median(samples[loop, name]) for name in modules}
            if "before" in modules:
                pairs = zip(samples[loop, "before"], samples[loop, "after"], strict=True)
                row["speedup"] = statistics.median(before / after for before, after in pairs)
            figures[f"{models}/{loop}"] = row
    worst = max(figures[f"{models}/record"]["after"] for models in model_counts)
    goals = [
        {
            "goal": f"record() ≤ {GOAL_RECORD_US:.0f} µs per answered call (windows of {window}, 1 and 20 models)",
            "measured": ", ".join(
                f"{models} model{'s' if models > 1 else ''} {figures[f'{models}/record']['after']:.1f} µs"
                + (
                    f" (before {figures[f'{models}/record']['before']:.1f} µs)"
                    if "before" in figures[f"{models}/record"]
                    else ""
                )
                for models in model_counts
            ),
            "met": worst <= GOAL_RECORD_US,
        }
    ]
    settings = {"quick": quick, "rounds": rounds, "calls": count, "window": window, "before": BEFORE}
    return {"figures": figures, "goals": goals, "settings": settings, "before_measured": old is not None}


def render(results: dict[str, Any], command: str = "python bench/bench_learning.py") -> str:
    """The markdown section of docs/benchmarks.md for ``results`` (from :func:`run`)."""
    settings = results["settings"]
    out = [SECTION, ""]
    out.append(
        "What recording one answered call costs `PromptBoundLearner.record` (on the request path of the provider and "
        "of the LiteLLM callback), with every window full "
        f"({settings['window']} values): today's learner (each window kept sorted as values come and go, quantiles "
        "and maxima read as indexes, only the group appended to re-read) and, side by side in the same process, the "
        f"learner at commit `{settings['before'][:7]}` (every window of the model copied, sorted and scanned on each "
        f"record). Process CPU time, median over {settings['rounds']} rounds of {settings['calls']:,} calls (the two "
        "learners in turn); `record + views` adds the read the next routing decision makes (before, a record made it "
        "look at every model's revision)."
    )
    if not results["before_measured"]:
        out += ["", f"The learner at `{settings['before'][:7]}` could not be read (no git history): today's only."]
    out += [
        "",
        "| models | timed | before µs/call | after µs/call | before / after |",
        "|---:|---|---:|---:|---:|",
    ]
    for key, row in results["figures"].items():
        models, loop = key.split("/", 1)
        before = f"{row['before']:.1f}" if "before" in row else "—"
        speedup = f"{row['speedup']:.1f}×" if "speedup" in row else "—"
        out.append(f"| {models} | `{loop}` | {before} | {row['after']:.1f} | {speedup} |")
    out += ["", *goals_table(results["goals"])]
    out += ["", f"Reproduce: `{command}`."]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds")
    parser.add_argument("--rounds", type=int, default=9, help="rounds; the median is kept")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(args.quick, args.rounds)
    print(render(results, "python bench/bench_learning.py " + " ".join(sys.argv[1:] if argv is None else argv)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
