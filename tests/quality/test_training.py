"""Training and cross-validation of the learned quality model, and the train/eval commands."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.cli import main
from app.errors import ConfigurationError
from app.evaluation import OfflineProvider, read_outcomes
from app.evaluation.crossval import cross_validate, folds
from app.evaluation.outcomes import Outcome, OutcomeSet
from app.evaluation.training import TrainOptions, featurize, fit
from app.quality import QualityModel, prompt_text
from app.router import Router

WEAK, STRONG = "gpt-4.1-mini", "gpt-4.1"
TOPICS = ["geometry", "algebra", "history", "cooking", "poetry", "biology", "chess", "music"]


def _rows(n: int = 240, seed: int = 1) -> list[dict[str, object]]:
    """The weak model fails prompts about 'integrals' (the strong one answers 95% of everything)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hard = i % 3 == 0
        topic = TOPICS[i % len(TOPICS)]
        words = " ".join(rng.choice(TOPICS) for _ in range(6))
        prompt = f"Question {i} about {topic}: {'evaluate the definite integral' if hard else 'name a fact'} {words}"
        scores = {WEAK: 0.0 if hard else 1.0, STRONG: 1.0 if rng.random() < 0.95 else 0.0}
        rows.append({"prompt": prompt, "scores": scores, "group": topic})
    return rows


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_a_fitted_head_learns_which_prompts_the_weak_model_fails(tmp_path: Path) -> None:
    data = read_outcomes(_write(tmp_path / "o.jsonl", _rows()))
    model = fit(data.rows, data.models, TrainOptions(l2=1.0))
    assert set(model.heads) == {WEAK, STRONG}
    assert "integral" in model.vocabulary and model.difficulty is not None
    assert model.difficulty.abilities[STRONG] > model.difficulty.abilities[WEAK]
    assert all(model.saw(prompt_text(row.messages)) for row in data.rows)
    router = Router(quality_model=model, providers={"o": OfflineProvider(list(data.models))})
    hard = router.decide([{"role": "user", "content": "Please evaluate the definite integral of chess music"}])
    easy = router.decide([{"role": "user", "content": "Please name a fact about chess music"}])
    assert (hard.model, easy.model) == (STRONG, WEAK)
    assert model.info["prompts"] == len(data.rows) and model.info["seconds"] >= 0


def test_folds_partition_the_rows_randomly_or_by_group(tmp_path: Path) -> None:
    data = read_outcomes(_write(tmp_path / "o.jsonl", _rows(40)))
    for by_group in (False, True):
        held_out = folds(data, 4, seed=3, by_group=by_group)
        assert sorted(i for fold in held_out for i in fold) == list(range(40))
        if by_group:
            groups = [{data.rows[i].group for i in fold} for fold in held_out]
            assert all(not (a & b) for j, a in enumerate(groups) for b in groups[j + 1 :])
    assert folds(data, 4, seed=3) == folds(data, 4, seed=3) != folds(data, 4, seed=4)
    with pytest.raises(ConfigurationError, match="at least 2"):
        folds(data, 1)
    with pytest.raises(ConfigurationError, match="8 groups cannot make 9 folds"):
        folds(data, 9, by_group=True)
    no_groups = OutcomeSet("x", data.models, tuple(row._replace(group=None) for row in data.rows))
    with pytest.raises(ConfigurationError, match='no "group"'):
        folds(no_groups, 2, by_group=True)


def test_cross_validation_routes_held_out_prompts_far_better_than_random(tmp_path: Path) -> None:
    data = read_outcomes(_write(tmp_path / "o.jsonl", _rows()))
    result = cross_validate(data, OfflineProvider(list(data.models)), k=3, options=TrainOptions(l2=1.0))
    assert len(result["folds"]) == 3 and sum(fold["prompts"] for fold in result["folds"]) == len(data.rows)
    for strategy in ("cost_optimized", "heuristic"):
        assert result["mean"][strategy]["apgr"] > 0.8  # random is 0.5


def test_train_then_eval_leaves_out_what_the_model_saw(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows()
    train_file, test_file = _write(tmp_path / "train.jsonl", rows[:180]), _write(tmp_path / "all.jsonl", rows)
    out = tmp_path / "model.json.gz"
    assert main(["train", "--data", str(train_file), "--cv", "2", "--l2", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert (
        "2-fold cross-validation (random, seed 0, mode combined, sweeps of up to 24 settings), 180 prompts"
        in printed.out
    )
    assert "| cost_optimized | **mean** |" in printed.out
    assert "wrote" in printed.err and QualityModel.load(out).info["prompts"] == 180
    report = tmp_path / "report"
    assert (
        main(["eval", str(test_file), "--quality-model", str(out), "--out", str(report), "--quiet", "--no-plot"]) == 0
    )
    assert "left out 180 prompts the quality model was trained on; 60 remain" in capsys.readouterr().err
    result = json.loads((report / "all.json").read_text())
    assert result["data"]["prompts"] == 60
    assert result["strategies"]["cost_optimized"]["apgr"] > 0.8
    assert main(["eval", str(train_file), "--quality-model", str(out), "--quiet", "--no-plot"]) == 1
    assert "trained on every prompt" in capsys.readouterr().err


def test_train_refuses_files_of_different_models_and_nothing_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _write(tmp_path / "a.jsonl", _rows(20))
    other = [{"prompt": "x", "scores": {"gpt-4.1": 1.0, "o3": 1.0}}]
    second = _write(tmp_path / "b.jsonl", other)
    assert main(["train", "--data", str(first), "--data", str(second), "--out", str(tmp_path / "m.json")]) == 1
    assert "train on files that score the same models" in capsys.readouterr().err
    assert main(["train", "--data", str(first)]) == 1
    assert "nothing to do" in capsys.readouterr().err
    assert main(["train", "--data", str(first), "--cv", "2", "--points", "2"]) == 1
    assert "--points must be at least 3" in capsys.readouterr().err


def test_fit_needs_rows() -> None:
    with pytest.raises(ConfigurationError, match="no prompts"):
        fit([], [WEAK])
    with pytest.raises(ConfigurationError, match="l2 > 0"):
        TrainOptions(l2=0)
    assert isinstance(Outcome, type)


def test_the_window_is_a_training_option_the_model_keeps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_file = _write(tmp_path / "o.jsonl", _rows(60))
    out = tmp_path / "narrow.json"
    assert main(["train", "--data", str(data_file), "--window", "20,0", "--l2", "1", "--out", str(out)]) == 0
    narrow = QualityModel.load(out)
    assert narrow.window_chars == (20, 0) and narrow.info["options"]["window_chars"] == [20, 0]
    assert "question" in narrow.vocabulary and "integral" not in narrow.vocabulary  # past the first 20 characters
    data = read_outcomes(data_file)
    with pytest.raises(ConfigurationError, match="made through window"):
        fit(data.rows, data.models, TrainOptions(window_chars=(20, 0)), features=featurize(data.rows))
    with pytest.raises(ConfigurationError, match="window_chars"):
        TrainOptions(window_chars=(0, 0))
    for bad in ("600", "a,b", "-1,5", "0,0"):
        with pytest.raises(SystemExit):
            main(["train", "--data", str(data_file), "--window", bad, "--out", str(out)])
    assert "HEAD,TAIL" in capsys.readouterr().err


def test_cross_validation_sweeps_as_many_settings_as_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_file, report = _write(tmp_path / "o.jsonl", _rows(80)), tmp_path / "report.json"
    assert main(["train", "--data", str(data_file), "--cv", "2", "--points", "5", "--report", str(report)]) == 0
    assert "sweeps of up to 5 settings" in capsys.readouterr().out
    assert json.loads(report.read_text())["settings"]["points"] == 5
