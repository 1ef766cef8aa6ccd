"""Reference routers without training (costmux eval --baseline) and the cost share at the best model's quality."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.errors import ConfigurationError
from app.evaluation import OfflineProvider, read_outcomes
from app.evaluation.baselines import prompt_length
from app.evaluation.runner import prepare

WEAK, STRONG = "gpt-4.1-mini", "gpt-4.1"


def _write(path: Path, models: tuple[str, ...] = (WEAK, STRONG)) -> Path:
    """Long prompts: the weak model fails them; short ones: both answer."""
    rows = []
    for i in range(40):
        long = i % 2 == 0
        prompt = f"Question {i}: " + ("explain every step of the derivation in detail " * 12 if long else "hi?")
        scores = {name: 1.0 for name in models} | ({WEAK: 0.0} if long else {})
        rows.append({"prompt": prompt, "scores": scores})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_the_length_baseline_sends_the_longest_prompts_to_the_stronger_model(tmp_path: Path) -> None:
    data = read_outcomes(_write(tmp_path / "o.jsonl"))
    models, rows = prepare(data, OfflineProvider(list(data.models)))
    run = prompt_length(rows, models)
    assert run.strategy == "prompt_length" and len(run.sweep) == 21
    half = run.default
    assert half.calls == {WEAK: 20, STRONG: 20} and half.quality == 1.0  # the 20 long prompts went to the strong one
    assert [point.calls[STRONG] for point in run.sweep] == [round(i * 40 / 20) for i in range(21)]


def test_the_length_baseline_needs_two_models(tmp_path: Path) -> None:
    data = read_outcomes(_write(tmp_path / "o.jsonl", (WEAK, STRONG, "o3")))
    models, rows = prepare(data, OfflineProvider(list(data.models)))
    with pytest.raises(ConfigurationError, match="two models, the data has 3"):
        prompt_length(rows, models)


def test_eval_reports_the_baseline_and_the_cost_share_at_the_best_quality(tmp_path: Path) -> None:
    data = _write(tmp_path / "o.jsonl")
    out = tmp_path / "report"
    assert main(["eval", str(data), "--baseline", "length", "--out", str(out), "--quiet", "--no-plot"]) == 0
    result = json.loads((out / "o.json").read_text())
    baseline = result["strategies"]["baseline_length"]
    assert baseline["apgr"] == pytest.approx(result["oracle"]["apgr"]) == pytest.approx(0.75)  # length is the signal
    strong_cost = result["models"][STRONG]["cost_usd"]
    cheapest_at_best = min(p["cost_usd"] for p in baseline["sweep"] if p["quality"] >= 1.0)
    assert baseline["best_quality_cost_share"] == pytest.approx(cheapest_at_best / strong_cost)
    assert 0 < baseline["best_quality_cost_share"] < 1
