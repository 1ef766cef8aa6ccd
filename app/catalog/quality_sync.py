"""Regenerate what follows from the quality inputs: catalog.json's scores and ``quality_basis``, and docs tables.

::

    python -m app.catalog.quality_sync --check   # exit 1 and list what differs from the inputs and the rule
    python -m app.catalog.quality_sync --write   # rewrite app/data/catalog.json and docs/catalog.md

The docs blocks are the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in docs/catalog.md, for NAME in
``catalog-models`` (prices, windows, capabilities), ``quality-scores``, ``benchmark-inputs`` and
``benchmark-sources``. Prices, windows and everything else in catalog.json are left as they are: the first table only
shows them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app.catalog.quality_inputs import (
    BENCHMARKS,
    LABELS,
    QualityInputs,
    format_value,
    load_quality_inputs,
    quality_basis,
    quality_scores,
)
from app.errors import ConfigurationError
from app.tasks import TaskType

__all__ = ["inputs_table", "main", "models_table", "scores_table", "sources_table", "sync_catalog", "sync_doc"]

_APP = Path(__file__).resolve().parents[1]
CATALOG_JSON = _APP / "data" / "catalog.json"
INPUTS_JSON = _APP / "data" / "quality_inputs.json"
CATALOG_DOC = _APP.parent / "docs" / "catalog.md"
# Score columns of the docs table, in the order the docs explain them.
_SCORE_COLUMNS = (
    ("code gen", TaskType.CODE_GENERATION),
    ("code rev", TaskType.CODE_REVIEW),
    ("math", TaskType.MATH_REASONING),
    ("analysis", TaskType.COMPLEX_ANALYSIS),
    ("creative", TaskType.CREATIVE_WRITING),
    ("simple QA", TaskType.SIMPLE_QA),
    ("summ.", TaskType.SUMMARIZATION),
    ("transl.", TaskType.TRANSLATION),
    ("general", TaskType.GENERAL),
)


def models_table(catalog: dict[str, Any]) -> str:
    """The docs table of every catalog entry's provider, price (USD per 1M tokens), windows and capabilities."""

    def flag(capabilities: dict[str, bool], key: str) -> str:
        return "?" if key not in capabilities else ("yes" if capabilities[key] else "no")

    lines = [
        "| model | provider | $/1M in | $/1M out | context | max output | tools | vision | json |",
        "|---|---|--:|--:|--:|--:|:-:|:-:|:-:|",
    ]
    for model in catalog["models"]:
        caps = model.get("capabilities", {})
        lines.append(
            f"| `{model['name']}` | {model['provider']} | {model['input_per_1m']:g} | {model['output_per_1m']:g} | "
            f"{model['context_window']:,} | {model['max_output_tokens']:,} | "
            + " | ".join(flag(caps, key) for key in ("tools", "vision", "json"))
            + " |"
        )
    return "\n".join(lines)


def scores_table(catalog: dict[str, Any]) -> str:
    """The docs table of every catalog entry's quality score per task type."""
    lines = [
        "| model | " + " | ".join(label for label, _ in _SCORE_COLUMNS) + " |",
        "|---|" + "--:|" * len(_SCORE_COLUMNS),
    ]
    for model in catalog["models"]:
        scores = " | ".join(f"{model['quality'][task.value]:.2f}" for _, task in _SCORE_COLUMNS)
        lines.append(f"| `{model['name']}` | {scores} |")
    return "\n".join(lines)


def inputs_table(inputs: QualityInputs) -> str:
    """The per-model inputs table of docs/catalog.md, with a count of checked, cited and estimated figures."""
    header = "| model | " + " | ".join(LABELS[key] for key in BENCHMARKS) + " |"
    rule = "|---|" + "--:|" * len(BENCHMARKS)
    rows = [
        f"| `{name}` | " + " | ".join(format_value(figures[key]) for key in BENCHMARKS) + " |"
        for name, figures in inputs.models.items()
    ]
    counts = Counter(figure.status for figures in inputs.models.values() for figure in figures.values())
    summary = (
        f"{sum(counts.values())} figures for {len(inputs.models)} models: {counts['checked']} published and re-found "
        f"in the {inputs.audited.isoformat()} audit, {counts['cited']} published but not re-found (`†`), "
        f"{counts['estimated']} estimated (`~`)."
    )
    estimated = [
        f"- {LABELS[key]} ({len(names)}): " + ", ".join(f"`{name}`" for name in names)
        for key in BENCHMARKS
        if (names := [name for name, figures in inputs.models.items() if figures[key].status == "estimated"])
    ]
    return "\n".join([header, rule, *rows, "", summary, "", "Estimated figures, by benchmark:", "", *estimated])


def sources_table(inputs: QualityInputs) -> str:
    """The sources of docs/catalog.md, oldest first, with how many figures each one gives."""
    used = Counter(figure.source for figures in inputs.models.values() for figure in figures.values() if figure.source)
    lines = ["| source | date | figures | link |", "|---|---|--:|---|"]
    for key, source in sorted(inputs.sources.items(), key=lambda item: (item[1].date, item[0])):
        what = f"{source.title} ({source.detail})" if source.detail else source.title
        lines.append(f"| {what} | {source.date} | {used[key]} | <{source.url}> |")
    return "\n".join(lines)


def sync_catalog(catalog: dict[str, Any], inputs: QualityInputs) -> dict[str, Any]:
    """A copy of a catalog file's data whose models' ``quality`` and ``quality_basis`` follow from the inputs."""
    names = [model["name"] for model in catalog["models"]]
    if set(names) != set(inputs.models):
        missing, extra = sorted(set(names) - set(inputs.models)), sorted(set(inputs.models) - set(names))
        raise ConfigurationError(f"quality inputs and catalog differ: no inputs for {missing}, no entry for {extra}")
    models = []
    for model in catalog["models"]:
        scores = quality_scores(inputs.values(model["name"]))
        quality = {key: scores[TaskType(key)] for key in model["quality"]}  # the file's key order
        models.append({**model, "quality": quality, "quality_basis": quality_basis(model["name"], inputs)})
    return {**catalog, "models": models}


def sync_doc(text: str, inputs: QualityInputs, catalog: dict[str, Any]) -> str:
    """docs/catalog.md with its generated blocks replaced (``catalog`` is the synced catalog file's data)."""
    blocks = {
        "catalog-models": models_table(catalog),
        "quality-scores": scores_table(catalog),
        "benchmark-inputs": inputs_table(inputs),
        "benchmark-sources": sources_table(inputs),
    }
    for block, body in blocks.items():
        start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
        if start not in text or end not in text:
            raise ConfigurationError(f"docs/catalog.md lacks the {start} ... {end} markers")
        head, rest = text.split(start, 1)
        text = f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"
    return text


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Check (exit 1 on a difference) or rewrite catalog.json and docs/catalog.md from the quality inputs."""
    parser = argparse.ArgumentParser(prog="python -m app.catalog.quality_sync", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report what differs; exit 1 if anything does")
    mode.add_argument("--write", action="store_true", help="rewrite the catalog and the docs tables")
    parser.add_argument("--inputs", type=Path, default=INPUTS_JSON)
    parser.add_argument("--catalog", type=Path, default=CATALOG_JSON)
    parser.add_argument("--doc", type=Path, default=CATALOG_DOC)
    args = parser.parse_args(argv)
    try:
        inputs = load_quality_inputs(args.inputs)
        catalog_text = args.catalog.read_text(encoding="utf-8")
        catalog = sync_catalog(json.loads(catalog_text), inputs)
        wanted = {args.catalog: _dump(catalog)}
        if args.doc.is_file():  # docs/ exists in a source checkout, not in an installed package
            wanted[args.doc] = sync_doc(args.doc.read_text(encoding="utf-8"), inputs, catalog)
    except (ConfigurationError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stale = [path for path, text in wanted.items() if path.read_text(encoding="utf-8") != text]
    if args.write:
        for path in stale:
            path.write_text(wanted[path], encoding="utf-8")
        print(f"rewrote {len(stale)} file(s)" + "".join(f"\n  {path}" for path in stale))
        return 0
    for path in stale:
        print(f"stale: {path} (run python -m app.catalog.quality_sync --write)")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
