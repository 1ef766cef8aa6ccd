"""``costmux demo --via plugin``: the demo's workload routed by costmux *inside* the managed LiteLLM proxy.

The same loopback upstream, models and 50 prompts as ``costmux demo``, but the proxy loads costmux's callback
(:mod:`app.integrations.litellm_proxy`) and the demo is a plain HTTP client: it sends ``model: "auto:<strategy>"``
with ``max_cost`` and reads the decision from the ``x-costmux-*`` response headers (402 answers: refused for budget).
One hop, no costmux process in front of the proxy. The baselines are priced from the answers' token counts (not sent);
the metrics excerpt is read from the proxy's own ``/metrics``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx

from app.cli.demo_data import DemoPrompt, answer_lengths, demo_proxy_models, load_workload, upstream_latency_s
from app.cli.demo_report import metrics_excerpt, strategy_table, summary
from app.cli.demo_run import Row, StrategyRun, priced_comparison
from app.cli.progress import Progress
from app.pricing import ModelPricing, decimal_str, to_decimal_usd
from app.router import analyze

__all__ = ["run_plugin_demo"]

CONCURRENCY = 8
STRATEGIES = ("cost_optimized", "heuristic")
PRICED_NOTE = (
    "Baselines: priced, not sent: each answer's actual token counts x that model's price, exactly (the same\n"
    "prompts sent to one model would get answers of other lengths, so this is an estimate)."
)


@contextmanager
def _plugin_proxy() -> Iterator[tuple[str, str, list[Any]]]:
    """The demo's upstream and a real LiteLLM proxy with the costmux callback; stopped on exit."""
    from app.cli.demo import _signals_ignored
    from app.integrations.litellm_proxy import managed_proxy_options
    from app.sandbox import FakeUpstream, LiteLLMProxy

    upstream = FakeUpstream(latency_s=upstream_latency_s(), completion_tokens=answer_lengths(load_workload())).start()
    models = demo_proxy_models(upstream.base_url)
    proxy = LiteLLMProxy(models, master_key=f"sk-demo-{secrets.token_hex(16)}", **managed_proxy_options())
    try:
        print("Starting a local LiteLLM proxy with the costmux callback (offline, loopback only) ...", flush=True)
        started = time.monotonic()
        proxy.start()
        print(
            f"LiteLLM proxy ready at {proxy.base_url} (pid {proxy.pid}) after {time.monotonic() - started:.1f} s; "
            "its config loads app.integrations.litellm_proxy.costmux_callback",
            flush=True,
        )
        yield proxy.base_url, proxy.master_key, models
    finally:
        pid = proxy.pid
        with _signals_ignored():
            proxy.stop()
            upstream.stop()
        if pid is not None:
            print(f"Stopped the LiteLLM proxy (pid {pid}) and the loopback upstream.", flush=True)


def _usd(value: str | None) -> Decimal | None:
    return to_decimal_usd(value) if value else None


def _answered(row: Row, response: httpx.Response) -> None:
    headers, body = response.headers, response.json()
    row.model = headers.get("x-costmux-model")
    row.fallbacks = int(headers.get("x-costmux-fallbacks", "0"))
    row.max_tokens = int(headers["x-costmux-max-tokens"]) if "x-costmux-max-tokens" in headers else None
    row.reason = headers.get("x-costmux-reason", "")
    row.estimated_usd = _usd(headers.get("x-costmux-estimated-cost"))
    row.worst_case_usd = _usd(headers.get("x-costmux-worst-case-cost"))
    row.actual_usd = _usd(headers.get("x-costmux-cost")) or Decimal(0)
    row.cut = any(choice.get("finish_reason") == "length" for choice in body.get("choices", []))
    usage = body.get("usage") or {}
    row.prompt_tokens, row.completion_tokens = usage.get("prompt_tokens"), usage.get("completion_tokens")


def _refused(row: Row, response: httpx.Response) -> None:
    error = response.json().get("error", {})
    fields = error.get("provider_specific_fields") or {}
    row.refused = str(error.get("message"))
    row.refused_cheapest_usd = _usd(fields.get("cheapest_cost"))
    for why in (fields.get("rejected") or {}).values():
        reason = str(why).split(":", 1)[0]
        row.refused_reasons[reason] = row.refused_reasons.get(reason, 0) + 1


async def _route(
    client: httpx.AsyncClient, strategy: str, prompts: list[DemoPrompt], max_cost: Decimal, progress: Progress
) -> StrategyRun:
    """Every prompt sent as ``auto:<strategy>`` under ``max_cost``, ``CONCURRENCY`` at a time."""
    run = StrategyRun(strategy, max_cost, [Row(i, p) for i, p in enumerate(prompts, 1)])
    progress.start(f"routing in the proxy with {strategy}", len(prompts))
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(row: Row) -> None:
        body = {"model": f"auto:{strategy}", "messages": row.prompt.messages, "max_cost": decimal_str(max_cost)}
        row.task = str(analyze(row.prompt.messages).task_type)
        async with limit:
            try:
                response = await client.post("/v1/chat/completions", json=body)
            except httpx.HTTPError as exc:
                row.error = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    _answered(row, response)
                elif response.status_code == 402:
                    _refused(row, response)
                else:
                    row.error = f"HTTP {response.status_code}: {response.text[:200]}"
        progress.advance()

    await asyncio.gather(*(one(row) for row in run.rows))
    return run


def _extremes(models: list[Any]) -> list[tuple[str, str, ModelPricing]]:
    """The most expensive and the cheapest demo model (input + output price per token), with their prices."""

    def pricing(model: Any) -> ModelPricing:
        return ModelPricing(
            input_usd_per_token=to_decimal_usd(model.input_cost_per_token),
            output_usd_per_token=to_decimal_usd(model.output_cost_per_token),
        )

    ranked = sorted(models, key=lambda m: pricing(m).input_usd_per_token + pricing(m).output_usd_per_token)
    return [(ranked[-1].name, "most expensive", pricing(ranked[-1])), (ranked[0].name, "cheapest", pricing(ranked[0]))]


async def _demo(base_url: str, api_key: str, models: list[Any], max_cost: Decimal) -> int:
    from app.cli.demo import _TERMINATE, _banner, _verdict

    prompts = load_workload()
    progress = Progress()
    headers = {"Authorization": f"Bearer {api_key}"}
    with _TERMINATE.watch():
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120.0, trust_env=False) as client:
            _banner(
                f"Routing {len(prompts)} prompts inside the proxy with each strategy, max_cost "
                f"${decimal_str(max_cost)} per request"
            )
            runs = [await _route(client, strategy, prompts, max_cost, progress) for strategy in STRATEGIES]
            exposition = (await client.get("/metrics/", follow_redirects=True)).content
    extremes = _extremes(models)
    comparisons = {
        run.strategy: [priced_comparison(run, model, role, price) for model, role, price in extremes] for run in runs
    }
    for run in runs:
        _banner(f"Strategy {run.strategy} (in the proxy)")
        print(strategy_table(run), flush=True)
    _banner("Summary")
    print(PRICED_NOTE)
    print(summary(runs, comparisons, len(prompts)), flush=True)
    _banner("Prometheus metrics from the proxy's /metrics (excerpt)")
    print(metrics_excerpt(exposition), flush=True)
    return int(_verdict(runs, []))


def run_plugin_demo(max_cost: Decimal) -> int:
    """Run the demo through the plugin; returns the exit code (1: a request cost more than ``max_cost`` or
    failed)."""
    from app.cli.demo import _interrupt_on_termination, _run

    started = time.monotonic()
    with _interrupt_on_termination(), _plugin_proxy() as (base_url, api_key, models):
        code = _run(_demo(base_url, api_key, models, max_cost))
    print(f"Demo finished in {time.monotonic() - started:.1f} s.", flush=True)
    return code
