"""``costmux demo --via plugin``: the workload sent as ``auto:<strategy>`` to a proxy with the costmux callback, the
decision read back from the response headers (here: a few demo prompts against the session's plugin proxy)."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import httpx

from app.cli.demo_data import load_workload
from app.cli.demo_plugin import _route
from app.cli.progress import Progress
from app.sandbox import LiteLLMProxy


async def test_the_demo_reads_choices_and_refusals_from_the_proxys_answers(plugin_proxy: LiteLLMProxy) -> None:
    workload = load_workload()
    prompts = [workload[0], workload[10], workload[-1]]  # a question, code, a pasted ~150,000-token document
    headers = {"Authorization": f"Bearer {plugin_proxy.master_key}"}
    async with httpx.AsyncClient(base_url=plugin_proxy.base_url, headers=headers, timeout=60.0) as client:
        run = await _route(client, "cost_optimized", prompts, Decimal("0.01"), Progress())
    question, code, document = run.rows
    for row in (question, code):
        assert row.model in {"gpt-4o", "gpt-4o-mini", "claude-3-haiku"} and row.error is None
        assert row.reason and row.max_tokens and row.estimated_usd is not None
        assert Decimal(0) < row.actual_usd <= Decimal("0.01") and row.completion_tokens
    assert document.refused is not None and document.model is None
    assert document.refused_cheapest_usd is not None and document.refused_cheapest_usd > Decimal("0.01")
    assert sum(document.refused_reasons.values()) >= 3  # every model ruled out, with its reason
    assert not run.violations


def test_via_plugin_runs_its_own_proxy() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--via", "plugin", "--proxy-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "--via plugin runs its own proxy" in done.stderr
