"""costmux's strategies and LiteLLM's own, side by side on the vendored labelled sets, with ``costmux eval``'s metrics.

Run from the repository root (litellm installed: ``pip install -e ".[proxy]"``; offline, single process)::

    python bench/compare_litellm_strategies.py [--sets gsm8k,mmlu,mt_bench,llmrouter] [--limit N] [--seed 0]
        [--verify 200] [--json FILE] [--write-docs] [--quiet]
    python bench/compare_litellm_strategies.py --from-json FILE [--write-docs]   # render a saved run again

Every prompt of each set (``datasets/routellm``: gpt-4-1106-preview / Mixtral-8x7B, prices from the bundled catalog;
``datasets/llmrouter``: nine models, its ``prices.json``) is routed by costmux's strategies through ``Router.decide``
(as ``costmux eval`` does, with its ``quality_share`` sweep) and by each LiteLLM strategy that decides offline
(``bench/_litellm_strategies.py``: simple-shuffle, cost-based-routing, complexity_router with its heuristic and
heuristic_v2 classifiers, quality_router, adaptive_router without and with the labels as feedback), each swept along
its own knob. ``app.evaluation.evaluate`` scores them all alike: APGR and CPT(50%/80%) with two models, AIQ with nine,
quality and cost at each default, against the same baselines. ``--write-docs`` rewrites the generated part of the
comparison in docs/litellm-plugin.md. The whole run takes several minutes (MMLU's 14,037 prompts dominate).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.cli.progress import Progress  # noqa: E402
from app.evaluation import OfflineProvider, evaluate, read_outcomes  # noqa: E402
from bench._litellm_strategies import LiteLLMStrategies  # noqa: E402

__all__ = ["SETS", "compare", "main", "render"]

DOCS = ROOT / "docs" / "litellm-plugin.md"
BEGIN, END = "<!-- compare-litellm:begin -->", "<!-- compare-litellm:end -->"
SETS = {  # name: (label, outcome file, prices file or None: the bundled catalog)
    "gsm8k": ("GSM8K", "routellm/gsm8k.jsonl.gz", None),
    "mmlu": ("MMLU", "routellm/mmlu.jsonl.gz", None),
    "mt_bench": ("MT-Bench", "routellm/mt_bench.jsonl.gz", None),
    "llmrouter": ("LLMRouter (9 models)", "llmrouter/llmrouter.jsonl.gz", "llmrouter/prices.json"),
}
COSTMUX = ("cost_optimized", "heuristic")


def compare_set(name: str, *, limit: int | None, seed: int, verify: int, progress: Progress | None) -> dict[str, Any]:
    """One set: ``evaluate``'s result with costmux's strategies and LiteLLM's, and how each LiteLLM one was set."""
    _label, path, prices_path = SETS[name]
    data = read_outcomes(ROOT / "datasets" / path)
    if limit is not None:
        data = data._replace(rows=data.rows[:limit])
    prices = json.loads((ROOT / "datasets" / prices_path).read_text()) if prices_path else None
    provider = OfflineProvider(data.models, prices=prices)
    litellm = LiteLLMStrategies(seed=seed, verify=verify, progress=progress)
    started = time.perf_counter()
    result = evaluate(data, provider, strategies=COSTMUX, progress=progress, external=litellm.strategies())
    return {"result": result, "notes": litellm.notes, "seconds": time.perf_counter() - started}


def compare(
    sets: list[str], *, limit: int | None = None, seed: int = 0, verify: int = 200, quiet: bool = False
) -> dict[str, Any]:
    """Every set of ``sets``, and the run's settings."""
    progress = None if quiet else Progress()
    results = {name: compare_set(name, limit=limit, seed=seed, verify=verify, progress=progress) for name in sets}
    return {
        "sets": results,
        "settings": {"limit": limit, "seed": seed, "verify": verify},
        "litellm": importlib.metadata.version("litellm"),
        "at": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


# -- markdown ------------------------------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _name(strategy: str) -> str:
    return f"LiteLLM {strategy.removeprefix('litellm ')}" if strategy.startswith("litellm ") else f"costmux {strategy}"


def render(results: dict[str, Any]) -> str:
    """The generated part of docs/litellm-plugin.md's comparison: the tables, and how the run was made."""
    sets = results["sets"]
    pairs = [name for name, entry in sets.items() if entry["result"]["pair"] is not None]
    many = [name for name, entry in sets.items() if entry["result"]["pair"] is None]
    out = [
        f"Measured {results['at']} with LiteLLM {results['litellm']} (in process, offline), seed "
        f"{results['settings']['seed']}"
        + (f", first {results['settings']['limit']} prompts of each set" if results["settings"]["limit"] else "")
        + f": `{results.get('command', '')}`.",
    ]
    if pairs:
        out += _pair_tables(sets, pairs)
    for name in many:
        out += _many_table(name, sets[name])
    out += _settings_lines(sets)
    return "\n".join(out) + "\n"


def _strategies(entry: dict[str, Any]) -> list[str]:
    return list(entry["result"]["strategies"])


def _pair_tables(sets: dict[str, Any], names: list[str]) -> list[str]:
    first = sets[names[0]]["result"]
    pair = first["pair"]
    labels = [SETS[name][0] for name in names]
    out = [
        "",
        f"Two models ({pair['strong']} / {pair['weak']}); over each strategy's knob: APGR (random 0.500, higher is "
        "better) and CPT(50%) / CPT(80%) (the share of calls to the strong model that recovers 50% / 80% of the gap "
        "between the two, lower is better):",
        "",
        "| strategy | "
        + " | ".join(f"{label} APGR" for label in labels)
        + " | "
        + " | ".join(f"{label} CPT(50%) / CPT(80%)" for label in labels)
        + " |",
        "|---|" + "---:|" * len(labels) + "---|" * len(labels),
    ]
    for strategy in _strategies(sets[names[0]]):
        runs = [sets[name]["result"]["strategies"][strategy] for name in names]
        out.append(
            f"| {_name(strategy)} | "
            + " | ".join(_num(run["apgr"]) for run in runs)
            + " | "
            + " | ".join(f"{_pct(run['cpt50'])} / {_pct(run['cpt80'])}" for run in runs)
            + " |"
        )
    oracles = [sets[name]["result"]["oracle"] for name in names]
    out.append(
        "| per-prompt oracle | "
        + " | ".join(_num(o["apgr"]) for o in oracles)
        + " | "
        + " | ".join(f"{_pct(o['cpt50'])} / {_pct(o['cpt80'])}" for o in oracles)
        + " |"
    )
    out += [
        "",
        "At each strategy's default: mean score (as a share of always the strong model's), cost (as a share of "
        "always the strong model's) and the share of calls sent to the strong model:",
        "",
        "| strategy | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for strategy in _strategies(sets[names[0]]):
        cells = []
        for name in names:
            result = sets[name]["result"]
            best = result["models"][result["pair"]["strong"]]
            point = result["strategies"][strategy]["default"]
            cells.append(
                f"{point['quality']:.3f} ({_pct(point['quality'] / best['quality'])}) / "
                f"{_pct(point['cost_usd'] / best['cost_usd'])} / {_pct(point['strong_share'])}"
            )
        out.append(f"| {_name(strategy)} | " + " | ".join(cells) + " |")
    return out


def _many_table(name: str, entry: dict[str, Any]) -> list[str]:
    result = entry["result"]
    models = result["models"]
    best, cheapest = result["baselines"]["always_best"], result["baselines"]["always_cheapest"]
    top = models[best]
    out = [
        "",
        f"{SETS[name][0]}, {result['data']['prompts']:,} prompts: AIQ (mean quality of the quality/cost hull, cost "
        "normalised between the cheapest and the dearest model; random mixing of single models is the baseline) "
        f"and, at the default, the mean score and the cost as a share of the best model's ({best}, "
        f"{top['quality']:.3f}):",
        "",
        "| strategy | AIQ | default: mean score | default: cost |",
        "|---|---:|---:|---:|",
    ]
    for strategy, run in result["strategies"].items():
        point = run["default"]
        out.append(
            f"| {_name(strategy)} | {_num(run['aiq'])} | {point['quality']:.3f} | "
            f"{_pct(point['cost_usd'] / top['cost_usd'])} |"
        )
    out.append(
        f"| always the cheapest ({cheapest}) | — | {models[cheapest]['quality']:.3f} | "
        f"{_pct(models[cheapest]['cost_usd'] / top['cost_usd'])} |"
    )
    out.append(f"| single models, random mixing | {_num(result['aiq_single_models'])} | — | — |")
    out.append(f"| per-prompt oracle | {_num(result['oracle']['aiq'])} | — | — |")
    return out


def _settings_lines(sets: dict[str, Any]) -> list[str]:
    """How each LiteLLM strategy was configured (its default and what was swept), per kind of set, and what the
    verification covered."""
    out = ["", "Settings (LiteLLM strategies):", ""]
    seen: set[str] = set()
    for name, entry in sets.items():
        kind = "two models" if entry["result"]["pair"] is not None else SETS[name][0]
        if kind in seen:
            continue
        seen.add(kind)
        for strategy, note in entry["notes"].items():
            extra = ""
            if "ladder" in note:
                extra = f"; models used: {', '.join(note['ladder'])}"
            if "quality_tiers" in note:
                extra = "; quality_tier: " + ", ".join(f"{m} {t}" for m, t in note["quality_tiers"].items())
            out.append(
                f"- {kind}, {_name(strategy)}: default {note['default']}; swept: {note['knob']} "
                f"({note['settings']} setting{'s' if note['settings'] != 1 else ''}){extra}."
            )
    verified = [
        (note["verified"]["prompts"], note["verified"]["settings"])
        for entry in sets.values()
        for note in entry["notes"].values()
        if "verified" in note
    ]
    if verified:
        out += [
            "",
            f"Mapped sweeps checked: the first {max(p for p, _ in verified)} prompts of each set were routed again "
            f"through LiteLLM at up to {max(s for _, s in verified)} swept settings per tier-based strategy, with the "
            "same choices.",
        ]
    return out


def write_docs(section: str, path: Path = DOCS) -> None:
    """Replace the generated part of ``path`` (between the markers) with ``section``."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no {BEGIN} ... {END} markers")
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{section}{END}", text), encoding="utf-8")


def _command(argv: list[str]) -> str:
    """The measuring command as the docs show it: without where the JSON went or whether the docs were written."""
    shown: list[str] = []
    skip = False
    for argument in argv:
        if skip:
            skip = False
        elif argument == "--json":
            skip = True
        elif not argument.startswith("--json=") and argument not in ("--write-docs", "--quiet"):
            shown.append(argument)
    return " ".join(["python bench/compare_litellm_strategies.py", *shown])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--limit", type=int, default=None, help="only the first N prompts of each set")
    parser.add_argument("--seed", type=int, default=0, help="seeds simple-shuffle and the adaptive router")
    parser.add_argument("--verify", type=int, default=200, help="prompts re-routed to check the mapped sweeps")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON here")
    parser.add_argument("--from-json", type=Path, default=None, help="render a saved --json result, measure nothing")
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite the generated part of {DOCS.name}")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        sets = [name.strip() for name in args.sets.split(",") if name.strip()]
        unknown = sorted(set(sets) - set(SETS))
        if unknown:
            parser.error(f"unknown sets {unknown}; known: {', '.join(SETS)}")
        results = compare(sets, limit=args.limit, seed=args.seed, verify=args.verify, quiet=args.quiet)
        results["command"] = _command(sys.argv[1:] if argv is None else argv)
    section = render(results)
    print(section)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if args.write_docs:
        write_docs(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
