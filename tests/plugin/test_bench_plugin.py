"""The plugin benchmark's in-process floor, its paired statistics and its section (the proxies' run itself:
`python bench/bench_plugin.py`; no timing is asserted here)."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from bench import __main__ as runner
from bench import bench_plugin
from bench._paired import bootstrap_interval, paired_summary, verdict


def test_the_floor_times_a_whole_auto_request_of_the_callback_hook_by_hook() -> None:
    floor = bench_plugin.floor_us(5)
    assert set(floor["hooks_us"]) == set(bench_plugin.HOOKS)
    assert floor["auto_request_us"] == pytest.approx(sum(floor["hooks_us"].values()))
    assert all(us > 0 for us in floor["hooks_us"].values())


def test_paired_differences_give_their_median_and_an_interval_around_it() -> None:
    a = [10.0 + i % 7 for i in range(200)]
    b = [x - 0.5 for x in a]  # every pair differs by 0.5, whatever the drift
    summary = paired_summary(a, b)
    assert summary["median"] == summary["low"] == summary["high"] == 0.5 and summary["pairs"] == 200
    low, high = bootstrap_interval([float(i) for i in range(101)])
    assert low < 50.0 < high and high - low < 40
    with pytest.raises(ValueError):
        paired_summary([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("low", "high", "expected"), [(0.1, 0.25, "met"), (0.31, 0.9, "not met"), (0.2, 0.4, "n/a"), (-1.0, 0.3, "met")]
)
def test_a_verdict_only_when_the_interval_is_on_one_side_of_the_goal(low: float, high: float, expected: str) -> None:
    assert verdict(low, high, 0.3) == expected


def _results(auto_minus_proxy: dict[str, dict[str, float]], verdicts: dict[str, str], goal: str) -> dict[str, Any]:
    def figures(concurrency: str) -> dict[str, Any]:
        same = {"median": 0.1, "low": 0.0, "high": 0.2, "pairs": 10.0}
        return {
            "paths": {name: 10.0 for name in bench_plugin.PATHS},
            "differences": {
                label: auto_minus_proxy[concurrency] if label == "auto − proxy" else same
                for label, _, _ in bench_plugin.DIFFERENCES
            },
        }

    concurrency = {c: figures(c) for c in ("1", "16")}
    concurrency["16"]["cpu"] = figures("16")
    return {
        "settings": {"pairs": 10, "blocks": 2, "block_requests": 5, "warmup": 1, "floor_repeats": 1},
        "cpus": 2,
        "seconds": 1.0,
        "load_average": [0.5, 0.6],
        "max_cost": 0.01,
        "model": "gpt-4o-mini",
        "max_tokens": 64,
        "concurrency": concurrency,
        "floor": {"auto_request_us": 150.0, "hooks_us": {hook: 30.0 for hook in bench_plugin.HOOKS}},
        "goal_added_ms": 0.3,
        "verdicts": verdicts,
        "goal": goal,
    }


def test_the_section_carries_its_goal_for_the_summary() -> None:
    over = {"median": 0.5, "low": 0.4, "high": 0.6, "pairs": 10.0}
    under = {"median": 0.1, "low": 0.05, "high": 0.2, "pairs": 10.0}
    section = bench_plugin.render(_results({"1": under, "16": over}, {"1": "met", "16": "not met"}, "not met"))
    assert section.startswith(runner.HEADINGS["plugin"])
    [(goal, measured, verdict_shown)] = runner.goals_of(section)
    assert "0.3 ms" in goal and "0.500 [0.400, 0.600] ms at concurrency 16 (not met)" in measured
    assert verdict_shown == "**not met**"
    wide = {"median": 0.2, "low": -1.0, "high": 1.5, "pairs": 10.0}
    unresolved = bench_plugin.render(_results({"1": wide, "16": wide}, {"1": "n/a", "16": "n/a"}, "n/a"))
    [(_, measured, verdict_shown)] = runner.goals_of(unresolved)
    assert verdict_shown == "n/a" and "(n/a)" in measured


def test_the_noop_callback_has_costmuxs_hooks_and_leaves_every_request_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # importing LiteLLM must not reach the network
    noop_module = importlib.import_module("bench._noop_callback")
    from app.integrations._litellm_callback import CostmuxCallback

    assert "async_pre_call_hook" in noop_module.HOOKS and "async_log_success_event" in noop_module.HOOKS
    assert {name for name in vars(noop_module.NoopCallback) if name.startswith("async_")} == set(noop_module.HOOKS)
    assert all(name in vars(CostmuxCallback) for name in noop_module.HOOKS)
    noop = noop_module.noop_callback
    data = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert asyncio.run(noop.async_pre_call_hook(None, None, data, "acompletion")) is data
    assert data == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert asyncio.run(noop.async_pre_call_deployment_hook(dict(data), "acompletion")) is None
