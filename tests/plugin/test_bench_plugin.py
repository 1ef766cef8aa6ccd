"""The plugin benchmark's in-process floor and its section (the proxies' run itself: `python bench/bench_plugin.py`;
no timing is asserted here)."""

from __future__ import annotations

from bench import __main__ as runner
from bench import bench_plugin


def test_the_floor_times_a_whole_auto_request_of_the_callback() -> None:
    floor = bench_plugin.floor_us(5)
    assert floor["auto_request_us"] > 0


def test_the_section_carries_its_goal_for_the_summary() -> None:
    paths = {
        name: {"p50_ms": 10.0, "p99_ms": 20.0, "rps": 90.0, "cpu_ms_per_request": 11.0} for name in bench_plugin.PATHS
    }
    figures = {
        "paths": paths,
        "added_ms": 0.2,
        "added_same_process_ms": 0.1,
        "named_added_ms": 0.05,
        "cpu_added_ms": 0.3,
    }
    results = {
        "settings": {"rounds": 1, "requests": {"1": 10, "16": 20}},
        "cpus": 2,
        "seconds": 1.0,
        "max_cost": 0.01,
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "concurrency": {"1": figures, "16": {**figures, "added_ms": 0.5}},
        "floor": {"auto_request_us": 150.0},
        "goal_added_ms": 0.3,
        "noise_ms": 0.05,
        "goal_met": False,
    }
    section = bench_plugin.render(results)
    assert section.startswith(runner.HEADINGS["plugin"])
    [(goal, measured, verdict)] = runner.goals_of(section)
    assert "0.3 ms" in goal and "0.500 ms at concurrency 16" in measured and verdict == "**not met**"
    noisy = bench_plugin.render({**results, "noise_ms": 40.0, "goal_met": None})
    [(_, measured, verdict)] = runner.goals_of(noisy)
    assert verdict == "n/a" and "not resolvable in this run" in measured
