"""bench/compare_litellm_strategies.py: LiteLLM's own strategies next to costmux's on a slice of the vendored sets,
offline (sockets refused), and the pure helpers that configure and sweep them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.evaluation import OfflineProvider, read_outcomes
from app.evaluation.runner import prepare
from bench import compare_litellm_strategies as compare
from bench._litellm_config import (
    TIERS,
    Complexity,
    HeuristicV2,
    Recorded,
    default_mapping,
    describe,
    ladder,
    mappings,
    tier_at_threshold,
)

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 40

# Runs the script with every way out of the process refused: a connection, a name lookup.
NO_NETWORK = """
import runpy, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access in an offline comparison")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_the_tier_mappings_are_every_monotone_assignment() -> None:
    assert mappings(2) == [(0, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 1), (0, 1, 1, 1), (1, 1, 1, 1)]
    assert len(mappings(3)) == 15 and all(list(m) == sorted(m) for m in mappings(3))
    assert default_mapping(2) == (0, 0, 1, 1) and default_mapping(3) == (0, 1, 1, 2) and default_mapping(1) == (0,) * 4
    assert describe((0, 0, 1, 1), ["weak", "strong"]) == "SIMPLE, MEDIUM → weak; COMPLEX, REASONING → strong"


def test_heuristic_v2s_tier_is_the_first_that_meets_the_threshold() -> None:
    probabilities = dict(zip(TIERS, (0.5, 0.7, 0.8, 0.9), strict=True))
    assert tier_at_threshold(probabilities, 0.0) == "SIMPLE"
    assert tier_at_threshold(probabilities, 0.75) == "COMPLEX"
    assert tier_at_threshold(probabilities, 0.95) == "REASONING"  # none meets it


def test_the_simple_medium_boundary_moves_only_what_the_score_decides() -> None:
    kind = Complexity()
    scored = Recorded("SIMPLE", "heuristic_scorer", False, score=0.125)
    assert kind.tier(scored, None) == "SIMPLE"  # the default boundaries: as recorded
    assert kind.tier(scored, 0.125) == "MEDIUM" and kind.tier(scored, 0.2) == "SIMPLE"  # at or above: not SIMPLE
    overridden = Recorded("REASONING", "reasoning_override", False, score=0.2)
    assert kind.tier(overridden, 0.3) == "SIMPLE"  # the override needs the score to reach the boundary too
    escalated = Recorded("MEDIUM", "heuristic_scorer", True, score=0.0)
    housekeeping = Recorded("SIMPLE", "housekeeping", False)
    assert kind.tier(escalated, 0.5) == "MEDIUM" and kind.tier(housekeeping, -1.0) == "SIMPLE"
    v2 = HeuristicV2()
    forecast = Recorded(
        "MEDIUM", "heuristic_v2", True, probabilities=dict(zip(TIERS, (0.5, 0.7, 0.8, 0.9), strict=True))
    )
    assert v2.tier(forecast, 0.6) == "COMPLEX"  # MEDIUM meets 0.6, escalated one tier


def test_every_setting_of_a_sweep_is_a_monotone_mapping_with_its_knob() -> None:
    records = [Recorded("SIMPLE", "heuristic_scorer", False, score=s) for s in (-0.1, 0.125, 0.125, 0.4)]
    two = Complexity().settings(records, 2, 2)
    assert {mapping for mapping, _ in two} == {(0, 1, 1, 1)}  # SIMPLE to the weak model, the rest to the strong
    assert [b for _, b in two] == [-0.1, 0.125, 0.4, pytest.approx(0.401)]  # each score, then all SIMPLE
    nine = Complexity().settings(records, 3, 9)
    assert len([s for s in nine if s[1] is None]) == 15 and len([s for s in nine if s[1] is not None]) == 3 * 4


def test_the_ladder_is_the_single_models_on_the_quality_cost_hull() -> None:
    data = read_outcomes(ROOT / "datasets" / "llmrouter" / "llmrouter.jsonl.gz")
    prices = json.loads((ROOT / "datasets" / "llmrouter" / "prices.json").read_text())
    models, rows = prepare(data, OfflineProvider(data.models, prices=prices))
    # the cheapest model, the best at the middle price, the best overall (the others are beaten on both)
    assert ladder(rows, models) == ["gemma-2-9b-it", "llama-3.1-8b-instruct", "llama-3.1-nemotron-51b-instruct"]


def test_the_generated_part_of_the_docs_is_replaced_between_its_markers(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(f"before\n{compare.BEGIN}\nold tables\n{compare.END}\nafter\n")
    compare.write_docs("new tables\n", doc)
    assert doc.read_text() == f"before\n{compare.BEGIN}\nnew tables\n{compare.END}\nafter\n"
    assert compare.BEGIN in compare.DOCS.read_text() and compare.END in compare.DOCS.read_text()


def _python_with_litellm() -> str:
    """This interpreter when litellm is installed here (the ``proxy`` extra), else the proxy virtualenv's of
    ``scripts/install-proxy`` (``$COSTMUX_PROXY_VENV``); neither fails the test, as a missing proxy does."""
    if importlib.util.find_spec("litellm") is not None:
        return sys.executable
    venv = Path(os.environ.get("COSTMUX_PROXY_VENV") or "~/.cache/costmux/proxy-venv").expanduser()
    python = venv / "bin" / "python"
    if not python.exists():
        pytest.fail(f'litellm is needed: pip install -e ".[proxy]", or scripts/install-proxy ({venv})')
    return str(python)


@pytest.fixture(scope="module")
def slice_results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str, Path]:
    out = tmp_path_factory.mktemp("compare") / "results.json"
    script = ROOT / "bench" / "compare_litellm_strategies.py"
    arguments = ["--sets", "gsm8k,llmrouter", "--limit", str(LIMIT), "--verify", str(LIMIT), "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    done = subprocess.run(
        [_python_with_litellm(), "-c", NO_NETWORK, str(script), *arguments, "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout, out


def test_every_offline_litellm_strategy_is_measured_next_to_costmuxs(slice_results: tuple[dict, str, Path]) -> None:
    results, printed, _ = slice_results
    expected = {"cost_optimized", "heuristic", *(f"litellm {name}" for name in _LITELLM)}
    for name in ("gsm8k", "llmrouter"):
        result = results["sets"][name]["result"]
        assert result["data"]["prompts"] == LIMIT and set(result["strategies"]) == expected
        for strategy, run in result["strategies"].items():
            assert sum(run["default"]["calls"].values()) == LIMIT, strategy
            assert run["aiq"] is not None
    gsm8k = results["sets"]["gsm8k"]["result"]
    assert all(run["apgr"] is not None for run in gsm8k["strategies"].values())
    assert "| LiteLLM complexity_router |" in printed and "| costmux cost_optimized |" in printed
    assert "| per-prompt oracle |" in printed and "AIQ" in printed


def test_cost_based_routing_always_picks_the_cheapest_deployment(slice_results: tuple[dict, str, Path]) -> None:
    results, _, _ = slice_results
    for name in ("gsm8k", "llmrouter"):
        result = results["sets"][name]["result"]
        cheapest = result["baselines"]["always_cheapest"]
        point = result["strategies"]["litellm cost-based-routing"]["default"]
        assert point["calls"][cheapest] == LIMIT
        assert point["quality"] == pytest.approx(result["models"][cheapest]["quality"])
        assert point["cost_usd"] == pytest.approx(result["models"][cheapest]["cost_usd"])


def test_the_tier_sweep_spans_all_weak_to_all_strong_and_was_checked_against_litellm(
    slice_results: tuple[dict, str, Path],
) -> None:
    results, _, _ = slice_results
    result = results["sets"]["gsm8k"]["result"]
    strong = result["pair"]["strong"]
    for strategy in ("litellm complexity_router", "litellm quality_router", "litellm complexity_router heuristic_v2"):
        sweep = result["strategies"][strategy]["sweep"]
        shares = [point["strong_share"] for point in sweep]
        assert min(shares) == 0.0 and max(shares) == 1.0, strategy  # from always weak to always strong
        always_strong = next(point for point in sweep if point["strong_share"] == 1.0)
        assert always_strong["quality"] == pytest.approx(result["models"][strong]["quality"])
    quality_router = result["strategies"]["litellm quality_router"]["sweep"]
    assert len(quality_router) == 5  # every monotone complexity_to_quality over two models
    boundaries = result["strategies"]["litellm complexity_router"]["sweep"]
    assert all(point["setting"].startswith("simple_medium ") for point in boundaries)
    for name in ("gsm8k", "llmrouter"):
        notes = results["sets"][name]["notes"]
        for strategy in ("complexity_router", "complexity_router heuristic_v2", "quality_router"):
            verified = notes[f"litellm {strategy}"]["verified"]
            assert verified["prompts"] == LIMIT and verified["settings"] >= 1, (name, strategy)


def test_the_adaptive_router_learns_only_when_given_the_labels(slice_results: tuple[dict, str, Path]) -> None:
    results, _, _ = slice_results
    notes = results["sets"]["gsm8k"]["notes"]
    silent, fed = notes["litellm adaptive_router (no feedback)"], notes["litellm adaptive_router (labels as feedback)"]
    assert sorted(silent["quality_tiers"].values()) == [2, 3]  # as LiteLLM's example: a strong and a smaller model
    assert silent["feedback_updates"] == 0 and silent["learnt_at_default"] == {}  # it stays at its priors
    assert 0 < fed["feedback_updates"] <= LIMIT * 5  # one label per decision, 5 quality weights
    learnt = [mean for by_model in fed["learnt_at_default"].values() for mean in by_model.values()]
    assert learnt and all(0 < mean < 1 for mean in learnt)
    for variant in ("no feedback", "labels as feedback"):
        run = results["sets"]["gsm8k"]["result"]["strategies"][f"litellm adaptive_router ({variant})"]
        assert run["default"]["setting"] == "weights quality 0.7, cost 0.3" and len(run["sweep"]) == 5


_LITELLM = (
    "simple-shuffle",
    "cost-based-routing",
    "complexity_router",
    "complexity_router heuristic_v2",
    "quality_router",
    "adaptive_router (no feedback)",
    "adaptive_router (labels as feedback)",
)


def test_a_saved_run_renders_again_with_the_measuring_command(
    slice_results: tuple[dict, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    results, printed, saved = slice_results
    expected = f"python bench/compare_litellm_strategies.py --sets gsm8k,llmrouter --limit {LIMIT} --verify {LIMIT}"
    assert results["command"] == expected  # where the JSON went and --quiet are not part of it
    assert compare.main(["--from-json", str(saved)]) == 0
    assert capsys.readouterr().out == printed
