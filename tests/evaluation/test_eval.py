"""evaluate() and costmux eval: every prompt through Router.decide, baselines, metrics, the report files."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.evaluation import OfflineProvider, evaluate, markdown_report, read_outcomes
from app.evaluation.runner import ModelInfo, PreparedRow, StrategyRun, point_of_choices, prepare
from app.events import RoutingDecided
from app.router import Router
from app.tasks import TaskType
from app.tokens import estimate_tokens

ROOT = Path(__file__).resolve().parents[2]
DATASETS = ROOT / "datasets"
QUALITY = {  # a small quality table: "big" is better at math, both are equal at simple questions
    "big": {
        "pricing": {"input_per_1m": 10, "output_per_1m": 30},
        "metadata": {"quality": {t.value: (0.9 if t is TaskType.MATH_REASONING else 0.85) for t in TaskType}},
    },
    "small": {
        "pricing": {"input_per_1m": 0.5, "output_per_1m": 1},
        "metadata": {"quality": {t.value: (0.6 if t is TaskType.MATH_REASONING else 0.85) for t in TaskType}},
    },
}
ROWS = [
    {
        "prompt": "Solve step by step: 3x + 5 = 20. What is x?",
        "scores": {"big": 1, "small": 0},
        "output_tokens": {"big": 120, "small": 90},
    },
    {
        "prompt": "Calculate 17 * 23 and show your work.",
        "scores": {"big": 1, "small": 1},
        "output_tokens": {"big": 80, "small": 60},
    },
    {"prompt": "What is the capital of France?", "scores": {"big": 1, "small": 1}},
    {"prompt": "Who wrote Hamlet?", "scores": {"big": 0, "small": 0}},
]


def outcomes(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    return path


def test_every_prompt_is_routed_through_decide_and_the_baselines_are_exact(tmp_path: Path) -> None:
    data = read_outcomes(outcomes(tmp_path))
    provider = OfflineProvider(data.models, custom_models=QUALITY, catalog=None)
    seen: list[Any] = []
    routers = {name: Router(name, observers=[seen.append]) for name in ("cost_optimized", "heuristic")}
    result = evaluate(data, provider, routers=routers)
    decided = [event for event in seen if isinstance(event, RoutingDecided)]
    assert len(decided) == result["timing"]["decisions"] == sum(r["decisions"] for r in result["strategies"].values())
    # each model alone: the mean score, and the mean of prompt estimate x input price + answer tokens x output price
    tokens = [estimate_tokens([{"role": "user", "content": row["prompt"]}]) for row in ROWS]
    answers = [row.get("output_tokens", {}).get("big", 120) for row in ROWS]  # 120: the simple_qa typical length
    big = result["models"]["big"]
    assert big["quality"] == 0.75
    assert big["cost_usd"] == pytest.approx(
        sum(t * 10e-6 + a * 30e-6 for t, a in zip(tokens, answers, strict=True)) / 4
    )
    assert result["pair"] == {"weak": "small", "strong": "big"}
    assert result["baselines"] == {"always_cheapest": "small", "always_best": "big"}
    # the oracle: big on the first prompt only, small elsewhere: big's quality with 25% of the calls
    assert result["oracle"]["quality"] == 0.75 and result["oracle"]["cpt80"] == pytest.approx(0.2)
    # cost_optimized at its default sends math to big and the questions to small (equal quality there)
    point = result["strategies"]["cost_optimized"]["default"]
    assert point["calls"] == {"big": 2, "small": 2} and point["quality"] == 0.75 and point["strong_share"] == 0.5
    assert point["random_at_same_spend"] == pytest.approx(0.625)
    sweep = result["strategies"]["cost_optimized"]["sweep"]
    assert sweep[0]["quality_share"] == 0.0 and sweep[-1]["quality_share"] == 1.0
    assert [p["strong_share"] for p in sweep] == sorted(p["strong_share"] for p in sweep)  # monotone
    # completed with always-small at 0% and always-big at 100%: (0, 0.5), (0.5, 0.75), (1, 0.75): APGR 0.75
    assert result["strategies"]["cost_optimized"]["apgr"] == pytest.approx(0.75)
    assert list(result["strategies"]["cost_optimized"]["strong_share_span"]) == [0.5, 0.5]  # ties go to small
    tasks = {row["task"]: row for row in result["tasks"]}
    assert tasks["math_reasoning"]["prompts"] == 2 and tasks["math_reasoning"]["scores"] == {"big": 1.0, "small": 0.5}


def test_an_external_router_is_measured_by_the_same_metrics_against_the_same_baselines(tmp_path: Path) -> None:
    data = read_outcomes(outcomes(tmp_path))
    provider = OfflineProvider(data.models, custom_models=QUALITY, catalog=None)
    seen: list[tuple[int, list[str]]] = []

    def first_prompt_to_big(rows: Sequence[PreparedRow], models: Mapping[str, ModelInfo]) -> StrategyRun:
        seen.append((len(rows), list(models)))
        settings = {"all small": 0, "first to big": 1, "all big": 4}
        points = {
            label: point_of_choices(rows, models, ["big"] * count + ["small"] * (len(rows) - count), setting=label)
            for label, count in settings.items()
        }
        return StrategyRun("ignored", points["first to big"], list(points.values()), 3 * len(rows), 0.5)

    result = evaluate(data, provider, strategies=["heuristic"], external={"keyword": first_prompt_to_big})
    _, rows = prepare(data, provider)
    assert seen == [(4, ["big", "small"])]
    run = result["strategies"]["keyword"]
    assert run["default"]["setting"] == "first to big" and run["default"]["strong_share"] == 0.25
    assert run["default"]["quality"] == 0.75 and run["default"]["calls"] == {"big": 1, "small": 3}
    assert run["default"]["cost_usd"] == pytest.approx(
        (rows[0].cost_usd["big"] + sum(row.cost_usd["small"] for row in rows[1:])) / 4
    )
    # (0, 0.5), (0.25, 0.75), (1, 0.75) against small's 0.5 and big's 0.75: area 0.71875, APGR 0.875
    assert run["apgr"] == pytest.approx(0.875) and run["cpt80"] == pytest.approx(0.2)
    assert [point["setting"] for point in run["sweep"]] == ["all small", "first to big", "all big"]
    assert result["settings"]["external"] == ["keyword"]
    assert "| keyword (first to big) | 0.750 |" in markdown_report(result)
    heuristic = result["strategies"]["heuristic"]
    assert result["timing"]["decisions"] == heuristic["decisions"]  # costmux's decisions only
    tasks = {row["task"]: row for row in result["tasks"]}
    assert tasks["math_reasoning"]["routed"]["keyword"] == {"big": 0.5, "small": 0.5}
    with pytest.raises(ValueError, match="not a model of the data"):
        point_of_choices(rows, {"big": ModelInfo("big", 1e-5, 3e-5, None, "test", "none")}, ["small"] * 4)
    with pytest.raises(ValueError, match="3 choices for 4 rows"):
        point_of_choices(rows, {}, ["big"] * 3)


def test_a_cap_that_cuts_an_answer_scores_zero_and_a_refused_prompt_costs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text(
        "".join(json.dumps({"prompt": r["prompt"], "scores": {"big": r["scores"]["big"]}}) + "\n" for r in ROWS)
    )
    data = read_outcomes(path)
    provider = OfflineProvider(data.models, custom_models=QUALITY, catalog=None)
    uncapped = evaluate(data, provider, strategies=["heuristic"])["strategies"]["heuristic"]["default"]
    capped = evaluate(data, provider, strategies=["heuristic"], max_cost=0.0032)["strategies"]["heuristic"]["default"]
    assert uncapped["cut"] == 0 and uncapped["quality"] == 0.75
    assert capped["cut"] >= 1 and capped["quality"] < uncapped["quality"] and capped["cost_usd"] < uncapped["cost_usd"]
    refused = evaluate(data, provider, strategies=["heuristic"], max_cost=0.0000001)["strategies"]["heuristic"]
    assert refused["default"]["refused"] == 4 and refused["default"]["cost_usd"] == 0.0


def test_a_model_without_a_price_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = outcomes(tmp_path)
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"small": QUALITY["small"]}))
    assert main(["eval", str(path), "--models", str(models), "--no-catalog", "--out", str(tmp_path), "--quiet"]) == 1
    assert "no price known for big" in capsys.readouterr().err


def test_the_command_writes_markdown_json_and_a_pareto_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report"
    code = main(["eval", str(DATASETS / "routellm" / "mt_bench.jsonl.gz"), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr()
    report = (out / "mt_bench.md").read_text()
    assert printed.out.strip() == report.strip() and "mt_bench.png" in printed.err
    assert "| per-prompt oracle |" in report and "APGR" in report and "## By task type" in report
    result = json.loads((out / "mt_bench.json").read_text())
    assert result["data"]["prompts"] == 72 and set(result["strategies"]) == {"cost_optimized", "heuristic"}
    png = (out / "mt_bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(out / "mt_bench.png").shape
    assert (width, height) == (990, 660)


def test_gsm8k_reproduces_routellms_figures() -> None:
    """The vendored GSM8K set and RouteLLM's APGR: the per-prompt oracle's 1.13 (as the issue measured it), a
    random router's 0.5, and the two models' accuracies of the data's README (0.637 / 0.858)."""
    data = read_outcomes(DATASETS / "routellm" / "gsm8k.jsonl.gz")
    result = evaluate(data, OfflineProvider(data.models), strategies=["heuristic"])  # the catalog knows both
    assert round(result["models"]["mistralai/Mixtral-8x7B-Instruct-v0.1"]["quality"], 3) == 0.637
    assert round(result["models"]["gpt-4-1106-preview"]["quality"], 3) == 0.858
    assert round(result["oracle"]["apgr"], 2) == 1.13
    heuristic = result["strategies"]["heuristic"]
    assert tuple(heuristic["strong_share_span"]) == (0.0, 1.0)
    assert 0.5 < heuristic["apgr"] < 0.6  # the task type alone is worth little here


def test_the_demos_quality_evidence_comes_from_the_vendored_sets(tmp_path: Path) -> None:
    from app.evaluation.evidence import quality_evidence

    (line,) = quality_evidence(["heuristic"])
    assert line.startswith("  heuristic: GSM8K ") and "of its score) at " in line and "MT-Bench" in line
    assert quality_evidence(["heuristic"], root=tmp_path) == []
