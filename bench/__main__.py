"""Run every benchmark, each side by side with its peer in the same run, and (``--write-docs``) regenerate the whole of
docs/benchmarks.md: goals with the figures reached, the machine, the exact commands, then each benchmark's section.

From the repository root::

    python -m bench [--quick] [--write-docs]
                    [--only routing,quality,provider,gateway,plugin,learning,memory,shared,eval]

1. routing: decision time vs LiteLLM's cost-based routing, and scaling (``bench/bench_routing.py``, run as a
   subprocess; its markdown section is taken as it prints it);
1b. quality: what a learned quality model adds to a decision, next to the catalog path (``bench/bench_quality.py``);
2. provider: ``LiteLLMProvider`` vs raw httpx vs the openai client (``bench/bench_provider.py``);
3. gateway: ``costmux serve`` in front of the LiteLLM proxy (``bench/bench_gateway.py`` when present: a function
   ``run(quick=...)`` returning a dict, optionally ``render(dict) -> str``; otherwise the section says "not run");
4. plugin: the costmux callback inside the LiteLLM proxy vs the same proxy without it (``bench/bench_plugin.py``);
5. learning: what recording one answered call costs the prompt-bound learner, today's next to the learner before its
   incremental windows (``bench/bench_learning.py``);
6. memory: RSS over 100,000 routed requests (``bench/bench_memory.py``);
7. shared: state shared by replicas through Redis: one key's budget under 3 replicas × 100 concurrent requests, an
   rpm limit across replicas, the Redis path's overhead next to the memory path (each request's own time in the
   gateway, upstream delays seeded), Redis round trips (``bench/bench_shared.py``);
8. eval: prompts per second ``costmux eval`` routes through ``Router.decide`` on 2 models (``bench/bench_eval.py``).

Every section carries a goals table (``| goal | measured | verdict |``); the summary at the top is read from them, so
it always matches the sections below it. With ``--only``, the sections not run are kept from the current document
(and marked so). ``--quick`` makes a rough smoke run of every benchmark (a few minutes instead of ten or more).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOCS = ROOT / "docs" / "benchmarks.md"
BENCHMARKS = ("routing", "quality", "provider", "gateway", "plugin", "learning", "memory", "shared", "eval")
HEADINGS = {
    "routing": "## Routing decision time",
    "quality": "## Learned quality",
    "provider": "## Provider overhead",
    "gateway": "## Gateway overhead",
    "plugin": "## LiteLLM plugin overhead",
    "learning": "## Prompt-bound learning",
    "memory": "## Memory",
    "shared": "## Shared state (Redis)",
    "eval": "## Evaluation throughput",
}
GATEWAY_FUNCTIONS = ("run", "run_benchmark", "run_gateway_bench", "benchmark")
PACKAGES = ("httpx", "httpx2", "openai", "pydantic", "pydantic-core", "tenacity", "prometheus-client", "starlette")
PROXY_VENV = Path(os.environ.get("COSTMUX_PROXY_VENV") or Path.home() / ".cache" / "costmux" / "proxy-venv")
_GOAL_ROW = re.compile(r"^\|(?P<goal>[^|]+)\|(?P<measured>[^|]+)\|(?P<verdict>[^|]+)\|\s*$")

# What the performance pass changed, with figures measured before and after it. A record of the past: the runner does
# not re-measure old code, it keeps this text as written (the sections below it are re-measured on every run).
PERFORMANCE_PASS = """\
## Performance pass: what was changed to reach the goals

Provider (`app/providers`, commits ee24b2a, e7d80c1, 27fdc4c). Measured with `bench/bench_provider.py`'s mock-transport
phase (the clients taking turns call by call, CPU per call, median of 3 rounds of 2,000 calls each) on the tree before
the pass (82e7784) and after it (27fdc4c), alternating the two trees three times in a row on this machine:

| tree | costmux CPU µs/call | raw httpx CPU µs/call | costmux over httpx | openai CPU µs/call |
|---|---:|---:|---:|---:|
| before (82e7784) | 387 | 225 | +162 µs (1.72×) | 1,324 |
| after (27fdc4c) | 276 | 228 | +47 µs (1.21×) | 1,307 |

On loopback, with the same benchmark (costmux and raw httpx sharing one client, 5 rounds), run on each tree one after
the other:

| tree | p50 costmux / httpx, concurrency 1 | throughput costmux / httpx, concurrency 64 | goals |
|---|---:|---:|---|
| before (82e7784) | 1.137× | 88.5% | both not met |
| after (27fdc4c) | 1.055× | 96.8% | both met |

A cProfile of the provider on the mock transport showed the overhead in five places; each was removed without
changing what the provider does (tests in `tests/unit/test_provider_fast_paths.py`; all unit tests green):

- tenacity's `AsyncRetrying` was built and entered for every call (~40 µs): the first attempt now runs outside it;
  when it fails, tenacity takes over and its first attempt re-raises that error, so retry decisions, waits and
  `RetryScheduled` events are those of a call run entirely under tenacity;
- the answer was decoded by `json.loads` and then validated by `model_validate` (~15 µs): one pass of pydantic-core's
  `model_validate_json` now does both (non-UTF-8 JSON and non-JSON bodies still take the old path and its errors);
- the prompt's upper token estimate for the rate limiter (~15 µs) was made for every call: it is now made only for a
  model with a tokens-per-minute limit (also if one appears while the call waits for its requests-per-minute limit);
- every message went through a pydantic validate-and-dump round trip (~15 µs for two messages): plain text messages
  (a valid role and a string content, nothing else) are copied as they are, which is what that round trip returns
  for them; any other message still goes through it;
- the proxy's `x-ratelimit-remaining-*` headers were lower-cased into a dict for every answer, and bucket lists built
  for models without limits: unlimited models skip both.

Router (`app/router`, `app/providers` availability; commits 436a7c3, aab010a, a4587c4). Measured with `select_model`
(cost_optimized, `max_cost` $0.01, 2 KB prompt), process CPU time, best of 9 repeats, the tree before the pass
(15db5e4) and after it (a4587c4 and later) alternated three times in a row on this machine:

| tree | 20 catalog models | 1,000 synthetic models | µs per added model |
|---|---:|---:|---:|
| before (15db5e4) | 194 µs | 5,200 µs | ~5.0 |
| after | 144 µs | 2,045 µs | ~1.9 |

What changed (same decisions: the 40-prompt routing table and every router test unchanged):

- money on the hot path is exact int atto-USD (10⁻¹⁸ USD; `app/pricing.py` converts) instead of `Decimal`: a
  plan is a few int operations; a price with more than 18 decimals stays an exact `Decimal` in the same unit;
- one policy pass per provider over precomputed per-model rows (one tuple unpacked per model), with the checks that
  can rule a model out looked at only when one may apply; verdicts are named tuples built with `tuple.__new__`;
- a provider reports its unavailable models once per request (`unavailable_models`: only models with an open
  breaker, a 429 hold or rpm/tpm limits are looked at) instead of one peek per model;
- rankings are stable sorts on C-level keys instead of one sort on a Python key function; the cap in atto-USD is
  computed once per request.

Router, second pass (commit d59d4df; same decisions, every test unchanged but one that
listed rejections in the old order). `select_model`, `max_cost` $0.01, process CPU time, best of 5 repeats, the
tree before (c28e494) and after it alternated three times in a row; medians of the three:

| tree | 20 models, 200 B | 20 models, 2 KB | 20 models, 20 KB | 1,000 models, 2 KB |
|---|---:|---:|---:|---:|
| before (c28e494), cost_optimized | 123 µs | 143 µs | 228 µs | 2,065 µs |
| after, cost_optimized | 109 µs | 130 µs | 219 µs | 1,986 µs |
| before (c28e494), heuristic | 121 µs | 148 µs | 230 µs | 2,204 µs |
| after, heuristic | 106 µs | 133 µs | 216 µs | 2,121 µs |

What changed: the per-request records (prompt analysis, token counts, intent, limits, the decision) are named
tuples instead of frozen dataclasses, whose `__init__` sets every field through `object.__setattr__` (~5 µs per
request); the cap is converted to atto-USD once; the policy collects the kept verdicts in its own loop; the
strategies partition and take the best quality with C-level `map`/`any`; each provider's models are considered in
name order, so the name tie-break sort runs over sorted input; the plan skips the big-int division when a model's
whole output ceiling fits the cap; the reason's "est. $" text is formatted from the int atto-USD without `Decimal`.

What is left, and why three routing goals are still not met. The routing section's "floor" table times, in the
same run, prompt analysis alone and a reference loop doing only the least per-model work of a cost-capped router in
plain CPython (`bench/_floor.py`). Analysis alone takes ~49 µs for the 2 KB prompt, and analysis + the reference
loop over 20 models ~61 µs: above the 50 µs goal before quality, capability, window and availability checks,
ranking or a verdict per candidate are added; the ratio to LiteLLM (≥ 10× means ≤ 55 µs at 200 B) is out of reach
for the same reason. At 1,000 models the reference loop alone takes ~0.7 ms; costmux spends ~2.8× the reference's
work per model (quality for the task, the checks, a verdict per candidate, the strategy's full order). Compiling
the six hot modules with mypyc (tried on a scratch copy, not shipped) gave only 1.2× (20 models, 2 KB: 130 → 110
µs; 1,000 models: 2.0 → 1.65 ms), since the work is generic object operations. Reaching the goals needs one of:
goals set against the measured floor, a hand-written native extension for the analysis and the per-model loop, or
a decision that records less per request (e.g. the verdicts and the fallback order built only when read).
"""


@dataclass
class Section:
    """One benchmark's markdown section, how long it took, and whether it was run now."""

    name: str
    markdown: str
    elapsed_s: float = 0.0
    fresh: bool = True


# -- the benchmarks -----------------------------------------------------------------------------------------------


def run_routing(quick: bool) -> str:
    """``bench/bench_routing.py`` as a subprocess; its stdout is its markdown section."""
    command = [sys.executable, str(ROOT / "bench" / "bench_routing.py"), *(["--quick"] if quick else [])]
    done = subprocess.run(command, cwd=str(ROOT), stdout=subprocess.PIPE, text=True, check=False)
    section = done.stdout.strip()
    if done.returncode != 0 or not section.startswith(HEADINGS["routing"]):
        return not_run("routing", f"`bench/bench_routing.py` failed (exit {done.returncode}); see its output")
    return section + "\n"


def _script_results(script: str, quick: bool) -> dict[str, Any]:
    """Run ``bench/<script>`` in a fresh process (so no benchmark measures another's leftovers) and read the JSON
    results it writes."""
    with tempfile.TemporaryDirectory(prefix="costmux-bench-") as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, str(ROOT / "bench" / script), *(["--quick"] if quick else []), "--json", str(out)]
        subprocess.run(command, cwd=str(ROOT), stdout=subprocess.DEVNULL, check=True)
        results: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return results


def _run_and_render(name: str, quick: bool) -> str:
    """``bench/bench_<name>.py`` as a subprocess, its results rendered by the module's ``render``."""
    script = f"bench_{name}.py"
    module = importlib.import_module(f"bench.bench_{name}")
    try:
        results = _script_results(script, quick)
    except subprocess.CalledProcessError as exc:
        return not_run(name, f"`bench/{script}` failed (exit {exc.returncode}); see its output")
    rendered: str = module.render(results, f"python bench/{script}" + (" --quick" if quick else ""))
    return rendered


def run_provider(quick: bool) -> str:
    return _run_and_render("provider", quick)


def run_quality(quick: bool) -> str:
    return _run_and_render("quality", quick)


def run_learning(quick: bool) -> str:
    return _run_and_render("learning", quick)


def run_memory(quick: bool) -> str:
    return _run_and_render("memory", quick)


def run_plugin(quick: bool) -> str:
    return _run_and_render("plugin", quick)


def run_shared(quick: bool) -> str:
    return _run_and_render("shared", quick)


def run_eval(quick: bool) -> str:
    return _run_and_render("eval", quick)


def run_gateway(quick: bool) -> str:
    """``bench.bench_gateway``'s result, if the module and a function returning a dict exist; else "not run"."""
    try:
        module = importlib.import_module("bench.bench_gateway")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench.bench_gateway", "bench"):
            return not_run("gateway", f"`bench/bench_gateway.py` could not be imported: {exc}")
        return not_run("gateway", "`bench/bench_gateway.py` is not present")
    function = next(
        (getattr(module, name) for name in GATEWAY_FUNCTIONS if callable(getattr(module, name, None))), None
    )
    if function is None:
        wanted = ", ".join(f"`{name}()`" for name in GATEWAY_FUNCTIONS)
        return not_run("gateway", f"`bench/bench_gateway.py` has none of {wanted}")
    parameters = inspect.signature(function).parameters
    kwargs = {name: value for name, value in (("quick", quick), ("progress", True)) if name in parameters}
    try:
        results = function(**kwargs)
        if inspect.iscoroutine(results):
            import asyncio

            results = asyncio.run(results)
    except Exception as exc:  # a failing benchmark must not stop the others
        return not_run("gateway", f"`bench_gateway.{function.__name__}()` failed: {type(exc).__name__}: {exc}")
    if not isinstance(results, dict):
        return not_run(
            "gateway", f"`bench_gateway.{function.__name__}()` returned {type(results).__name__}, not a dict"
        )
    renderer = getattr(module, "render", None)
    text = (renderer(results) if callable(renderer) else generic_section(results)).strip()
    if not text.startswith("## "):
        text = f"{HEADINGS['gateway']}\n\n{text}"
    if not goals_of(text):
        text += "\n\n" + goals_table(gateway_goals(results))
    return text + "\n"


def gateway_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway's goals: its ``goals`` list, or its one goal (``goal_ratio``, ``goal_met``, the ratio of what
    costmux adds to what the proxy adds at each concurrency)."""
    if isinstance(results.get("goals"), list):
        return list(results["goals"])
    if "goal_met" not in results:
        return []
    by_concurrency = results.get("concurrency") or {}
    measured = ", ".join(
        f"{ratio:.2f} at concurrency {c}"
        for c, figures in by_concurrency.items()
        if isinstance(figures, dict) and isinstance(ratio := figures.get("ratio"), int | float)
    )
    return [
        {
            "goal": f"costmux serve adds ≤ {results.get('goal_ratio', 0.2):.2f}× the latency the LiteLLM proxy adds "
            "(p50, every concurrency)",
            "measured": f"costmux added / proxy added: {measured or 'see the section'}",
            "met": results["goal_met"],
        }
    ]


def goals_table(goals: list[dict[str, Any]]) -> str:
    if not goals:
        return ""
    rows = ["| goal | measured | verdict |", "|---|---|---|"]
    rows += [f"| {g.get('goal', '?')} | {g.get('measured', '?')} | {verdict(g.get('met'))} |" for g in goals]
    return "\n".join(rows) + "\n"


def generic_section(results: dict[str, Any]) -> str:
    """A section for a result dict without its own renderer: its goals (``goals``: goal / measured / met), then the
    figures as JSON."""
    out = [HEADINGS["gateway"], "", "Measured by `bench/bench_gateway.py`.", ""]
    table = goals_table(gateway_goals(results))
    if table:
        out += [table]
    figures = {key: value for key, value in results.items() if key != "goals"}
    out += ["```json", json.dumps(figures, indent=2, default=str), "```"]
    return "\n".join(out) + "\n"


def not_run(name: str, why: str) -> str:
    return f"{HEADINGS[name]}\n\nNot run: {why}.\n"


def verdict(met: object) -> str:
    return "n/a" if met is None else ("**met**" if met else "**not met**")


RUNNERS: dict[str, Callable[[bool], str]] = {
    "routing": run_routing,
    "provider": run_provider,
    "gateway": run_gateway,
    "plugin": run_plugin,
    "quality": run_quality,
    "learning": run_learning,
    "memory": run_memory,
    "shared": run_shared,
    "eval": run_eval,
}


# -- the document -------------------------------------------------------------------------------------------------


def goals_of(markdown: str) -> list[tuple[str, str, str]]:
    """``(goal, measured, verdict)`` rows of the goals tables in a section."""
    rows: list[tuple[str, str, str]] = []
    in_table = False
    for line in markdown.splitlines():
        match = _GOAL_ROW.match(line.strip())
        if match is None:
            in_table = False
            continue
        cells = tuple(cell.strip() for cell in match.group("goal", "measured", "verdict"))
        if cells == ("goal", "measured", "verdict"):
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            rows.append(cells)  # type: ignore[arg-type]
    return rows


def previous_sections(path: Path) -> dict[str, str]:
    """The current document's benchmark sections, by benchmark name."""
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for name, heading in HEADINGS.items():
        start = text.find(f"\n{heading}\n")
        if start < 0:
            continue
        end = text.find("\n## ", start + 1)
        found[name] = text[start + 1 : end + 1 if end >= 0 else len(text)].rstrip() + "\n"
    return found


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _proxy_litellm() -> str:
    """The proxy's litellm version and where it is: beside this Python (``pip install -e ".[proxy]"``, found there
    first, as scripts/install-proxy and the tests do), else in the proxy virtualenv."""
    beside = _version("litellm")
    if beside != "not installed":
        return f"{beside} (beside this Python)"
    python = PROXY_VENV / "bin" / "python"
    if not python.exists():
        return "not installed"
    done = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{done.stdout.strip() or 'unknown'} (in the proxy virtualenv)"


def _cpuinfo() -> tuple[str, str]:
    model, mhz = platform.processor() or platform.machine(), ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name") and model in ("", platform.processor(), platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("cpu MHz") and not mhz:
                mhz = f"{float(line.split(':', 1)[1]):,.0f} MHz"
    except OSError:
        pass
    return model, mhz


def _memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return "unknown"


def calibration_us() -> float:
    """Best-of-5 µs per ``sum(range(1000))``: a yardstick to compare machines (and this machine over time)."""
    timer = timeit.Timer("sum(range(1000))")
    number, _ = timer.autorange()
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine(load: list[float], calibration: list[float]) -> list[str]:
    model, mhz = _cpuinfo()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    dirty = _git("status", "--porcelain", "--", "app", "bench")
    revision = _git("rev-parse", "--short", "HEAD") or "unknown"
    packages = ", ".join(f"{name} {_version(name)}" for name in PACKAGES)
    return [
        f"- cpu: {model}" + (f" ({mhz})" if mhz else ""),
        f"- cores: {os.cpu_count()} logical, {usable} usable by this process; memory {_memory_total()}",
        f"- os: {platform.system()} {platform.release()}",
        f"- python: {platform.python_implementation()} {platform.python_version()}",
        f"- packages: {packages}; litellm {_proxy_litellm()}",
        f"- costmux: commit {revision}" + (" with uncommitted changes in app/ or bench/" if dirty else ""),
        "- calibration, `sum(range(1000))` best of 5, at start / end: "
        + " / ".join(f"{value:.1f} µs" for value in calibration),
        "- load average (1 min) at start / end: " + " / ".join(f"{value:.2f}" for value in load),
    ]


KEPT = "*Kept from an earlier run (this run had `--only`).*"


def document(sections: list[Section], command: str, quick: bool, load: list[float], calibration: list[float]) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Benchmarks", ""]
    out.append(
        f"Generated by `{command}` on {date}"
        + (" (**quick run: rough figures**)" if quick else "")
        + ". Re-running it regenerates this whole file; every figure below comes from that one run, each "
        "benchmark side by side with its peer, repeated, with medians and ratios (sections kept from an earlier run "
        "say so). The machine is shared and small, so absolute times vary between runs; ratios measured in the same "
        "run are the figures to compare."
    )
    out.append("")
    out += ["## Goals", "", "| benchmark | goal | figure reached | verdict |", "|---|---|---|---|"]
    for section in sections:
        rows = goals_of(section.markdown)
        if not rows:
            out.append(f"| {section.name} | — | {first_line(section.markdown)} | not run |")
        for goal, measured, met in rows:
            out.append(f"| {section.name} | {goal} | {measured} | {met} |")
    out.append("")
    out += ["## Machine", "", *machine(load, calibration), ""]
    out += ["## How to reproduce", "", "From the repository root:", "", "```bash"]
    out += ["python -m bench --write-docs                        # everything; regenerates this file"]
    out += ["python -m bench --quick                             # a rough smoke run of everything (prints it)"]
    out += ["python -m bench --write-docs --only provider,memory # re-measure some sections, keep the others"]
    out += ["python bench/bench_provider.py --profile            # one benchmark alone (each bench/bench_*.py)"]
    out += ["```", ""]
    out.append(
        "Each section below names its own command and settings. The routing peer needs the LiteLLM proxy virtualenv "
        "(`~/.cache/costmux/proxy-venv`, or `$COSTMUX_PROXY_VENV`)."
    )
    out.append("")
    out.append(PERFORMANCE_PASS.rstrip())
    log = _git("log", "--oneline", "-n", "12", "--", "app/router", "app/providers", "app/gateway")
    if log:
        out += [
            "",
            "Latest changes to the measured code (`git log --oneline -- app/router app/providers app/gateway`):",
        ]
        out += ["", "```text", log, "```"]
    out.append("")
    for section in sections:
        body = section.markdown.rstrip()
        if not section.fresh and KEPT not in body:
            heading, _, rest = body.partition("\n")
            body = f"{heading}\n\n{KEPT}\n{rest}"
        elif section.elapsed_s:
            body += f"\n\n*This section took {section.elapsed_s:.0f} s to measure.*"
        out += [body, ""]
    return "\n".join(out).rstrip() + "\n"


def first_line(markdown: str) -> str:
    lines = [line for line in markdown.splitlines()[1:] if line.strip()]
    return lines[0].strip() if lines else "no figures"


# -- main ---------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a rough smoke run of every benchmark")
    parser.add_argument("--write-docs", action="store_true", help=f"regenerate {DOCS.relative_to(ROOT)}")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated benchmarks to run")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks {sorted(unknown)}; choose among {', '.join(BENCHMARKS)}")
    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])

    load, calibration = [os.getloadavg()[0]], [calibration_us()]
    kept = previous_sections(DOCS) if args.write_docs else {}
    sections: list[Section] = []
    for name in BENCHMARKS:
        if name not in chosen:
            if name in kept:
                sections.append(Section(name, kept[name], fresh=False))
            continue
        print(f"== {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        markdown = RUNNERS[name](args.quick)
        sections.append(Section(name, markdown, time.perf_counter() - started))
    load.append(os.getloadavg()[0])
    calibration.append(calibration_us())

    text = document(sections, command, args.quick, load, calibration)
    if args.write_docs:
        DOCS.write_text(text, encoding="utf-8")
        print(f"wrote {DOCS.relative_to(ROOT)}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
