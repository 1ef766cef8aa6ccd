"""``costmux train``: fit a learned quality model on labelled outcomes, cross-validate it, write the artifact."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.errors import ConfigurationError

__all__ = ["add_train_command", "held_in", "merge_outcomes"]


def add_train_command(commands: Any) -> None:
    """Register ``costmux train``."""
    parser = commands.add_parser(
        "train",
        help="fit a learned per-prompt quality model on labelled outcomes",
        description="Fit per-model success heads and a model-agnostic difficulty head on outcome files (the JSONL "
        "of costmux eval), report cross-validated APGR/AIQ on the data's own folds (--cv), and write a versioned "
        "JSON artifact (--out) for Router(quality_model=...), COSTMUX_QUALITY_MODEL or --quality-model. "
        "See docs/routing-quality.md.",
    )
    parser.add_argument("--data", action="append", required=True, help="outcome file (repeat to train on several)")
    parser.add_argument("--out", help="artifact to write (.json or .json.gz)")
    parser.add_argument("--cv", type=int, default=0, metavar="K", help="K-fold cross-validation first (0: none)")
    parser.add_argument("--group-folds", action="store_true", help="folds by the rows' group (no group in two folds)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    parser.add_argument("--l2", type=float, default=None, help="L2 penalty per head (default: TrainOptions')")
    parser.add_argument(
        "--window",
        type=_window,
        default=None,
        metavar="HEAD,TAIL",
        help="characters read from each prompt's start and end (default: TrainOptions'); fewer route faster",
    )
    parser.add_argument("--mode", choices=("combined", "learned", "difficulty"), default="combined")
    parser.add_argument(
        "--points", type=int, default=24, help="most quality_share settings in each fold's sweep (default 24)"
    )
    parser.add_argument("--prices", help='JSON {"model": {"input_per_1m": .., "output_per_1m": ..}} for --cv')
    parser.add_argument(
        "--balance", action="store_true", help="give each --data file the same total weight in the loss"
    )
    parser.add_argument("--no-difficulty", action="store_true", help="skip the model-agnostic difficulty head")
    parser.add_argument(
        "--holdout",
        type=int,
        default=0,
        metavar="K",
        help="train on none of the prompts whose digest is 0 mod K (about 1 in K, the same on every run), so "
        "costmux eval --quality-model can measure the model on them (0: train on all)",
    )
    parser.add_argument("--report", metavar="FILE", help="write the cross-validation result as JSON")
    parser.set_defaults(handler=run_train)


def merge_outcomes(paths: list[str]) -> tuple[Any, list[int]]:
    """The rows of several outcome files as one set (every file must score the same models), and each row's file
    (its index in ``paths``).

    Raises:
        ConfigurationError: the files score different models.
    """
    from app.evaluation import read_outcomes
    from app.evaluation.outcomes import OutcomeSet

    sets = [read_outcomes(path) for path in paths]
    models = sets[0].models
    for other in sets[1:]:
        if set(other.models) != set(models):
            raise ConfigurationError(
                f"{other.path} scores {', '.join(other.models)}; {sets[0].path} scores {', '.join(models)}: "
                "train on files that score the same models"
            )
    merged = OutcomeSet(",".join(paths), models, tuple(row for data in sets for row in data.rows))
    return merged, [index for index, data in enumerate(sets) for _ in data.rows]


def held_in(data: Any, sources: list[int], k: int) -> tuple[Any, list[int]]:
    """The rows not held out (and their sources): those whose prompt digest (:func:`app.quality.prompt_digest`) is
    not 0 mod ``k``.

    Raises:
        ConfigurationError: ``k`` < 2.
    """
    from app.evaluation.outcomes import OutcomeSet
    from app.quality import prompt_digest, prompt_text

    if k < 2:
        raise ConfigurationError("--holdout must be at least 2")
    kept = [i for i, row in enumerate(data.rows) if int.from_bytes(prompt_digest(prompt_text(row.messages))) % k]
    rows = tuple(data.rows[i] for i in kept)
    print(
        f"holding out {len(data.rows) - len(rows):,} of {len(data.rows):,} prompts (digest 0 mod {k})", file=sys.stderr
    )
    return OutcomeSet(data.path, data.models, rows), [sources[i] for i in kept]


def _window(value: str) -> tuple[int, int]:
    """``--window 600,200`` → ``(600, 200)``."""
    head, comma, tail = value.partition(",")
    try:
        chars = int(head), int(tail)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEAD,TAIL characters, e.g. 600,200, got {value!r}") from None
    if not comma or min(chars) < 0 or sum(chars) < 1:
        raise argparse.ArgumentTypeError(f"expected HEAD,TAIL characters ≥ 0, not both 0, got {value!r}")
    return chars


def run_train(args: argparse.Namespace) -> int:
    """``costmux train --data FILE [--cv K] [--out FILE]``: prints the cross-validation table and what it wrote."""
    from app.cli.evaluate import _read_json
    from app.evaluation.training import TrainOptions, balanced_weights, featurize, fit

    if args.out is None and args.cv == 0:
        raise ConfigurationError("nothing to do: give --out FILE, --cv K, or both")
    if args.points < 3:
        raise ConfigurationError("--points must be at least 3")
    data, sources = merge_outcomes(args.data)
    if args.holdout:
        data, sources = held_in(data, sources, args.holdout)
    weights = balanced_weights(sources) if args.balance else None
    chosen: dict[str, Any] = {} if args.l2 is None else {"l2": args.l2}
    if args.window is not None:
        chosen["window_chars"] = args.window
    options = TrainOptions(difficulty=not args.no_difficulty, **chosen)
    features = featurize(data.rows, options.window_chars)
    command = "costmux train " + " ".join(sys.argv[2:])
    if args.cv:
        from app.evaluation import OfflineProvider
        from app.evaluation.crossval import cross_validate

        prices = _read_json(args.prices, "the prices file") if args.prices else None
        provider = OfflineProvider(data.models, prices=prices)
        started = time.perf_counter()
        result = cross_validate(
            data, provider, k=args.cv, seed=args.seed, by_group=args.group_folds, options=options, mode=args.mode,
            features=features, row_weights=weights, max_points=args.points,
        )  # fmt: skip
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(_cv_table(result, len(data.rows), command))
        if args.report:
            Path(args.report).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.out:
        info = {"data": args.data, "balanced": args.balance, "holdout": args.holdout}
        model = fit(data.rows, data.models, options, features=features, info=info, row_weights=weights)
        model.save(args.out)
        print(
            f"wrote {args.out}: {len(model.heads)} model heads, difficulty head {'yes' if model.difficulty else 'no'}, "
            f"{len(model.vocabulary):,} terms, {len(data.rows):,} prompts in {model.info['seconds']} s",
            file=sys.stderr,
        )
    return 0


def _cv_table(result: dict[str, Any], prompts: int, command: str) -> str:
    settings = result["settings"]
    kind = "by group" if settings["by_group"] else "random"
    lines = [
        f"# {command}",
        f"{settings['folds']}-fold cross-validation ({kind}, seed {settings['seed']}, mode {settings['mode']}, "
        f"sweeps of up to {settings['points']} settings), "
        f"{prompts:,} prompts, {result['seconds']} s",
        "",
        "| strategy | fold | APGR | AIQ | quality at default | cost at default (USD) | cost at best quality |",
        "|---|---|---|---|---|---|---|",
    ]
    for fold in result["folds"]:
        for name, figures in fold["strategies"].items():
            lines.append(_row(name, str(fold["fold"]), figures))
    for name, figures in result["mean"].items():
        lines.append(_row(name, "**mean**", figures))
    return "\n".join(lines)


def _row(name: str, fold: str, figures: dict[str, float | None]) -> str:
    def fmt(value: float | None, digits: int = 3) -> str:
        return "–" if value is None else f"{value:.{digits}f}"

    share = figures["best_quality_cost_share"]
    reach = "not reached" if share is None else f"{share:.1%}"
    return (
        f"| {name} | {fold} | {fmt(figures['apgr'])} | {fmt(figures['aiq'])} | {fmt(figures['quality'])} | "
        f"{fmt(figures['cost_usd'], 6)} | {reach} |"
    )
