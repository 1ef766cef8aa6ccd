"""The benchmarks run end to end at a tiny size and report what the docs need (no timing is asserted)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench import __main__ as runner
from bench import bench_memory, bench_provider


@pytest.fixture(scope="module")
def provider_results() -> dict:
    settings = bench_provider.ProviderBenchSettings(
        rounds=1, requests={1: 3, 16: 16, 64: 64}, warmup=4, mock_requests=3, profile_requests=2
    )
    return bench_provider.run(settings)


def test_the_provider_bench_measures_every_client_at_every_concurrency(provider_results: dict) -> None:
    figures = provider_results["figures"]
    assert set(figures) == set(bench_provider.CLIENTS)
    for client in bench_provider.CLIENTS:
        assert set(figures[client]) == {str(c) for c in bench_provider.CONCURRENCY}
        for by_concurrency in figures[client].values():
            assert by_concurrency["p50_us"] > 0 and by_concurrency["rps"] > 0 and len(by_concurrency["rounds"]) == 1
        assert provider_results["mock"][client]["cpu_us_per_request"] > 0
    assert set(provider_results["ratios"]) == {"costmux", "openai"}
    assert [type(goal["met"]) for goal in provider_results["goals"]] == [bool, bool]
    assert "litellm_provider.py" in provider_results["profile"]


def test_the_provider_section_carries_its_goals_for_the_summary(provider_results: dict) -> None:
    section = bench_provider.render(provider_results)
    assert section.startswith(runner.HEADINGS["provider"])
    goals = runner.goals_of(section)
    assert [goal for goal, _measured, _verdict in goals] == [g["goal"] for g in provider_results["goals"]]
    assert all(verdict in ("**met**", "**not met**") for _goal, _measured, verdict in goals)


def test_the_memory_bench_reads_rss_at_each_checkpoint() -> None:
    results = bench_memory.run(bench_memory.MemoryBenchSettings(checkpoints=(10, 20, 40), concurrency=2, warmup=20))
    points = results["checkpoints"]
    assert [p["requests"] for p in points] == [0, 10, 20, 40]
    assert all(p["rss_mb"] > 0 and p["objects"] > 0 for p in points)
    assert sum(results["outcomes"].values()) == 20 + 40
    assert runner.goals_of(bench_memory.render(results))


def test_the_document_summarises_every_section_and_describes_the_machine() -> None:
    sections = [
        runner.Section(
            "provider",
            "## Provider overhead\n\n| goal | measured | verdict |\n|---|---|---|\n| g | 1.02× | **met** |\n",
        ),
        runner.Section("gateway", runner.not_run("gateway", "`bench/bench_gateway.py` is not present")),
    ]
    text = runner.document(sections, "python -m bench", False, [0.5, 0.7], [12.0, 12.5])
    assert "| provider | g | 1.02× | **met** |" in text
    assert "| gateway | — | Not run: `bench/bench_gateway.py` is not present. | not run |" in text
    assert "- calibration, `sum(range(1000))` best of 5, at start / end: 12.0 µs / 12.5 µs" in text
    assert "## Provider overhead" in text and "## Machine" in text and "```bash" in text


def test_a_gateway_result_without_a_goals_list_still_gets_its_goal_row() -> None:
    results = {"goal_ratio": 0.2, "goal_met": False, "concurrency": {1: {"ratio": 0.23}, 16: {"ratio": 0.02}}}
    (goal,) = runner.gateway_goals(results)
    assert goal["met"] is False and "0.23 at concurrency 1" in goal["measured"]


def test_the_shared_state_bench_counts_admissions_per_minute_across_replicas(redis_server: Any) -> None:
    from bench import bench_shared

    settings = bench_shared.SharedBenchSettings(minutes=2)
    results = asyncio.run(bench_shared.rpm_part(redis_server, settings))
    assert results["per_minute"]["redis"][1] == bench_shared.RPM  # exact after the first minute
    assert results["per_minute"]["per_process"][1] == bench_shared.RPM * settings.replicas


def test_the_shared_state_bench_draws_reproducible_upstream_delays_within_half_the_mean() -> None:
    from bench import bench_shared

    case = bench_shared.OverheadCase("concurrency 64", 64, 1000.0, 500)
    delays = bench_shared.upstream_delays(case, 0, 500)
    assert delays == bench_shared.upstream_delays(case, 0, 500)  # seeded: every run and both paths see the same
    assert delays != bench_shared.upstream_delays(case, 1, 500)
    assert all(0.5 <= d <= 1.5 for d in delays) and max(delays) - min(delays) > 0.9


def test_the_shared_state_bench_judges_own_time_side_by_side_and_probes_round_trips(redis_server: Any) -> None:
    from bench import bench_shared

    cases = (bench_shared.OverheadCase("concurrency 64", 4, 20.0, 8), bench_shared.OverheadCase("CPU-bound", 4, 0, 8))
    settings = bench_shared.SharedBenchSettings(rounds=1, cases=cases, warmup=4, probes=5, parts=("overhead", "probe"))
    results = bench_shared.run(settings)
    for case in results["overhead"]["cases"].values():
        for path in case["paths"].values():
            assert 0 < path["own_p50_ms"] <= path["own_p99_ms"]
    probe = results["probe"]
    assert probe["ping_ms"] > 0 and probe["reserve_ms"] > 0 and probe["settle_ms"] > 0
    assert probe["reserve_server_us"] > 0 and probe["settle_server_us"] > 0
    section = bench_shared.render(results)
    assert section.startswith(runner.HEADINGS["shared"]) and runner.goals_of(section)


def test_the_eval_bench_measures_both_loops_on_both_sets() -> None:
    from bench import bench_eval

    results = bench_eval.run(quick=True)
    assert set(results["figures"]) == {f"{s}/{t}" for s in bench_eval.SETS for t in bench_eval.STRATEGIES}
    assert all(f["eval_per_s"] > 0 and f["decide_per_s"] > 0 for f in results["figures"].values())
    section = bench_eval.render(results)
    assert section.startswith(runner.HEADINGS["eval"]) and runner.goals_of(section)


def test_the_learning_bench_times_both_learners_side_by_side() -> None:
    from bench import bench_learning

    results = bench_learning.run(rounds=1, window=4, model_counts=(1, 2), count=20)
    assert set(results["figures"]) == {f"{m}/{loop}" for m in (1, 2) for loop in ("record", "record + views")}
    assert all(row["after"] > 0 for row in results["figures"].values())
    if results["before_measured"]:  # the learner before the incremental windows, read from git (not in a shallow clone)
        assert all(row["before"] > 0 and row["speedup"] > 0 for row in results["figures"].values())
    section = bench_learning.render(results)
    assert section.startswith(runner.HEADINGS["learning"]) and runner.goals_of(section)


def test_the_quality_bench_times_the_learned_paths_next_to_the_catalog() -> None:
    from bench import bench_quality

    results = bench_quality.run(rounds=1, iterations=8)
    assert set(results["figures"]) == set(bench_quality.CASES)
    assert all(row["p50_us"] > 0 for row in results["figures"].values())
    assert results["figures"]["catalog"]["added_us"] == 0
    section = bench_quality.render(results)
    assert section.startswith(runner.HEADINGS["quality"]) and runner.goals_of(section)
