"""The catalog's quality scores follow from sourced, dated benchmark inputs by the documented rule.

Every figure of ``app/data/quality_inputs.json`` names a dated source or says how it was estimated; the scores and
``quality_basis`` of ``app/data/catalog.json`` and the tables of ``docs/catalog.md`` are exactly what the inputs and
the rule give (``python -m app.catalog.quality_sync --write`` regenerates them).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from app.catalog import default_catalog
from app.catalog.quality_inputs import (
    ARENA_FLOOR_ELO,
    ARENA_SPAN_ELO,
    BENCHMARKS,
    Figure,
    QualityInputs,
    format_value,
    load_quality_inputs,
    quality_basis,
    quality_scores,
)
from app.catalog.quality_sync import main, sync_doc
from app.errors import ConfigurationError
from app.tasks import TaskType

REPO = Path(__file__).resolve().parents[2]
CATALOG_JSON = REPO / "app" / "data" / "catalog.json"
INPUTS_JSON = REPO / "app" / "data" / "quality_inputs.json"
CATALOG_DOC = REPO / "docs" / "catalog.md"

T = TaskType


@pytest.fixture(scope="module")
def inputs() -> QualityInputs:
    return load_quality_inputs()


def raw_inputs() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(INPUTS_JSON.read_text(encoding="utf-8"))
    return data


# -- the rule --------------------------------------------------------------------------------------------------------


def test_the_rule_by_hand() -> None:
    # Elo 1270 is half way up the Arena scale (floor 1120, span 300): a = 0.5.
    scores = quality_scores(
        {"mmlu": 80, "gpqa": 40, "humaneval": 70, "math": 50, "gsm8k": 90, "mgsm": 60, "arena_elo": 1270}
    )
    assert scores == {
        T.GENERAL: 0.80,
        T.COMPLEX_ANALYSIS: 0.60,  # (80 + 40) / 2
        T.CODE_GENERATION: 0.70,
        T.CODE_REVIEW: 0.75,  # (70 + 80) / 2
        T.MATH_REASONING: 0.70,  # (50 + 90) / 2
        T.CREATIVE_WRITING: 0.75,  # 0.55 + 0.40 * 0.5
        T.SUMMARIZATION: 0.83,  # 0.70 + 0.25 * 0.5 = 0.825, rounded half up (binary floats would give 0.82)
        T.SIMPLE_QA: 0.88,  # 0.80 + 0.15 * 0.5 = 0.875
        T.TRANSLATION: 0.80,  # 0.50 + 0.50 * 0.60
    }


@pytest.mark.parametrize(("elo", "creative", "simple_qa"), [(900, 0.55, 0.80), (1120, 0.55, 0.80), (1500, 0.95, 0.95)])
def test_the_arena_position_is_clamped(elo: int, creative: float, simple_qa: float) -> None:
    figures = dict.fromkeys(BENCHMARKS, 50) | {"arena_elo": elo}
    scores = quality_scores(figures)
    assert (scores[T.CREATIVE_WRITING], scores[T.SIMPLE_QA]) == (creative, simple_qa)


def test_the_docs_state_the_rule_the_code_applies() -> None:
    text = CATALOG_DOC.read_text(encoding="utf-8")
    assert f"a = clamp((Elo − {ARENA_FLOOR_ELO}) / {ARENA_SPAN_ELO}, 0, 1)" in text
    assert f"Elo {ARENA_FLOOR_ELO} maps to 0 and Elo {ARENA_FLOOR_ELO + ARENA_SPAN_ELO} or above to 1" in text
    for formula in ["(MMLU + GPQA) / 2", "(HumanEval + MMLU) / 2", "(MATH + GSM8K) / 2", "0.55 + 0.40 × a"]:
        assert formula in text


# -- every figure is sourced and dated, or estimated with a method -------------------------------------------------


def test_every_catalog_model_has_all_seven_inputs(inputs: QualityInputs) -> None:
    assert list(inputs.models) == [entry.name for entry in default_catalog()]
    assert all(tuple(figures) == BENCHMARKS for figures in inputs.models.values())


def test_every_figure_names_a_dated_source_or_how_it_was_estimated(inputs: QualityInputs) -> None:
    for name, figures in inputs.models.items():
        for key, figure in figures.items():
            if figure.status == "estimated":
                assert figure.estimate is not None and len(figure.estimate.split()) >= 2, (name, key)  # "as GPT-5"
            else:
                assert figure.source in inputs.sources, (name, key)
                assert re.fullmatch(r"20\d\d-\d\d(-\d\d)?", inputs.sources[figure.source].date), (name, key)


def test_every_source_is_used_and_linked(inputs: QualityInputs) -> None:
    used = {figure.source for figures in inputs.models.values() for figure in figures.values()}
    assert set(inputs.sources) <= used
    assert all(source.url.startswith("https://") for source in inputs.sources.values())


def test_the_arena_figures_come_from_one_snapshot(inputs: QualityInputs) -> None:
    for name, figures in inputs.models.items():
        elo = figures["arena_elo"]
        # a listed model names its leaderboard entry; an unlisted one says what stands in for it
        assert elo.source == "lmarena" and elo.note if elo.status != "estimated" else elo.estimate, name


def test_claude_is_scored_without_extended_thinking(inputs: QualityInputs) -> None:
    """costmux calls Claude without a thinking budget unless asked: its GPQA must be the no-thinking figure."""
    for name in ["claude-3-7-sonnet", "claude-sonnet-4", "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4-5",
                 "claude-haiku-4-5", "claude-opus-4-5"]:  # fmt: skip
        gpqa = inputs.models[name]["gpqa"]
        assert re.search(r"without extended thinking|no-thinking", f"{gpqa.note} {gpqa.estimate}"), name


def test_the_routellm_pair_keeps_its_order(inputs: QualityInputs) -> None:
    """`costmux eval` routes RouteLLM's prompts between these two; RouteLLM measured GPT-4 Turbo ahead on GSM8K
    (85.8% vs 63.7%), MMLU (80.6% vs 68.1%) and MT-Bench (9.23 vs 8.34): the catalog must agree on every task."""
    strong, weak = default_catalog().find("gpt-4-1106-preview"), default_catalog().find("mixtral-8x7b")
    assert strong is not None and weak is not None
    assert all(strong.quality[task] > weak.quality[task] for task in TaskType)


# -- the catalog and the docs are exactly what the inputs give -------------------------------------------------------


def test_catalog_scores_follow_from_the_inputs_by_the_rule(inputs: QualityInputs) -> None:
    for entry in default_catalog():
        assert entry.quality == quality_scores(inputs.values(entry.name)), entry.name


def test_catalog_quality_basis_spells_out_the_inputs(inputs: QualityInputs) -> None:
    for entry in default_catalog():
        assert entry.quality_basis == quality_basis(entry.name, inputs), entry.name
        for key in BENCHMARKS:
            figure = inputs.models[entry.name][key]
            shown = format_value(figure).rstrip("†")
            assert shown in entry.quality_basis, (entry.name, key)


def test_docs_tables_are_generated_from_the_catalog_and_inputs(inputs: QualityInputs) -> None:
    text = CATALOG_DOC.read_text(encoding="utf-8")
    catalog = json.loads(CATALOG_JSON.read_text(encoding="utf-8"))
    assert sync_doc(text, inputs, catalog) == text, "run: python -m app.catalog.quality_sync --write"
    assert f"{len(catalog['models'])} well-known models" in text
    assert f"currently\n**{catalog['as_of']}**" in text or f"currently **{catalog['as_of']}**" in text


def test_sync_finds_drift_and_repairs_it(tmp_path: Path) -> None:
    catalog, doc = tmp_path / "catalog.json", tmp_path / "catalog.md"
    shutil.copy(CATALOG_JSON, catalog)
    shutil.copy(CATALOG_DOC, doc)
    assert main(["--check", "--catalog", str(catalog), "--doc", str(doc)]) == 0
    data = json.loads(catalog.read_text(encoding="utf-8"))
    data["models"][0]["quality"]["general"] = 0.5
    catalog.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    doc.write_text(doc.read_text(encoding="utf-8").replace("| 1412 |", "| 1413 |"), encoding="utf-8")
    assert main(["--check", "--catalog", str(catalog), "--doc", str(doc)]) == 1
    assert main(["--write", "--catalog", str(catalog), "--doc", str(doc)]) == 0
    assert catalog.read_bytes() == CATALOG_JSON.read_bytes()
    assert doc.read_bytes() == CATALOG_DOC.read_bytes()


def test_sync_refuses_a_catalog_without_inputs(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    data = json.loads(CATALOG_JSON.read_text(encoding="utf-8"))
    data["models"].append({**copy.deepcopy(data["models"][0]), "name": "my-model", "aliases": []})
    catalog.write_text(json.dumps(data), encoding="utf-8")
    assert main(["--check", "--catalog", str(catalog), "--doc", str(tmp_path / "absent.md")]) == 2


# -- bad inputs are rejected clearly ---------------------------------------------------------------------------------


def _with(change: Any) -> dict[str, Any]:
    data = raw_inputs()
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda d: d["models"]["gpt-4o"]["mmlu"].pop("source"), "needs a source or an estimate"),
        (lambda d: d["models"]["gpt-4o"]["gsm8k"].update(estimate="  "), "must say how"),
        (lambda d: d["models"]["gpt-4o"]["gsm8k"].update(estimate="as GPT-4", checked=True), "cannot be checked"),
        (lambda d: d["models"]["gpt-4o"]["mmlu"].update(source="nowhere"), "unknown source 'nowhere'"),
        (lambda d: d["models"]["gpt-4o"].pop("mgsm"), "needs exactly the benchmarks"),
        (lambda d: d["models"]["gpt-4o"]["mmlu"].update(value=188.7), "outside [0, 100]"),
        (lambda d: d["models"]["gpt-4o"]["arena_elo"].update(value=12), "outside [800, 2000]"),
        (lambda d: d["models"]["gpt-4o"]["mmlu"].update(value="high"), "gpt-4o.mmlu.value"),
        (lambda d: d["sources"]["simple-evals"].update(date="April 2025"), "sources.simple-evals.date"),
    ],
)
def test_invalid_inputs_are_rejected(tmp_path: Path, change: Any, fragment: str) -> None:
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(_with(change)), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        load_quality_inputs(path)


def test_figures_keep_their_written_precision() -> None:
    assert format_value(Figure(value=70.0, source="x", checked=True)) == "70.0"
    assert format_value(Figure(value=96.1, source="x")) == "96.1†"
    assert format_value(Figure(value=93, estimate="as its sibling")) == "~93"
