"""``costmux demo``: the main job, end to end, against a real LiteLLM proxy.

1. Start a loopback OpenAI-compatible upstream and a real LiteLLM proxy (offline, on a free loopback port) serving
   six well-known models at their public prices (``app/data/demo_models.json``, prices from the catalog).
2. Wait for readiness; sync prices, windows and rpm/tpm from ``/model/info``.
3. Route the bundled workload (``app/data/demo_workload.json``, 50 varied prompts) with each strategy under a hard
   ``max_cost``; then send the same prompts to the most expensive and to the cheapest model (the baselines).
4. Print a table per strategy, the cost summary and an excerpt of the Prometheus metrics; stop everything it
   started, also on Ctrl-C, SIGTERM or failure.

``--proxy-url`` / ``--api-key`` use an existing proxy instead (its priced models; unpriced ones are excluded); as it
may bill real money, only the routed requests (each under the cap) are sent there, and the baselines are priced from
the answers' actual token counts instead of being sent.
Exit code 1 when a request exceeded ``max_cost`` (a budget violation) or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from types import FrameType
from typing import TYPE_CHECKING, Any

from app.cli.demo_data import DemoPrompt, answer_lengths, demo_proxy_models, load_workload, upstream_latency_s
from app.cli.demo_report import metrics_excerpt, models_table, strategy_table, summary
from app.cli.demo_run import Baseline, StrategyRun, priced_comparison, route_workload, send_baseline
from app.cli.progress import Progress
from app.errors import ConfigurationError
from app.pricing import ModelPricing, decimal_str

if TYPE_CHECKING:
    from app.providers import LiteLLMProvider

__all__ = ["DEFAULT_MAX_COST_USD", "run_demo"]

DEFAULT_MAX_COST_USD = Decimal("0.01")
"""The demo's cap per request, USD. With the bundled models it lets the top models (claude-sonnet-4-5 at $3 / $15
per 1M tokens, gpt-4.1) write a full answer to a short prompt (600 tokens of code: about $0.009 on Sonnet), so the
strategies differ in what they choose, while a long prompt narrows the choice to cheaper models. The workload's
last three prompts paste documents of about 150,000 tokens: reading that much costs more than $0.01 even on the
cheapest model, gemini-2.5-flash-lite (about $0.015 at $0.10 per 1M), so costmux refuses them for budget, before
sending anything."""
STRATEGIES = ("cost_optimized", "heuristic")
CONCURRENCY = 8  # requests in flight at once


def _banner(text: str) -> None:
    print(f"\n== {text} ==", flush=True)


class _Terminate:
    """The SIGTERM / SIGHUP handler while the demo runs: like Ctrl-C under ``asyncio.run``, it cancels the running
    demo (:meth:`watch` names it), else raises KeyboardInterrupt, so the demo's cleanup runs either way (a SIGINT
    ignored by the parent, as for background jobs, is left ignored)."""

    def __init__(self) -> None:
        self.task: asyncio.Task[Any] | None = None

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        task = self.task
        if task is None or task.done():
            raise KeyboardInterrupt(signal.Signals(signum).name)
        task.cancel()
        task.get_loop().call_soon_threadsafe(lambda: None)  # wake the event loop up

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Cancel the current task on termination while inside this block."""
        self.task = asyncio.current_task()
        try:
            yield
        finally:
            self.task = None


_TERMINATE = _Terminate()


@contextlib.contextmanager
def _interrupt_on_termination() -> Iterator[None]:
    """Handle SIGTERM and SIGHUP with :data:`_TERMINATE` while the demo runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _TERMINATE) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(coro: Coroutine[Any, Any, int]) -> int:
    """``asyncio.run``; a demo cancelled by SIGTERM / SIGHUP raises KeyboardInterrupt, as on Ctrl-C."""
    try:
        return asyncio.run(coro)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM for a moment (while stopping what the demo started, so it is never left half-way)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _local_proxy() -> Iterator[tuple[str, str]]:
    """Start the loopback upstream and a real LiteLLM proxy; stop both on exit (also on Ctrl-C or failure)."""
    from app.sandbox import FakeUpstream, LiteLLMProxy

    upstream = FakeUpstream(latency_s=upstream_latency_s(), completion_tokens=answer_lengths(load_workload())).start()
    proxy = LiteLLMProxy(demo_proxy_models(upstream.base_url), master_key=f"sk-demo-{secrets.token_hex(16)}")
    try:
        print("Starting a local LiteLLM proxy (offline, loopback only) ...", flush=True)
        started = time.monotonic()
        proxy.start()
        print(
            f"LiteLLM proxy ready at {proxy.base_url} (pid {proxy.pid}) after {time.monotonic() - started:.1f} s; "
            f"its models are answered by a loopback upstream at {upstream.base_url}",
            flush=True,
        )
        yield proxy.base_url, proxy.master_key
    finally:
        pid = proxy.pid
        with _signals_ignored():
            proxy.stop()
            upstream.stop()
        if pid is not None:
            print(f"Stopped the LiteLLM proxy (pid {pid}) and the loopback upstream.", flush=True)


def _new_metrics() -> Any:
    """A ``CostmuxMetrics`` on a private registry (the process's global one is left alone)."""
    from prometheus_client import CollectorRegistry

    from app.metrics import CostmuxMetrics

    return CostmuxMetrics(registry=CollectorRegistry())


async def _priced_models(provider: LiteLLMProvider) -> tuple[list[str], list[str]]:
    """Sync the proxy's models and prices; ``(priced, unpriced)`` model names, printed as a table."""
    await provider.get_available_models()
    await provider.sync_pricing()
    names = provider.get_supported_models()
    priced = [n for n in names if (spec := provider.get_model_spec(n)) is not None and spec.pricing is not None]
    unpriced = [n for n in names if n not in priced]
    _banner(f"Models synced from {provider.base_url}/model/info (prices USD per 1M tokens)")
    print(models_table(provider.get_model_info(n) for n in names), flush=True)
    if unpriced:
        print(f"  excluded from routing (no price known): {', '.join(unpriced)}")
    if not priced:
        raise ConfigurationError("the proxy serves no priced model: nothing to route")
    return priced, unpriced


def _extremes(provider: LiteLLMProvider, models: list[str]) -> list[tuple[str, str]]:
    """``(model, role)`` of the most expensive and the cheapest model, by input + output price per token."""

    def price(model: str) -> tuple[Decimal, str]:
        spec = provider.get_model_spec(model)
        assert spec is not None and spec.pricing is not None
        return spec.pricing.input_usd_per_token + spec.pricing.output_usd_per_token, model

    ranked = sorted(models, key=price)
    return [(ranked[-1], "most expensive"), (ranked[0], "cheapest")] if len(ranked) > 1 else [(ranked[0], "only")]


async def _demo(base_url: str, api_key: str | None, max_cost_usd: Decimal, *, send_baselines: bool) -> int:
    with _TERMINATE.watch():
        return await _demo_steps(base_url, api_key, max_cost_usd, send_baselines)


SENT = (
    "Baselines: the same prompts sent through the proxy to one model each, with no max_cost and no max_tokens\n"
    "(nothing refused or cut); costs as the proxy reported them (real token counts × that model's price)."
)
PRICED = (
    "Baselines: priced, not sent (this proxy may bill real money): each answer's actual token counts × that\n"
    "model's price, exactly; its real answers would differ in length, so this is an estimate."
)


async def _demo_steps(base_url: str, api_key: str | None, max_cost_usd: Decimal, send_baselines: bool) -> int:
    from app.providers import LiteLLMProvider

    prompts = load_workload()
    metrics = _new_metrics()
    progress = Progress()
    async with LiteLLMProvider(base_url, api_key) as provider, LiteLLMProvider(base_url, api_key) as plain:
        priced, unpriced = await _priced_models(provider)
        metrics.instrument(provider)
        runs = await _route_both(provider, prompts, max_cost_usd, unpriced, metrics, progress)
        extremes = _extremes(provider, priced)
        baselines: list[Baseline] = []
        if send_baselines:  # plain: a provider without metrics, so they count the routed requests only
            answered = {row.index: row.prompt for run in runs for row in run.answered}
            for model, role in extremes:
                baselines.append(
                    await send_baseline(plain, model, role, answered, concurrency=CONCURRENCY, progress=progress)
                )
            comparisons = {run.strategy: [baseline.compare(run) for baseline in baselines] for run in runs}
        else:
            comparisons = {
                run.strategy: [
                    priced_comparison(run, model, role, _pricing(provider, model)) for model, role in extremes
                ]
                for run in runs
            }
    for run in runs:
        _banner(f"Strategy {run.strategy}")
        print(strategy_table(run), flush=True)
    _banner("Summary")
    print(SENT if send_baselines else PRICED)
    print(summary(runs, comparisons, len(prompts)), flush=True)
    print(_quality_note([run.strategy for run in runs]), flush=True)
    _banner("Prometheus metrics (excerpt; routed requests only, not the baselines)")
    print(metrics_excerpt(metrics.render()), flush=True)
    return _verdict(runs, baselines)


def _quality_note(strategies: list[str]) -> str:
    """Quality next to the savings: the demo's prompts have no labels, so the same strategies are measured on the
    vendored labelled sets (``costmux eval``; docs/routing-quality.md)."""
    from app.evaluation.evidence import quality_evidence

    lines = quality_evidence(strategies)
    if not lines:
        return "Quality: not measured here (no datasets/ beside the package); see docs/routing-quality.md."
    head = (
        "Quality: the demo's prompts have no labels; the same strategies at their defaults, measured offline by "
        "costmux eval on labelled public outcomes (no cap; docs/routing-quality.md), against always the strong model:"
    )
    return "\n".join([head, *lines])


async def _route_both(
    provider: LiteLLMProvider,
    prompts: list[DemoPrompt],
    max_cost_usd: Decimal,
    unpriced: list[str],
    metrics: Any,
    progress: Progress,
) -> list[StrategyRun]:
    """The workload routed with each strategy under ``max_cost_usd``, one strategy after the other."""
    from app.router import CostOptimizedRouter, HeuristicRouter

    _banner(f"Routing {len(prompts)} prompts with each strategy, max_cost ${decimal_str(max_cost_usd)} per request")
    print(
        "costmux gives each request the largest max_tokens the cap affords on the chosen model, so the worst case\n"
        "(prompt upper bound × input price + max_tokens × output price) never exceeds max_cost, and refuses a\n"
        "request, before sending it, when no model can take it within the cap.",
        flush=True,
    )
    runs = []
    for router in (CostOptimizedRouter(), HeuristicRouter()):
        metrics.instrument(router)
        run = await route_workload(
            router,
            {"litellm": provider},
            prompts,
            max_cost_usd=max_cost_usd,
            exclude=unpriced,
            concurrency=CONCURRENCY,
            progress=progress,
        )
        runs.append(run)
    return runs


def _pricing(provider: LiteLLMProvider, model: str) -> ModelPricing:
    spec = provider.get_model_spec(model)
    assert spec is not None and spec.pricing is not None  # only priced models are compared
    return spec.pricing


def _verdict(runs: list[StrategyRun], baselines: list[Baseline]) -> int:
    """0 when no request exceeded the cap and none failed; else 1, with one line on stderr."""
    violations = sum(len(run.violations) for run in runs)
    failed = sum(len(run.failed) for run in runs) + sum(len(b.errors) for b in baselines)
    if violations:
        print(f"costmux: {violations} requests cost more than max_cost (budget violations)", file=sys.stderr)
    if failed:
        print(f"costmux: {failed} demo requests failed (see the tables)", file=sys.stderr)
    return 1 if violations or failed else 0


def _max_cost(args: argparse.Namespace) -> Decimal:
    from app.router.budget import validate_max_cost

    given = getattr(args, "max_cost", None)
    cap = validate_max_cost(DEFAULT_MAX_COST_USD if given is None else given)
    assert cap is not None
    return cap


def run_demo(args: argparse.Namespace) -> int:
    """``costmux demo [--proxy-url URL --api-key KEY] [--max-cost USD] [--via client|plugin]``; returns the exit
    code."""
    max_cost_usd = _max_cost(args)
    if getattr(args, "via", "client") == "plugin":
        if args.proxy_url:
            raise ConfigurationError("--via plugin runs its own proxy with the callback: it cannot use --proxy-url")
        from app.cli.demo_plugin import run_plugin_demo

        return run_plugin_demo(max_cost_usd)
    started = time.monotonic()
    with _interrupt_on_termination():
        if args.proxy_url:
            from app.cli.commands import CliSettings

            settings = CliSettings.load()
            key = args.api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
            code = _run(_demo(args.proxy_url, key, max_cost_usd, send_baselines=False))
        else:
            with _local_proxy() as (base_url, api_key):
                code = _run(_demo(base_url, api_key, max_cost_usd, send_baselines=True))
    print(f"Demo finished in {time.monotonic() - started:.1f} s.", flush=True)
    return code
