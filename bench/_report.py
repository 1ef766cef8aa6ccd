"""Markdown shared by the benchmark sections: the goals table every section ends with (``python -m bench`` reads the
summary at the top of docs/benchmarks.md from these tables)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["goals_table"]


def goals_table(goals: Iterable[Mapping[str, Any]]) -> list[str]:
    """``| goal | measured | verdict |`` lines, one row per goal (``goal``, ``measured``, ``met``)."""
    rows = ["| goal | measured | verdict |", "|---|---|---|"]
    rows += [f"| {g['goal']} | {g['measured']} | {'**met**' if g['met'] else '**not met**'} |" for g in goals]
    return rows
