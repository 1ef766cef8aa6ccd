"""``costmux eval`` (routing quality against cost on a labelled outcome file, offline) and ``costmux convert``
(public outcome sets into that file format)."""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Literal

from app.errors import ConfigurationError, DataFileError

__all__ = ["add_convert_command", "add_eval_command"]


def add_eval_command(commands: Any) -> None:
    """Register ``costmux eval``."""
    parser = commands.add_parser(
        "eval",
        help="measure routing quality against cost on labelled outcomes, offline",
        description="Route every prompt of a labelled outcome file (JSONL, optionally .gz) offline through "
        "Router.decide with each strategy, sweeping quality_share, and report quality and cost against the "
        "baselines (markdown + JSON + a Pareto plot PNG). See docs/routing-quality.md.",
    )
    parser.add_argument("data", help="outcome file: one {prompt|messages, scores, output_tokens?} object a line")
    parser.add_argument("--strategies", default="cost_optimized,heuristic", help="comma-separated strategy names")
    parser.add_argument("--prices", help='JSON {"model": {"input_per_1m": 0.5, "output_per_1m": 1.5}} (USD per 1M)')
    parser.add_argument("--models", help="JSON of custom_models entries (pricing, metadata.quality, limits)")
    parser.add_argument("--no-catalog", action="store_true", help="do not fill in from the bundled catalog")
    parser.add_argument("--proxy-url", help="take prices from this LiteLLM proxy's /model/info (read once)")
    parser.add_argument("--api-key", help="key for --proxy-url (default: LITELLM_API_KEY)")
    parser.add_argument("--max-cost", type=float, default=None, help="cap per request in USD (default: none)")
    parser.add_argument("--points", type=int, default=24, help="most quality_share settings in a sweep (default 24)")
    parser.add_argument("--out", default="costmux-eval", help="directory of the report files (default costmux-eval)")
    parser.add_argument("--name", help="report file name stem (default: the data file's)")
    parser.add_argument("--no-plot", action="store_true", help="skip the Pareto plot (needs matplotlib)")
    parser.add_argument(
        "--quality-model",
        metavar="FILE",
        help='route with this learned quality model (costmux train; "default": the shipped one); the prompts it '
        "was trained on are left out",
    )
    parser.add_argument("--quality-mode", choices=("combined", "learned", "difficulty"), default="combined")
    parser.add_argument(
        "--baseline",
        action="append",
        choices=("length",),
        default=[],
        help="also measure a reference router without training (length: the longest prompts to the stronger of two "
        "models)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, no report on stdout")
    parser.set_defaults(handler=run_eval)


def add_convert_command(commands: Any) -> None:
    """Register ``costmux convert``."""
    parser = commands.add_parser(
        "convert",
        help="convert public outcome sets (RouteLLM, LLMRouter layouts) into costmux eval's JSONL",
        description="routellm SRC: SRC/gsm8k, SRC/mmlu, SRC/mt_bench as in lm-sys/RouteLLM's routellm/evals "
        "(contaminated prompts removed) -> OUT/gsm8k.jsonl.gz, mmlu.jsonl.gz, mt_bench.jsonl.gz. "
        "llmrouter SRC: SRC/train.jsonl and default_llm.json -> OUT/llmrouter.jsonl.gz and OUT/prices.json.",
    )
    parser.add_argument("layout", choices=("routellm", "llmrouter"))
    parser.add_argument("source", help="the data set's directory")
    parser.add_argument("--out", required=True, help="directory to write to (created)")
    parser.set_defaults(handler=run_convert)


def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataFileError(f"cannot read {what} ({exc.strerror or exc})", path=path) from exc
    except ValueError as exc:
        raise DataFileError(f"{what} is not valid JSON ({exc})", path=path) from exc
    if not isinstance(raw, dict):
        raise DataFileError(f"{what} must be a JSON object keyed by model name", path=path)
    return raw


def _provider(args: argparse.Namespace, models: tuple[str, ...]) -> Any:
    from app.evaluation import OfflineProvider

    prices = _read_json(args.prices, "the prices file") if args.prices else None
    custom = _read_json(args.models, "the models file") if args.models else None
    catalog: Literal["default"] | None = None if args.no_catalog else "default"
    if args.proxy_url is None:
        return OfflineProvider(models, custom_models=custom, prices=prices, catalog=catalog)
    return asyncio.run(_snapshot(args, models, custom, prices, catalog))


async def _snapshot(args: argparse.Namespace, models: tuple[str, ...], custom: Any, prices: Any, catalog: Any) -> Any:
    from app.cli.commands import _provider as proxy_provider
    from app.evaluation import OfflineProvider

    async with proxy_provider(args, catalog=catalog) as provider:
        await provider.sync_pricing()
        return OfflineProvider.snapshot(provider, models, custom_models=custom, prices=prices, catalog=catalog)


def run_eval(args: argparse.Namespace) -> int:
    """``costmux eval DATA [--prices FILE] [--max-cost USD] [--out DIR]``: writes NAME.md, NAME.json, NAME.png."""
    from app.cli.progress import Progress
    from app.evaluation import evaluate, markdown_report, pareto_plot, read_outcomes
    from app.evaluation.baselines import BASELINES
    from app.router import available_strategies

    strategies = [name.strip() for name in args.strategies.split(",") if name.strip()]
    unknown = [name for name in strategies if name not in available_strategies()]
    if unknown or not strategies:
        raise ConfigurationError(f"unknown strategies {unknown}; registered: {', '.join(available_strategies())}")
    if args.points < 3:
        raise ConfigurationError("--points must be at least 3")
    data = read_outcomes(args.data)
    provider = _provider(args, data.models)
    routers = None
    if args.quality_model:
        data, routers = _with_quality_model(data, strategies, args.quality_model, args.quality_mode)
    progress = None if args.quiet else Progress()
    result = evaluate(
        data,
        provider,
        strategies=strategies,
        max_cost=args.max_cost,
        max_points=args.points,
        progress=progress,
        routers=routers,
        external={f"baseline_{name}": BASELINES[name] for name in args.baseline},
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = args.name or Path(args.data).name.split(".")[0]
    command = "costmux eval " + " ".join(shlex.quote(arg) for arg in sys.argv[2:]) if len(sys.argv) > 2 else None
    report = markdown_report(result, command)
    (out / f"{stem}.md").write_text(report, encoding="utf-8")
    (out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    written = [out / f"{stem}.md", out / f"{stem}.json"]
    if not args.no_plot:
        written.append(pareto_plot(result, out / f"{stem}.png"))
    if not args.quiet:
        print(report)
    print("wrote " + ", ".join(str(path) for path in written), file=sys.stderr)
    return 0


def _with_quality_model(data: Any, strategies: list[str], source: str, mode: Any) -> tuple[Any, dict[str, Any]]:
    """The rows the quality model was not trained on, and a router per strategy that uses the model."""
    from app.evaluation.outcomes import OutcomeSet
    from app.quality import load_quality_model, prompt_text
    from app.router import Router
    from app.router.quality import LearnedQuality

    model = load_quality_model(source)
    unseen = tuple(row for row in data.rows if not model.saw(prompt_text(row.messages)))
    left_out = len(data.rows) - len(unseen)
    if not unseen:
        raise ConfigurationError(f"the quality model was trained on every prompt of {data.path}: nothing to evaluate")
    if left_out:
        print(
            f"left out {left_out:,} prompts the quality model was trained on; {len(unseen):,} remain", file=sys.stderr
        )
    estimator = LearnedQuality(model, mode)
    return OutcomeSet(data.path, data.models, unseen), {
        name: Router(name, quality_model=estimator) for name in strategies
    }


def run_convert(args: argparse.Namespace) -> int:
    """``costmux convert {routellm,llmrouter} SRC --out DIR``: prints what it wrote and what it removed."""
    from app.evaluation import convert
    from app.evaluation.outcomes import write_outcomes

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.layout == "routellm":
        readers = {"gsm8k": convert.read_gsm8k, "mmlu": convert.read_mmlu, "mt_bench": convert.read_mt_bench}
    else:
        readers = {"llmrouter": convert.read_llmrouter}
        prices = convert.convert_llmrouter_prices(args.source)
        (out / "prices.json").write_text(json.dumps(prices, indent=2) + "\n", encoding="utf-8")
        print(f"{out / 'prices.json'}: {len(prices)} models (USD per 1M tokens)")
    for name, reader in readers.items():
        rows, removed = reader(args.source)
        path = out / f"{name}.jsonl.gz"
        count = write_outcomes(path, rows)
        print(f"{path}: {count} prompts ({removed} contaminated prompts removed)")
    return 0
