"""Benchmark: how long costmux takes to choose a model, next to LiteLLM's own cost-based routing.

Measured in one run, from the repository root::

    python bench/bench_routing.py [--quick] [--write-docs]

1. ``HeuristicRouter().select_model(...)`` and ``CostOptimizedRouter().select_model(...)`` over 20 models (20
   distinct entries of the bundled catalog, declared as ``custom_models`` at catalog prices), ``max_cost=0.01``,
   for prompts of about 200 B, 2 KB, 20 KB and 200 KB (deterministic English text with a little code);
2. scaling with the number of models (10, 20, 100, 1,000 synthetic models with seeded random prices, quality
   scores, context windows and output limits given through ``custom_models`` metadata) at 2 KB;
3. the peer: ``litellm.Router(routing_strategy="cost-based-routing")`` choosing among the same 20 deployments in
   one model group (``bench/_litellm_router_bench.py``, run with the LiteLLM proxy virtualenv's python, which is
   ``~/.cache/costmux/proxy-venv`` or ``$COSTMUX_PROXY_VENV``; without it the peer column is skipped);
4. the floor: prompt analysis alone, and ``bench/_floor.py``'s reference loop (the least per-model work of a
   cost-capped router in plain CPython) on the same 20 and 1,000 models, to compare the goals with what the machine
   allows;
5. a cProfile breakdown of the 20-model / 2 KB decision.

Each figure is the median over ``--repeats`` (≥ 3) of each repeat's p50 / p99, from ``time.perf_counter_ns``
around every call, after a warm-up, with garbage collection disabled during the timing loops. The cases are
interleaved within each repeat, and costmux's 20-model repeats run half before, half after the LiteLLM process, so a
change of machine load affects both sides. ``--write-docs`` replaces the "## Routing decision time" section of
``docs/benchmarks.md`` (creating the file if needed) with the results.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _floor import floor_decide, floor_rows
from _litellm_router_bench import iterations_for, summarize
from _report import goals_table

from app.catalog import default_catalog
from app.providers import LiteLLMProvider
from app.router import CostOptimizedRouter, HeuristicRouter, Router, analyze
from app.router.budget import caps_in_atto, validate_max_cost
from app.router.scoring import ModelProfile, expected_output_tokens
from app.tasks import TaskType
from app.tokens import PRIORS, count_prompt_tokens, family_counts

ROOT = Path(__file__).resolve().parent.parent
MAX_COST_USD = 0.01
GROUP = "costmux-bench"
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Routing decision time"
PEER_SCRIPT = Path(__file__).resolve().parent / "_litellm_router_bench.py"
DEFAULT_VENV = Path.home() / ".cache" / "costmux" / "proxy-venv"

# 20 of the catalog's 23 models: the three left out are superseded snapshots of models that stay in the fleet.
LEFT_OUT = ("gpt-4o-2024-05-13", "claude-3-sonnet", "llama-3-8b-instruct")

SIZES: tuple[tuple[str, int], ...] = (("200 B", 200), ("2 KB", 2_000), ("20 KB", 20_000), ("200 KB", 200_000))
MAIN_SIZES = ("200 B", "2 KB", "20 KB")
MODEL_COUNTS = (10, 20, 100, 1_000)
SCALING_SIZE = "2 KB"

GOAL_P50_US = 50.0
GOAL_BOUNDS_EXTRA_US = 20.0  # issue 13: per-family prompt bounds cost at most this much more per decision
BOUNDS_CASES = ("one bound per request", "per family", "per family + learned")
BOUNDS_REPEAT_FACTOR = 4
GOAL_1000_US = 1_000.0
GOAL_RATIO = 10.0
LOAD: list[float] = []  # 1-minute load average at the start and at the end of the run
LINEAR_TOLERANCE = 1.5  # the marginal cost per model from 100 to 1,000 may be up to 1.5x that from 10 to 100

ROUTERS: dict[str, Callable[[], Router]] = {"heuristic": HeuristicRouter, "cost_optimized": CostOptimizedRouter}

SENTENCES = (
    "The quarterly report shows revenue growing twelve percent while support tickets rose by a third.",
    "Please review the attached notes and explain which caching strategy suits the mobile clients better.",
    "Our team migrated the billing service last month, and latency at the ninety-ninth percentile doubled.",
    "Summarize the main risks for next quarter and suggest two mitigations for each of them.",
    "The new onboarding flow reduced churn among small customers, but enterprise accounts still complain.",
    "Compare the two proposals step by step, then recommend one and state the assumptions it relies on.",
    "Customers in Europe asked for invoices in their own currency and for a clearer refund policy.",
    "The nightly batch job sometimes overlaps with the backup window, which slows both of them down.",
)
CODE = (
    "def monthly_totals(rows):\n"
    "    totals = {}\n"
    "    for row in rows:\n"
    "        key = row['date'][:7]\n"
    "        totals[key] = totals.get(key, 0) + row['amount']\n"
    "    return dict(sorted(totals.items()))\n"
)


# -- inputs -----------------------------------------------------------------------------------------------------


def _fit(text: str, size: int) -> str:
    """``text`` cut to at most ``size`` UTF-8 bytes (the texts here are ASCII)."""
    return text.encode()[:size].decode(errors="ignore")


def prompt(size: int) -> list[dict[str, Any]]:
    """One user message of ``size`` bytes: English prose, then a short Python snippet in a fence (~10%)."""
    rng = random.Random(size)
    code_budget = max(40, size // 10)
    code = CODE * (code_budget // len(CODE) + 1)
    fence = "\n```python\n" + _fit(code, code_budget - 16).rstrip() + "\n```"
    prose: list[str] = []
    length = 0
    while length < size:
        sentence = rng.choice(SENTENCES)
        prose.append(sentence)
        length += len(sentence) + 1
    text = _fit(" ".join(prose), size - len(fence)).rstrip() + fence
    return [{"role": "user", "content": text}]


def prompt_bytes(messages: Sequence[dict[str, Any]]) -> int:
    return sum(len(str(message["content"]).encode()) for message in messages)


@dataclass(frozen=True)
class Fleet:
    """The 20 catalog models: costmux's provider and the same models as LiteLLM deployments."""

    provider: LiteLLMProvider
    names: tuple[str, ...]
    deployments: list[dict[str, Any]]


def catalog_fleet() -> Fleet:
    provider = LiteLLMProvider("http://proxy.invalid:4000", "k")
    # the first 20 (the catalog has grown since: these are the fleet of every recorded run)
    names = tuple(entry.name for entry in default_catalog() if entry.name not in LEFT_OUT)[:20]
    assert len(names) == 20 and names[-1] == "open-mistral-7b", names
    deployments = []
    for name in names:
        spec = provider.get_model_spec(name)
        assert spec is not None and spec.pricing is not None, name
        provider.add_custom_model(name, spec.pricing)
        input_price = float(spec.pricing.input_usd_per_token)
        output_price = float(spec.pricing.output_usd_per_token)
        deployments.append(
            {
                "model_name": GROUP,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_key": "x",
                    "mock_response": "hi",
                    "input_cost_per_token": input_price,
                    "output_cost_per_token": output_price,
                },
                "model_info": {
                    "id": name,
                    "input_cost_per_token": input_price,
                    "output_cost_per_token": output_price,
                    "max_input_tokens": spec.context_window_tokens,
                    "max_output_tokens": spec.max_output_tokens,
                },
            }
        )
    return Fleet(provider, names, deployments)


def _one_bound(*_: Any) -> None:
    """The router's per-model prompt bounds switched off: every model gets the request's one bound (before issue 13)."""
    return None


def taught_fleet(messages: list[dict[str, Any]]) -> LiteLLMProvider:
    """The catalog fleet with 30 billed calls learned for every model (what a running gateway soon has)."""
    provider = catalog_fleet().provider
    counts = count_prompt_tokens(messages)
    for name in provider.get_supported_models():
        figures = family_counts(counts, PRIORS[provider.token_family(name).family])
        for step in range(30):
            provider.prompt_bounds.record(name, figures, round(figures.estimate_tokens * (0.9 + step / 150)))
    return provider


def bounds_cases(messages: list[dict[str, Any]], provider: LiteLLMProvider) -> dict[str, Case]:
    """The 20-model, 2 KB decision with one prompt bound per request, per family, and per family with every model
    learned: the cost of issue 13's bounds, side by side."""
    before = CostOptimizedRouter()
    before._bounds_of = _one_bound
    taught = {"litellm": taught_fleet(messages)}
    after = CostOptimizedRouter()
    where = {"litellm": provider}
    return {
        "one bound per request": Case(lambda: before.select_model(messages, where, max_cost=MAX_COST_USD)),
        "per family": Case(lambda: after.select_model(messages, where, max_cost=MAX_COST_USD)),
        "per family + learned": Case(lambda: after.select_model(messages, taught, max_cost=MAX_COST_USD)),
    }


def synthetic_provider(count: int, seed: int) -> LiteLLMProvider:
    """``count`` models with seeded random prices (log-uniform $0.05-$30 per 1M input tokens, output 1-5x that),
    quality scores loosely rising with price, context windows and output limits."""
    rng = random.Random(seed * 100_003 + count)
    custom: dict[str, dict[str, Any]] = {}
    for index in range(count):
        input_1m = 10 ** rng.uniform(-1.3, 1.48)
        base = min(0.95, max(0.3, 0.62 + 0.1 * (rng.uniform(-1.0, 1.0) + 0.6 * (input_1m > 1) + 0.4 * (input_1m > 5))))
        custom[f"synthetic-model-{index:04d}"] = {
            "pricing": {"input_per_1m": round(input_1m, 4), "output_per_1m": round(input_1m * rng.uniform(1, 5), 4)},
            "metadata": {
                "quality": {
                    task.value: round(min(1.0, max(0.0, base + rng.uniform(-0.08, 0.08))), 3) for task in TaskType
                },
                "context_window": rng.choice((8_192, 32_000, 128_000, 200_000, 1_048_576)),
                "max_output_tokens": rng.choice((4_096, 8_192, 16_384)),
            },
        }
    return LiteLLMProvider("http://proxy.invalid:4000", "k", custom_models=custom)


def floor_cases(
    messages: list[dict[str, Any]], providers: dict[int, LiteLLMProvider], min_output_tokens: int = 16
) -> dict[tuple[str, int], Case]:
    """``("analysis", 0)``: ``analyze`` of the prompt alone; ``("floor", n)``: the reference loop over the ``n``
    models of ``providers[n]``, given the analysis' figures (what any router needs before its per-model work)."""
    analysis = analyze(messages)
    whole_cap, _exact = caps_in_atto(validate_max_cost(MAX_COST_USD))
    assert whole_cap is not None
    figures = (
        analysis.upper_estimate_tokens,
        analysis.estimated_tokens,
        expected_output_tokens(analysis),
        whole_cap,
        min_output_tokens,
    )
    cases: dict[tuple[str, int], Case] = {("analysis", 0): Case(lambda: analyze(messages))}
    for count, provider in providers.items():
        profiles = [
            ModelProfile.from_spec("p", name, spec)
            for name in provider.get_supported_models()
            if (spec := provider.get_model_spec(name)) is not None
        ]
        rows = floor_rows(profiles)
        assert len(rows) == count, (count, len(rows))
        cases[("floor", count)] = Case(lambda rows=rows: floor_decide(rows, *figures))
    return cases


# -- timing -----------------------------------------------------------------------------------------------------


@dataclass
class Case:
    """One timed call: ``call()`` decides once."""

    call: Callable[[], Any]
    iterations: int = 0
    runs: list[list[int]] = field(default_factory=list)
    chosen: str = ""


def sample(call: Callable[[], Any], iterations: int) -> list[int]:
    samples = [0] * iterations
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for index in range(iterations):
            start = clock()
            call()
            samples[index] = clock() - start
    finally:
        gc.enable()
    return samples


def calibrate(case: Case, settings: Settings) -> None:
    """Warm up (≥ ``warmup_s`` and 10 calls), then size the timing loop to last about ``target_s``."""
    calls = 0
    result: Any = None
    start = time.perf_counter()
    while calls < 10 or time.perf_counter() - start < settings.warmup_s:
        result = case.call()
        calls += 1
    per_call = (time.perf_counter() - start) / calls
    case.iterations = iterations_for(per_call, settings.target_s, settings.min_iterations, settings.max_iterations)
    case.chosen = str(result[1]) if isinstance(result, tuple) else str(result)


def calibrate_all(cases: dict[Any, Case], settings: Settings) -> None:
    for case in cases.values():
        calibrate(case, settings)


def run_repeats(cases: dict[Any, Case], repeats: int) -> None:
    for _ in range(repeats):  # interleaved: every case once per repeat
        for case in cases.values():
            case.runs.append(sample(case.call, case.iterations))
            gc.collect()


@dataclass(frozen=True)
class Settings:
    repeats: int
    target_s: float
    warmup_s: float
    min_iterations: int
    max_iterations: int
    profile_calls: int
    peer_timeout_s: float


def settings_for(quick: bool, repeats: int | None) -> Settings:
    if quick:
        return Settings(repeats or 3, 0.05, 0.03, 10, 2_000, 300, 90.0)
    return Settings(repeats or 5, 0.6, 0.15, 30, 50_000, 3_000, 240.0)


# -- the peer ---------------------------------------------------------------------------------------------------


def proxy_python() -> Path:
    venv = Path(os.environ.get("COSTMUX_PROXY_VENV") or DEFAULT_VENV)
    return venv / "bin" / "python"


def run_peer(fleet: Fleet, prompts: dict[str, list[dict[str, Any]]], settings: Settings) -> tuple[dict | None, str]:
    """LiteLLM's timings (the JSON answer of ``_litellm_router_bench.py``), or ``None`` and why not."""
    python = proxy_python()
    if not python.exists():
        return None, (
            f"LiteLLM peer skipped: no proxy virtualenv python at {python} (install it with scripts/install-proxy, "
            "or point COSTMUX_PROXY_VENV at a virtualenv with litellm)"
        )
    request = {
        "group": GROUP,
        "deployments": fleet.deployments,
        "prompts": prompts,
        "repeats": settings.repeats,
        "target_s": settings.target_s,
        "warmup_s": settings.warmup_s,
        "min_iterations": settings.min_iterations,
        "max_iterations": settings.max_iterations,
    }
    env = {
        **os.environ,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MODE": "PRODUCTION",
        "PYTHONHASHSEED": "0",
    }
    try:
        done = subprocess.run(
            [str(python), str(PEER_SCRIPT)],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=env,
            cwd=str(ROOT),
            timeout=settings.peer_timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, f"LiteLLM peer skipped: {PEER_SCRIPT.name} took more than {settings.peer_timeout_s:.0f} s"
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        return None, f"LiteLLM peer failed (exit {done.returncode}):\n{tail}"
    try:
        return json.loads(done.stdout), ""
    except json.JSONDecodeError:
        return None, f"LiteLLM peer wrote no JSON answer: {done.stdout[:500]!r}"


# -- profile ----------------------------------------------------------------------------------------------------


def _where(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    path = Path(filename)
    try:
        shown = str(path.resolve().relative_to(ROOT))
    except ValueError:
        shown = filename.split("site-packages/")[-1] if "site-packages/" in filename else path.name
    return f"{shown}:{line}({name})"


def profile(call: Callable[[], Any], calls: int, top: int = 10) -> tuple[str, str]:
    """cProfile of ``calls`` decisions: the top functions by cumulative and by own time, per decision."""
    for _ in range(20):
        call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    here = Path(__file__).resolve()
    rows = [
        (key, values)
        for key, values in stats.items()
        if key[0] == "~" or Path(key[0]).resolve() != here  # leave out this script's own loop
        if key[2] != "<method 'disable' of '_lsprof.Profiler' objects>"
    ]

    def table(sort_index: int, title: str) -> str:
        ordered = sorted(rows, key=lambda row: row[1][sort_index], reverse=True)[:top]
        lines = [f"{title} ({calls} decisions under cProfile; times per decision, inflated by the profiler)"]
        lines.append(f"{'calls/decision':>14} {'own µs':>9} {'cumulative µs':>14}  function")
        for key, (_cc, ncalls, own, cumulative, _callers) in ordered:
            lines.append(
                f"{ncalls / calls:>14.1f} {own / calls * 1e6:>9.1f} {cumulative / calls * 1e6:>14.1f}  {_where(key)}"
            )
        return "\n".join(lines)

    return table(3, "top 10 by cumulative time"), table(2, "top 10 by own time")


# -- report -----------------------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}×"


def ratio(peer: float | None, ours: float) -> float | None:
    return None if peer is None or ours <= 0 else peer / ours


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def costmux_revision() -> str:
    """The git commit of the tree, and whether app/ has uncommitted changes (read-only git commands)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "app"], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"commit {head}" + (
        " with uncommitted changes in app/ (the working tree as it was at the run)" if dirty else ""
    )


def machine(peer: dict | None) -> dict[str, str]:
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu_model(),
        "cores": f"{os.cpu_count()} logical ({usable} usable by this process)",
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "litellm": (f"{peer['litellm_version']} (its python {peer['python']})" if peer else "not measured"),
        "costmux": costmux_revision(),
        "load average (1 min) at start / end of the run": " / ".join(f"{value:.2f}" for value in LOAD),
    }


def goal_verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


def report(
    results: dict[str, Any],
    peer: dict | None,
    peer_note: str,
    profile_tables: tuple[str, str],
    command: str,
    settings: Settings,
    elapsed_s: float,
) -> str:
    fleet_cases: dict[tuple[str, str], Case] = results["fleet"]
    scale_cases: dict[tuple[str, int], Case] = results["scale"]
    prompts: dict[str, list[dict[str, Any]]] = results["prompts"]
    stats = {key: summarize(case.runs) for key, case in fleet_cases.items()}
    scale = {key: summarize(case.runs) for key, case in scale_cases.items()}
    peer_router = peer["results"]["router"] if peer else {}
    peer_strategy = peer["results"]["strategy"] if peer else {}

    def peer_p(label: str, which: str, source: dict[str, Any] | None = None) -> float | None:
        source = peer_router if source is None else source
        return source[label][which] if label in source else None

    out: list[str] = [SECTION, ""]
    out.append(
        f"Time for costmux to choose a model (`Router.select_model`: prompt analysis, scoring every model, budget "
        f"policy under `max_cost=${MAX_COST_USD}`, ranking), next to LiteLLM's own `cost-based-routing` choosing "
        f"among the same deployments. Measured by `bench/bench_routing.py` on {results['date']}; whole run "
        f"{elapsed_s:.0f} s."
    )
    out.append("")
    out.append(
        f"Each figure is the median over {settings.repeats} repeats of that repeat's p50 / p99 per call, in "
        "microseconds (`time.perf_counter_ns` around every call, after a warm-up, `gc.disable()` during the timing "
        f"loops, about {settings.target_s} s of calls per case and repeat, cases interleaved). The fleet is 20 "
        "distinct models of the bundled catalog (all but " + ", ".join(f"`{name}`" for name in LEFT_OUT) + "), "
        "declared as `custom_models` at catalog prices; prompts are one user message of English prose ending in a "
        "short Python snippet."
    )
    out.append("")
    out.append(
        "The LiteLLM figure times `await Router.async_get_available_deployment(model=group, messages=...)` on a "
        '`litellm.Router(routing_strategy="cost-based-routing")` whose single model group holds the 20 deployments '
        "(`openai/<name>`, `mock_response`, the same per-token prices in `litellm_params` and `model_info`): "
        "pre-routing hooks, cooldown / health filtering, and `LowestCostLoggingHandler`, which counts the prompt's "
        'tokens and sorts the deployments by input + output price. "strategy only" times '
        "`LowestCostLoggingHandler.async_get_available_deployments` alone. Neither sends a request. The two "
        "do not make the same decision: LiteLLM ranks by list price only; costmux also bounds the worst-case cost "
        "of the request under the cap, checks context windows and output room, and weighs quality for the task."
    )
    out.append("")
    if peer_note:
        out.append(f"> {peer_note.splitlines()[0]}")
        out.append("")

    out.append(f"### 20 models, max_cost ${MAX_COST_USD}")
    out.append("")
    out.append(
        "| prompt | bytes | heuristic p50 | heuristic p99 | cost_optimized p50 | cost_optimized p99 | "
        "litellm p50 | litellm p99 | litellm strategy-only p50 | litellm / heuristic (p50) | "
        "litellm / cost_optimized (p50) |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label in MAIN_SIZES:
        h, c = stats[("heuristic", label)], stats[("cost_optimized", label)]
        lp50 = peer_p(label, "p50_us")
        out.append(
            f"| {label} | {prompt_bytes(prompts[label]):,} | {fmt(h['p50_us'])} | {fmt(h['p99_us'])} | "
            f"{fmt(c['p50_us'])} | {fmt(c['p99_us'])} | {fmt(lp50)} | {fmt(peer_p(label, 'p99_us'))} | "
            f"{fmt(peer_p(label, 'p50_us', peer_strategy))} | {fmt_ratio(ratio(lp50, h['p50_us']))} | "
            f"{fmt_ratio(ratio(lp50, c['p50_us']))} |"
        )
    out.append("")
    out.append(
        "All times in µs. Models chosen (heuristic / cost_optimized / litellm): "
        + "; ".join(
            f"{label}: {fleet_cases[('heuristic', label)].chosen} / {fleet_cases[('cost_optimized', label)].chosen} / "
            f"{peer['chosen']['router'].get(label, '—') if peer else '—'}"
            for label in MAIN_SIZES
        )
        + "."
    )
    out.append("")

    out.append("### Scaling with the number of models (synthetic models, 2 KB prompt)")
    out.append("")
    out.append(
        "| models | heuristic p50 | heuristic p99 | µs per model | cost_optimized p50 | cost_optimized p99 | "
        "µs per model |"
    )
    out.append("|---:|---:|---:|---:|---:|---:|---:|")
    for count in MODEL_COUNTS:
        h, c = scale[("heuristic", count)], scale[("cost_optimized", count)]
        out.append(
            f"| {count:,} | {fmt(h['p50_us'])} | {fmt(h['p99_us'])} | {fmt(h['p50_us'] / count, 1)} | "
            f"{fmt(c['p50_us'])} | {fmt(c['p99_us'])} | {fmt(c['p50_us'] / count, 1)} |"
        )
    out.append("")
    linear: dict[str, tuple[float, float, bool]] = {}
    for name in ROUTERS:
        t10, t100, t1000 = (scale[(name, n)]["p50_us"] for n in (10, 100, 1_000))
        low, high = (t100 - t10) / 90, (t1000 - t100) / 900
        linear[name] = (low, high, low > 0 and high <= LINEAR_TOLERANCE * low)
    out.append(
        "Marginal cost per added model (p50): "
        + "; ".join(
            f"{name}: {fmt(low, 1)} µs from 10 to 100 models, {fmt(high, 1)} µs from 100 to 1,000"
            for name, (low, high, _ok) in linear.items()
        )
        + f". Growth counts as linear when the second is at most {LINEAR_TOLERANCE}× the first."
    )
    out.append("")

    out.append("### Scaling with the prompt size (the 20 catalog models)")
    out.append("")
    out.append(
        "| prompt | bytes | heuristic p50 | cost_optimized p50 | cost_optimized µs per added KB | litellm p50 | "
        "litellm µs per added KB | litellm / heuristic | litellm / cost_optimized |"
    )
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    previous: tuple[float, float, float | None] | None = None
    for label, _size in SIZES:
        h, c = stats[("heuristic", label)], stats[("cost_optimized", label)]
        size_kb = prompt_bytes(prompts[label]) / 1000
        lp50 = peer_p(label, "p50_us")
        ours_per_kb = peer_per_kb = None
        if previous is not None:
            ours_per_kb = (c["p50_us"] - previous[1]) / (size_kb - previous[0])
            if lp50 is not None and previous[2] is not None:
                peer_per_kb = (lp50 - previous[2]) / (size_kb - previous[0])
        previous = (size_kb, c["p50_us"], lp50)
        out.append(
            f"| {label} | {prompt_bytes(prompts[label]):,} | {fmt(h['p50_us'])} | {fmt(c['p50_us'])} | "
            f"{fmt(ours_per_kb, 1)} | {fmt(lp50)} | {fmt(peer_per_kb, 1)} | {fmt_ratio(ratio(lp50, h['p50_us']))} | "
            f"{fmt_ratio(ratio(lp50, c['p50_us']))} |"
        )
    out.append("")
    out.append(
        '"µs per added KB" is the growth of p50 from the row above, divided by the bytes added: the cost of a '
        "longer prompt once the fixed per-decision cost is paid."
    )
    out.append("")

    p50_2kb = {name: stats[(name, SCALING_SIZE)]["p50_us"] for name in ROUTERS}
    p50_1000 = {name: scale[(name, 1_000)]["p50_us"] for name in ROUTERS}
    ratios = {
        (name, label): ratio(peer_p(label, "p50_us"), stats[(name, label)]["p50_us"])
        for name in ROUTERS
        for label in MAIN_SIZES
    }
    known_ratios = [value for value in ratios.values() if value is not None]
    ratio_met = None if not peer else all(value >= GOAL_RATIO for value in known_ratios)
    goals = [
        (
            f"p50 ≤ {GOAL_P50_US:.0f} µs, 20 models, 2 KB prompt",
            ", ".join(f"{name} {fmt(value)} µs" for name, value in p50_2kb.items()),
            all(value <= GOAL_P50_US for value in p50_2kb.values()),
        ),
        (
            "linear growth with the number of models",
            ", ".join(f"{name} {fmt(low, 1)} → {fmt(high, 1)} µs/model" for name, (low, high, _) in linear.items()),
            all(ok for _low, _high, ok in linear.values()),
        ),
        (
            f"p50 ≤ {GOAL_1000_US / 1000:.0f} ms at 1,000 models",
            ", ".join(f"{name} {fmt(value)} µs" for name, value in p50_1000.items()),
            all(value <= GOAL_1000_US for value in p50_1000.values()),
        ),
        (
            f"≥ {GOAL_RATIO:.0f}× faster than LiteLLM cost-based routing (p50, 200 B-20 KB, both routers)",
            (f"{fmt(min(known_ratios), 2)}× to {fmt(max(known_ratios), 2)}×" if known_ratios else "not measured"),
            ratio_met,
        ),
    ]
    out.append("### Goals")
    out.append("")
    out.append("| goal | measured | verdict |")
    out.append("|---|---|---|")
    for goal, measured, met in goals:
        out.append(f"| {goal} | {measured} | {goal_verdict(met)} |")
    out.append("")
    missed = [goal for goal, _measured, met in goals if met is False]
    out.append(
        f"{len(missed)} of {len(goals)} goals are not met: see the floor below."
        if missed
        else "All measured goals are met."
    )
    out.append("")
    out.extend(floor_section(results["floor"], p50_2kb, p50_1000))
    out.extend(bounds_section(results["bounds"]))
    out.append("### Profile: cost_optimized, 20 models, 2 KB prompt")
    out.append("")
    out.append("```text")
    out.append(profile_tables[0])
    out.append("")
    out.append(profile_tables[1])
    out.append("```")
    out.append("")

    out.append("### Machine and reproduction")
    out.append("")
    for key, value in machine(peer).items():
        out.append(f"- {key}: {value}")
    out.append(f"- date: {results['date']}")
    if peer:
        out.append(f"- litellm import time in its process: {peer['import_s']:.1f} s (not part of any figure)")
    out.append("")
    out.append("Reproduce from the repository root (`--quick` for a rough run of about 30 s):")
    out.append("")
    out.append("```bash")
    out.append(command)
    out.append("```")
    return "\n".join(out) + "\n"


def bounds_only(settings: Settings) -> list[str]:
    """Issue 13's prompt-bounds table alone (``--bounds-only``): the three cases of :func:`bounds_cases`, calibrated
    and repeated as in the full run."""
    bounds = bounds_cases(prompt(dict(SIZES)[SCALING_SIZE]), catalog_fleet().provider)
    calibrate_all(bounds, settings)
    run_repeats(bounds, BOUNDS_REPEAT_FACTOR * settings.repeats)
    return bounds_section(bounds)


def bounds_section(cases: dict[str, Case]) -> list[str]:
    """The table of issue 13's per-model prompt bounds: each model's family figures (and learned bound) against one
    bound per request, same decision, same run. The extra time is the median over repeats of the paired difference
    of p50s (the three cases run back to back in each repeat, so a change of machine load hits them alike)."""
    stats = {name: summarize(case.runs) for name, case in cases.items()}
    before = stats[BOUNDS_CASES[0]]["p50_us_repeats"]
    out = [
        "### Per-model prompt bounds (token families, learned bounds)",
        "",
        "cost_optimized, 20 catalog models (6 token families), 2 KB prompt, `max_cost=$0.01`, in the same run: the "
        "router as before issue 13 (one prompt bound per request, for every model), with each model's family bound "
        "(computed once per family per request), and with every model's bound learned from 30 billed calls. "
        f"{len(before)} repeats; the extra time is the median of the per-repeat differences of p50 (the cases run "
        "back to back in each repeat), with their range.",
        "",
        "| prompt bounds | p50 µs | p99 µs | p50 more than one bound per request (median, range over repeats) |",
        "|---|---:|---:|---:|",
    ]
    worst: float | None = None
    for name in BOUNDS_CASES:
        diffs = [after - base for after, base in zip(stats[name]["p50_us_repeats"], before, strict=True)]
        extra = statistics.median(diffs)
        more = ""
        if name != BOUNDS_CASES[0]:
            worst = extra if worst is None else max(worst, extra)
            more = f"{extra:+.1f} µs ({min(diffs):+.1f} … {max(diffs):+.1f})"
        out.append(f"| {name} | {fmt(stats[name]['p50_us'])} | {fmt(stats[name]['p99_us'])} | {more} |")
    out.append("")
    goal = {
        "goal": f"per-model prompt bounds cost ≤ {GOAL_BOUNDS_EXTRA_US:.0f} µs more per decision (issue 13; 20 "
        "models, 2 KB prompt)",
        "measured": f"{worst or 0:+.1f} µs at worst (median over repeats)",
        "met": worst is not None and worst <= GOAL_BOUNDS_EXTRA_US,
    }
    out += [*goals_table([goal]), ""]  # a goals table: `python -m bench` lists it among the goals
    return out


def floor_section(
    floor_cases: dict[tuple[str, int], Case], p50_2kb: dict[str, float], p50_1000: dict[str, float]
) -> list[str]:
    """The goals next to what CPython allows on this machine (``bench/_floor.py``)."""
    floor = {key: summarize(case.runs)["p50_us"] for key, case in floor_cases.items()}
    analysis, loop_20, loop_1000 = floor[("analysis", 0)], floor[("floor", 20)], floor[("floor", 1_000)]
    best_20, best_1000 = min(p50_2kb.values()), min(p50_1000.values())
    out = ["### The floor: what the goals ask of CPython here", ""]
    out.append(
        "`bench/_floor.py` is a reference loop doing the least per-model work of a cost-capped router, in plain "
        "CPython: worst-case cost, the `max_tokens` the cap affords, expected cost and one tuple per model, then "
        "one sort by expected cost; no quality, capability, window or availability checks, no reasons. It and "
        "`analyze` (the prompt analysis alone) are timed in the same run as the routers, 2 KB prompt, p50 in µs:"
    )
    out.append("")
    out.append("| | 20 catalog models | 1,000 synthetic models |")
    out.append("|---|---:|---:|")
    out.append(f"| prompt analysis alone (`analyze`) | {fmt(analysis)} | {fmt(analysis)} |")
    out.append(f"| reference loop alone | {fmt(loop_20)} | {fmt(loop_1000)} |")
    out.append(f"| analysis + reference loop | {fmt(analysis + loop_20)} | {fmt(analysis + loop_1000)} |")
    out.append(f"| costmux, the faster router | {fmt(best_20)} | {fmt(best_1000)} |")
    out.append(f"| goal | {fmt(GOAL_P50_US)} | {fmt(GOAL_1000_US)} |")
    out.append("")
    per_model = (best_1000 - best_20) / 980
    floor_per_model = (loop_1000 - loop_20) / 980
    out.append(
        f"Per added model costmux spends {fmt(per_model, 2)} µs, the reference loop {fmt(floor_per_model, 2)} µs "
        f"({fmt_ratio(ratio(per_model, floor_per_model))}): the rest is what the reference leaves out (quality per "
        "task and the strategy's ranking, capability, window and availability checks, a recorded verdict per "
        "candidate). A goal below the floor's row cannot be met by tuning this design in CPython on this machine; "
        "one above it but below costmux's row needs less work per request (e.g. verdicts and the fallback order "
        "built only when read) or native code (see the performance pass for a mypyc trial)."
    )
    out.append("")
    return out


def write_docs(section: str) -> None:
    """Replace the section of docs/benchmarks.md (up to the next ``## `` heading), or append it."""
    if DOCS.exists():
        lines = DOCS.read_text(encoding="utf-8").splitlines()
    else:
        lines = ["# Benchmarks", "", "Measured with the scripts in `bench/`; each section says how to reproduce it."]
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    new = section.rstrip("\n").splitlines()
    if start is None:
        while lines and not lines[-1].strip():
            lines.pop()
        lines = [*lines, "", *new]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = lines[end:]
        lines = [*lines[:start], *new, *([""] if tail else []), *tail]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text("\n".join(lines) + "\n", encoding="utf-8")


# -- main -------------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (about 30 s), rough figures")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per case (≥ 3; default 5, quick 3)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic models")
    parser.add_argument("--write-docs", action="store_true", help=f"update '{SECTION}' in docs/benchmarks.md")
    parser.add_argument("--bounds-only", action="store_true", help="only the per-model prompt bounds table")
    args = parser.parse_args()
    if args.repeats is not None and args.repeats < 3:
        parser.error("--repeats must be at least 3")
    settings = settings_for(args.quick, args.repeats)
    if args.bounds_only:
        print("\n".join(bounds_only(settings)))
        return 0
    began = time.perf_counter()
    LOAD.append(os.getloadavg()[0])
    command = shlex.join(["python", "bench/bench_routing.py", *sys.argv[1:]])

    fleet = catalog_fleet()
    prompts = {label: prompt(size) for label, size in SIZES}
    providers = {"litellm": fleet.provider}
    routers = {name: make() for name, make in ROUTERS.items()}

    def decide(router: Router, messages: list[dict[str, Any]], where: dict[str, LiteLLMProvider]) -> Callable[[], Any]:
        return lambda: router.select_model(messages, where, max_cost=MAX_COST_USD)

    fleet_cases = {
        (name, label): Case(decide(router, prompts[label], providers))
        for label, _size in SIZES
        for name, router in routers.items()
    }
    # The costmux repeats are split around the LiteLLM run, so a change of machine load hits both sides.
    first_half = (settings.repeats + 1) // 2
    print(f"costmux, 20 catalog models, {len(SIZES)} prompt sizes ...", file=sys.stderr, flush=True)
    calibrate_all(fleet_cases, settings)
    run_repeats(fleet_cases, first_half)

    print("litellm cost-based-routing, same 20 deployments ...", file=sys.stderr, flush=True)
    peer, peer_note = run_peer(fleet, prompts, settings)
    if peer_note:
        print(peer_note, file=sys.stderr, flush=True)

    print("costmux, 20 catalog models, remaining repeats ...", file=sys.stderr, flush=True)
    run_repeats(fleet_cases, settings.repeats - first_half)

    print(f"costmux, {', '.join(map(str, MODEL_COUNTS))} synthetic models ...", file=sys.stderr, flush=True)
    scale_providers = {count: {"synthetic": synthetic_provider(count, args.seed)} for count in MODEL_COUNTS}
    scale_cases = {
        (name, count): Case(decide(router, prompts[SCALING_SIZE], scale_providers[count]))
        for count in MODEL_COUNTS
        for name, router in routers.items()
    }
    calibrate_all(scale_cases, settings)
    run_repeats(scale_cases, settings.repeats)

    print("prompt bounds: one per request, per family, per family + learned ...", file=sys.stderr, flush=True)
    bounds = bounds_cases(prompts[SCALING_SIZE], fleet.provider)
    calibrate_all(bounds, settings)
    run_repeats(bounds, BOUNDS_REPEAT_FACTOR * settings.repeats)  # paired per repeat: more repeats, less noise

    print("the floor: prompt analysis alone, reference loop over 20 and 1,000 models ...", file=sys.stderr, flush=True)
    floor = floor_cases(prompts[SCALING_SIZE], {20: fleet.provider, 1_000: scale_providers[1_000]["synthetic"]})
    calibrate_all(floor, settings)
    run_repeats(floor, settings.repeats)

    print("cProfile of cost_optimized, 20 models, 2 KB ...", file=sys.stderr, flush=True)
    profile_tables = profile(fleet_cases[("cost_optimized", SCALING_SIZE)].call, settings.profile_calls)

    results = {
        "fleet": fleet_cases,
        "scale": scale_cases,
        "floor": floor,
        "bounds": bounds,
        "prompts": prompts,
        "date": datetime.now(UTC).date().isoformat(),
    }
    LOAD.append(os.getloadavg()[0])
    section = report(results, peer, peer_note, profile_tables, command, settings, time.perf_counter() - began)
    print(section)
    if args.write_docs:
        write_docs(section)
        print(f"updated {DOCS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
