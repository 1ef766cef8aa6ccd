"""The quality model artifact: round trip, versions refused, the prompts it saw."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from app.errors import ConfigurationError, QualityModelError
from app.evaluation import read_outcomes
from app.quality import Head, QualityModel, load_quality_model, prompt_digest, prompt_text
from app.quality.features import LEGACY_WINDOW
from app.router.quality import DENSE_FEATURES
from tests.quality.helpers import hand_model


def _model() -> QualityModel:
    model = hand_model({"a": (0.5, {"integral": -2.0}), "b": (1.0, {"hello": 0.25})}, difficulty={"prove": -1.0})
    return QualityModel(
        model.vocabulary,
        model.dense_names,
        model.heads,
        model.difficulty,
        frozenset({b"12345678"}),
        {"prompts": 3},
    )


def test_pairs_and_triples_round_trip_and_are_found_in_text(tmp_path: Path) -> None:
    vocabulary = ("how", ("how", "many"), ("how", "many", "apples"), ("many", "apples"))
    model = QualityModel(vocabulary, (), {"a": Head(0.0, (0.0, 1.0, 2.0, 4.0, 8.0), ())})
    model.save(tmp_path / "model.json")
    loaded = QualityModel.load(tmp_path / "model.json")
    assert loaded.vocabulary == vocabulary
    assert sorted(loaded.text_columns("How many apples?")) == [1, 2, 3, 4]
    assert sorted(loaded.text_columns("how many pears")) == [1, 2]
    assert loaded.columns([("how", "many", "apples"), ("how", "many", "pears")]) == [3]


def test_a_version_1_artifact_still_loads_and_estimates_the_same(tmp_path: Path) -> None:
    """Version 1 is version 2 without triples: its words and pairs are looked up as before."""
    model = _model()
    (tmp_path / "v1.json").write_text(json.dumps({**model.to_json(), "version": 1}))
    loaded = QualityModel.load(tmp_path / "v1.json")
    text = "Prove that the integral converges"
    assert sorted(loaded.text_columns(text)) == sorted(model.text_columns(text)) == [1, 3]
    assert loaded.to_json() == model.to_json()


@pytest.mark.parametrize("name", ["model.json", "model.json.gz"])
def test_a_saved_model_loads_back_the_same(tmp_path: Path, name: str) -> None:
    model = _model()
    model.save(tmp_path / name)
    loaded = QualityModel.load(tmp_path / name)
    assert loaded.to_json() == model.to_json()
    assert loaded.columns(["integral", "unknown", "prove"]) == [1, 3]
    assert loaded.heads["a"].logit_of(loaded.columns(["integral"]), (0.0,) * len(loaded.dense_names)) == -1.5
    assert loaded.trained_prompts == {b"12345678"}
    assert (tmp_path / name).read_bytes()[:2] == (b"\x1f\x8b" if name.endswith(".gz") else b'{"')


def test_other_versions_and_formats_are_refused_clearly(tmp_path: Path) -> None:
    raw = _model().to_json()
    (tmp_path / "v3.json").write_text(json.dumps({**raw, "version": 3}))
    with pytest.raises(QualityModelError, match=r"version 3 is not supported.*versions 1, 2.*costmux train"):
        QualityModel.load(tmp_path / "v3.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "pickle?"}))
    with pytest.raises(QualityModelError, match="not a costmux quality model"):
        QualityModel.load(tmp_path / "other.json")
    (tmp_path / "bad.json.gz").write_bytes(gzip.compress(b"{not json"))
    with pytest.raises(QualityModelError, match="not JSON"):
        QualityModel.load(tmp_path / "bad.json.gz")
    with pytest.raises(QualityModelError, match="cannot read"):
        QualityModel.load(tmp_path / "missing.json")
    assert issubclass(QualityModelError, ConfigurationError)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocabulary": "integral"}, "vocabulary must be a list"),
        ({"heads": {"a": {"bias": 0, "weights": [1.0], "dense": []}}}, "weights must be a list of 3"),
        ({"difficulty": {"bias": 0, "weights": [0, 0, 0], "dense": [0, 0]}}, "dense must be a list of"),
        ({"difficulty": {"bias": 0, "weights": [0, 0, 0], "dense": [0] * len(DENSE_FEATURES)}}, "abilities must map"),
        ({"trained_prompts": "!!"}, "base64"),
        ({"window_chars": [600]}, r"window_chars must be \[head, tail\]"),
        ({"window_chars": [-1, 200]}, "window_chars must be"),
        ({"window_chars": [0, 0]}, "window_chars must be"),
        ({"window_chars": "600,200"}, "window_chars must be"),
    ],
)
def test_malformed_artifacts_name_what_is_wrong(tmp_path: Path, change: dict[str, object], message: str) -> None:
    (tmp_path / "m.json").write_text(json.dumps({**_model().to_json(), **change}))
    with pytest.raises(QualityModelError, match=message):
        QualityModel.load(tmp_path / "m.json")


def test_the_window_is_part_of_the_artifact_and_an_artifact_without_one_reads_the_first_window(tmp_path: Path) -> None:
    model = _model()
    narrow = QualityModel(model.vocabulary, model.dense_names, model.heads, model.difficulty, window_chars=(8, 0))
    narrow.save(tmp_path / "narrow.json")
    loaded = QualityModel.load(tmp_path / "narrow.json")
    assert loaded.window_chars == (8, 0)
    assert loaded.text_columns("integral hello prove") == [1]  # the first 8 characters: "integral"
    assert sorted(model.text_columns("integral hello prove")) == [1, 2, 3]
    legacy = {key: value for key, value in model.to_json().items() if key != "window_chars"}
    (tmp_path / "legacy.json").write_text(json.dumps(legacy))
    assert QualityModel.load(tmp_path / "legacy.json").window_chars == LEGACY_WINDOW == (1200, 400)


def test_the_shipped_default_loads_and_remembers_what_it_was_trained_on() -> None:
    model = load_quality_model("default")
    assert model.difficulty is not None
    assert len(model.vocabulary) > 1000
    assert len(model.trained_prompts) > 10_000
    assert {"gsm8k", "mmlu", "mt_bench"} <= {Path(path).name.split(".")[0] for path in model.info["data"]}
    # scripts/train-default-quality holds out exactly the prompts whose digest is 0 mod 5: eval measures on those
    data = Path(__file__).resolve().parents[2] / "datasets" / "routellm"
    for name in ("gsm8k", "mt_bench"):
        for row in read_outcomes(data / f"{name}.jsonl.gz").rows:
            text = prompt_text(row.messages)
            assert model.saw(text) == bool(int.from_bytes(prompt_digest(text)) % 5), text[:60]


def test_a_sqrt_term_scale_gives_each_of_n_terms_the_value_one_over_root_n(tmp_path: Path) -> None:
    base = _model()
    model = QualityModel(base.vocabulary, base.dense_names, base.heads, base.difficulty, term_scale="sqrt")
    model.save(tmp_path / "m.json")
    loaded = QualityModel.load(tmp_path / "m.json")
    columns = loaded.columns(["integral", "hello", "prove", "unknown"])
    assert loaded.term_scale == "sqrt" and loaded.scale_of(columns) == pytest.approx(3**-0.5)
    dense = (0.0,) * len(loaded.dense_names)
    assert loaded.heads["a"].logit_of(columns, dense, loaded.scale_of(columns)) == pytest.approx(0.5 - 2 / 3**0.5)
    assert base.scale_of(columns) == 1.0
    (tmp_path / "bad.json").write_text(json.dumps({**model.to_json(), "term_scale": "log"}))
    with pytest.raises(QualityModelError, match="term_scale"):
        QualityModel.load(tmp_path / "bad.json")
