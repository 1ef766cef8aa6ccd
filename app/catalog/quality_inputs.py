"""Where the catalog's quality scores come from: benchmark inputs and the rule that turns them into scores.

``app/data/quality_inputs.json`` holds seven benchmark figures per catalog model (MMLU, GPQA, HumanEval, MATH,
GSM8K, MGSM, Arena Elo). Each figure either names its source (a dated vendor page, paper or leaderboard; ``checked``
when it was re-found in the last audit) or says how it was estimated. :func:`quality_scores` is the documented rule
(docs/catalog.md, "From benchmarks to scores"). The catalog's scores, its ``quality_basis`` strings and the inputs
table of docs/catalog.md are generated from these figures by :mod:`app.catalog.quality_sync`, so they cannot drift
apart. The router only reads ``catalog.json``; nothing here is read at import time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.errors import ConfigurationError
from app.tasks import TaskType

__all__ = [
    "ARENA_FLOOR_ELO",
    "ARENA_SPAN_ELO",
    "BENCHMARKS",
    "Figure",
    "QualityInputs",
    "Source",
    "load_quality_inputs",
    "quality_basis",
    "quality_scores",
]

BENCHMARKS: tuple[str, ...] = ("mmlu", "gpqa", "humaneval", "math", "gsm8k", "mgsm", "arena_elo")
LABELS: dict[str, str] = {
    "mmlu": "MMLU",
    "gpqa": "GPQA",
    "humaneval": "HumanEval",
    "math": "MATH",
    "gsm8k": "GSM8K",
    "mgsm": "MGSM",
    "arena_elo": "Arena Elo",
}
# Arena position a = clamp((Elo - floor) / span, 0, 1). The floor is set for the LMArena snapshot the inputs use
# (2025-11-18): it places the catalog's 2024 models on average 67 points above the 2024-11..2025-02 snapshots the
# catalog used before (floor 1050), so the floor moved up with them (docs/catalog.md).
ARENA_FLOOR_ELO = 1120
ARENA_SPAN_ELO = 300

_BUNDLED = "data/quality_inputs.json"
_CENT = Decimal("0.01")
_PERCENT_RANGE = (Decimal(0), Decimal(100))
_ELO_RANGE = (Decimal(800), Decimal(2000))

Status = Literal["checked", "cited", "estimated"]


class Source(BaseModel):
    """A dated source: ``title`` names it briefly, ``detail`` says which table or column, ``date`` is YYYY-MM[-DD]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    title: str = Field(min_length=1)
    detail: str = ""
    url: str = Field(min_length=1)
    date: str = Field(pattern=r"^(19|20)\d\d-(0[1-9]|1[0-2])(-\d\d)?$")


class Figure(BaseModel):
    """One benchmark figure of one model, in percent (Arena: Elo points).

    A published figure names its ``source`` (``checked``: re-found there in the audit of
    :attr:`QualityInputs.audited`; otherwise cited from the earlier catalog and not re-found). An estimated one says
    how in ``estimate``, and may name the source of the figures it was estimated from. ``note`` qualifies either
    (the setting, the snapshot, the column).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: Decimal
    source: str | None = None
    checked: bool = False
    estimate: str | None = None
    note: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _exact_decimal(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ValueError("must be a finite number")
        return Decimal(str(value))  # 90.2 stays 90.2, not its binary neighbour

    @model_validator(mode="after")
    def _sourced_or_estimated(self) -> Figure:
        if self.estimate is None and self.source is None:
            raise ValueError("a figure needs a source or an estimate")
        if self.estimate is not None and not self.estimate.strip():
            raise ValueError("an estimate must say how it was made")
        if self.estimate is not None and self.checked:
            raise ValueError("an estimate cannot be checked")
        return self

    @property
    def status(self) -> Status:
        """``checked`` (published, re-found), ``cited`` (published, not re-found) or ``estimated``."""
        if self.estimate is not None:
            return "estimated"
        return "checked" if self.checked else "cited"


class QualityInputs(BaseModel):
    """The whole inputs file: the audit date, the sources by key, and each model's seven figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = ""
    audited: date
    sources: dict[str, Source]
    models: dict[str, dict[str, Figure]]

    @model_validator(mode="after")
    def _complete_and_consistent(self) -> QualityInputs:
        for name, figures in self.models.items():
            if set(figures) != set(BENCHMARKS):
                raise ValueError(f"{name}: needs exactly the benchmarks {list(BENCHMARKS)}, has {sorted(figures)}")
            for key, figure in figures.items():
                low, high = _ELO_RANGE if key == "arena_elo" else _PERCENT_RANGE
                if not low <= figure.value <= high:
                    raise ValueError(f"{name}.{key}: {figure.value} is outside [{low}, {high}]")
                if figure.source is not None and figure.source not in self.sources:
                    raise ValueError(f"{name}.{key}: unknown source {figure.source!r}")
        return self

    def values(self, name: str) -> dict[str, Decimal]:
        """The seven figures of a model, by benchmark key."""
        return {key: figure.value for key, figure in self.models[name].items()}


def arena_position(elo: Decimal) -> Decimal:
    """A model's position on the Arena scale: ``clamp((Elo - ARENA_FLOOR_ELO) / ARENA_SPAN_ELO, 0, 1)``."""
    return min(Decimal(1), max(Decimal(0), (elo - ARENA_FLOOR_ELO) / ARENA_SPAN_ELO))


def quality_scores(values: Mapping[str, Decimal | float | int]) -> dict[TaskType, float]:
    """The documented rule: benchmark figures (percent, Arena in Elo points) to a score in [0, 1] per task type,
    rounded half up to 2 decimals. Computed in decimal arithmetic, so the rounding is exact."""
    v = {key: Decimal(str(values[key])) for key in BENCHMARKS}
    mmlu, gpqa, humaneval, math_, gsm8k, mgsm = (v[key] / 100 for key in BENCHMARKS[:6])
    arena = arena_position(v["arena_elo"])
    raw = {
        TaskType.GENERAL: mmlu,
        TaskType.COMPLEX_ANALYSIS: (mmlu + gpqa) / 2,
        TaskType.CODE_GENERATION: humaneval,
        TaskType.CODE_REVIEW: (humaneval + mmlu) / 2,
        TaskType.MATH_REASONING: (math_ + gsm8k) / 2,
        TaskType.CREATIVE_WRITING: Decimal("0.55") + Decimal("0.40") * arena,
        TaskType.SUMMARIZATION: Decimal("0.70") + Decimal("0.25") * arena,
        TaskType.SIMPLE_QA: Decimal("0.80") + Decimal("0.15") * arena,
        TaskType.TRANSLATION: Decimal("0.50") + Decimal("0.50") * mgsm,
    }
    return {task: float(score.quantize(_CENT, rounding=ROUND_HALF_UP)) for task, score in raw.items()}


def load_quality_inputs(path: str | Path | None = None) -> QualityInputs:
    """Read and validate an inputs file (the bundled one by default); a bad file is a :class:`ConfigurationError`."""
    label = str(path) if path is not None else f"app/{_BUNDLED}"
    try:
        if path is None:
            text = resources.files("app").joinpath(_BUNDLED).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        return QualityInputs.model_validate(json.loads(text))
    except OSError as exc:
        raise ConfigurationError(f"{label}: cannot read the quality inputs: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{label}: not valid JSON: {exc}") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"{label}: {where}: {first['msg']}") from exc


def format_value(figure: Figure) -> str:
    """A figure as the docs table shows it: ``~`` before an estimate, ``†`` after a figure cited, not re-found."""
    text = format(figure.value, "f")
    if figure.status == "estimated":
        return f"~{text}"
    return f"{text}†" if figure.status == "cited" else text


def _source_label(inputs: QualityInputs, key: str) -> str:
    source = inputs.sources[key]
    return f"{source.title}, {source.date}"


def quality_basis(name: str, inputs: QualityInputs) -> str:
    """The ``quality_basis`` text of a catalog entry: every input with its source and date, or how it was estimated.

    Published figures are grouped by source (``[cited, not re-found]`` marks those the audit did not re-find);
    estimates follow, each with its method. The text names docs/catalog.md (the rule) and the inputs file.
    """
    figures = inputs.models[name]
    groups: dict[tuple[str, bool], list[str]] = {}
    estimates: list[str] = []
    for key in BENCHMARKS:
        figure = figures[key]
        value = format(figure.value, "f")
        if figure.status == "estimated":
            based = f"; from {_source_label(inputs, figure.source)}" if figure.source else ""
            extra = f"; {figure.note}" if figure.note else ""
            estimates.append(f"{LABELS[key]} ~{value} [{figure.estimate}{extra}{based}]")
        else:
            assert figure.source is not None
            note = f" [{figure.note}]" if figure.note else ""
            groups.setdefault((figure.source, figure.checked), []).append(f"{LABELS[key]} {value}{note}")
    parts = [
        f"{', '.join(items)}: {_source_label(inputs, source)}{'' if checked else ' [cited, not re-found]'}"
        for (source, checked), items in groups.items()
    ]
    if estimates:
        parts.append("estimated: " + "; ".join(estimates))
    return (
        f"Benchmark inputs (audited {inputs.audited.isoformat()}; figures: app/data/quality_inputs.json; "
        f"rule and table: docs/catalog.md): " + "; ".join(parts)
    )
