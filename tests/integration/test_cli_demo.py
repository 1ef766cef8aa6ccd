"""``costmux demo`` end to end: it starts a real proxy, tours the provider, and stops everything it started."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from app.sandbox import LiteLLMProxy


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_demo_starts_its_own_proxy_and_stops_it() -> None:
    done = run_demo()
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Proxy healthy: True" in out and re.search(r"gpt-4o\s+2\.5\s+10\s+128000", out)
    assert re.search(r"Total spent: \$0\.000\d+", out)
    for strategy in ("heuristic", "cost_optimized"):
        assert f"Routing with {strategy}, max_cost $0.01:" in out
    routed = re.findall(r"^  (\w+)\s+(\S+)\s+(\d+)\s+(\d\.\d{8})\s+(\d\.\d{8})$", out, re.MULTILINE)
    assert len(routed) == 12  # 6 prompts x 2 strategies, none refused
    assert all(float(actual) <= float(worst) <= 0.01 for *_, worst, actual in routed)
    assert "math_reasoning" in {task for task, *_ in routed}
    port = re.search(r"LiteLLM proxy ready at http://127\.0\.0\.1:(\d+)", out)
    assert port is not None
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert f"--port {port.group(1)}" not in ps  # no orphan proxy left behind


def test_demo_against_an_existing_proxy(litellm_proxy: LiteLLMProxy) -> None:
    done = run_demo("--proxy-url", litellm_proxy.base_url, "--api-key", litellm_proxy.master_key)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Starting a local LiteLLM proxy" not in done.stdout and "Total spent" in done.stdout


def test_demo_with_an_unreachable_proxy_fails_with_one_clear_line() -> None:
    done = run_demo("--proxy-url", "http://127.0.0.1:9", "--api-key", "k")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("costmux: ") and "Traceback" not in done.stderr
