"""``costmux route`` and ``costmux models``: a router's decision table and the models a proxy serves."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic_settings import SettingsConfigDict

from app.pricing import decimal_str
from app.settings import ProviderSettings

if TYPE_CHECKING:
    from app.providers import LiteLLMProvider, Provider
    from app.router import CandidateVerdict, Router, RoutingDecision

__all__ = ["CliSettings", "decision_table", "run_models", "run_route"]


class CliSettings(ProviderSettings):
    """The provider settings, also read from a ``.env`` file in the working directory (the CLI only: the library
    reads the process environment). Flags win over both."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)


def _provider(args: argparse.Namespace, **options: Any) -> LiteLLMProvider:
    """A provider for ``--proxy-url`` / ``--api-key`` (else the settings); ``options`` go to ``LiteLLMProvider``."""
    from app.providers import LiteLLMProvider

    settings = CliSettings.load()
    key = args.api_key or (settings.api_key.get_secret_value() if settings.api_key else None)
    return LiteLLMProvider(args.proxy_url or settings.base_url, key, **options)


def _usd(value: Any) -> str:
    return "-" if value is None else f"${decimal_str(value)}"


def decision_table(decision: RoutingDecision, providers: Mapping[str, Provider]) -> str:
    """The decision as text: the choice and its reason, then one row per candidate (the ranked ones first, in
    order) with its prices (USD per 1M tokens), expected and worst-case cost, ``max_tokens`` and verdict."""
    lines = [
        f"chosen: {decision.provider}/{decision.model} ({decision.strategy}, {decision.budget_mode} mode, "
        f"max_tokens={decision.max_tokens})",
        f"why: {decision.reason}",
        f"task: {decision.analysis.task_type}, complexity {decision.analysis.complexity:.2f}, "
        f"prompt ~{decision.analysis.estimated_tokens} tokens",
        "",
        f"{'model':28s} {'$/1M in':>9s} {'$/1M out':>9s} {'est. cost':>12s} {'worst case':>12s} "
        f"{'max_tokens':>10s}  verdict",
    ]
    order = {id(verdict): index for index, verdict in enumerate(decision.ranked)}
    for verdict in sorted(decision.candidates, key=lambda v: (order.get(id(v), len(order)), v.key)):
        spec = providers[verdict.provider].get_model_spec(verdict.model)
        prices = spec.pricing.per_1m() if spec is not None and spec.pricing is not None else None
        price_in, price_out = (decimal_str(prices[0]), decimal_str(prices[1])) if prices else ("-", "-")
        status = _status(verdict, decision)
        lines.append(
            f"{verdict.key:28s} {price_in:>9s} {price_out:>9s} {_usd(verdict.estimated_cost_usd):>12s} "
            f"{_usd(verdict.worst_case_cost_usd):>12s} {verdict.max_tokens or '-':>10}  {status}: {verdict.detail}"
        )
    return "\n".join(lines)


def _status(verdict: CandidateVerdict, decision: RoutingDecision) -> str:
    if verdict is decision.chosen:
        return "CHOSEN"
    return "kept" if verdict.kept else f"rejected ({verdict.reason})"


def _router(args: argparse.Namespace) -> Router:
    from app.router import CostOptimizedRouter, HeuristicRouter

    router_class = HeuristicRouter if args.strategy == "heuristic" else CostOptimizedRouter
    return router_class(budget_mode=args.budget_mode)


async def _route(args: argparse.Namespace) -> int:
    async with _provider(args) as provider:
        await provider.ensure_model_info()
        await provider.get_available_models()
        providers: dict[str, Provider] = {"litellm": provider}
        messages = [{"role": "user", "content": args.prompt}]
        router = _router(args)
        if args.dry_run:
            decision = router.decide(messages, providers, max_cost=args.max_cost, max_tokens=args.max_tokens)
            print(decision_table(decision, providers))
            return 0
        result = await router.route_request(messages, providers, max_cost=args.max_cost, max_tokens=args.max_tokens)
        print(decision_table(result.decision, providers))
        print(
            f"\nanswered by {result.provider}/{result.model} after {result.fallbacks} fallback(s), "
            f"actual cost ${result.cost_usd:.8f}"
        )
        print(result.content)
        return 0


def run_route(args: argparse.Namespace) -> int:
    """``costmux route "prompt" --max-cost USD [--strategy ...] [--dry-run]``."""
    return asyncio.run(_route(args))


async def _models(args: argparse.Namespace) -> int:
    async with _provider(args) as provider:
        await provider.sync_pricing()
        names = (await provider.get_available_models()).ids
        print(
            f"{'model':24s} {'$/1M in':>9s} {'$/1M out':>9s} {'context':>9s} {'max out':>8s} {'rpm':>7s} "
            f"{'tpm':>9s}  {'health':8s} {'token family':14s} {'prompt bound':21s} resolved as"
        )
        for name in names:
            info = provider.get_model_info(name)
            price = info["pricing"] or {}
            limits = info["rate_limits"]
            print(
                f"{name:24s} {price.get('input_usd_per_1m', '-'):>9s} {price.get('output_usd_per_1m', '-'):>9s} "
                f"{info['context_window'] or '-':>9} {info['max_output_tokens'] or '-':>8} "
                f"{limits['requests_per_minute'] or '-':>7} {limits['tokens_per_minute'] or '-':>9}  "
                f"{info['health']['state']:8s} {info['token_family']['family']:14s} {_prompt_bound(info):21s} "
                f"{resolution(info)}"
            )
        return 0


def resolution(info: Mapping[str, Any]) -> str:
    """What the catalog made of a model (from ``get_model_info``): its entry, or the prior it was given."""
    meta = info.get("metadata") or {}
    entry = meta.get("catalog_entry")
    if entry:
        host_price = meta.get("catalog_price", "list price") != "list price"
        return f"{entry}" + (" (catalog quality; the proxy's price)" if host_price else "")
    prior = meta.get("quality_prior")
    if prior:
        reference = str(prior).removeprefix("assumed from ").split(",", 1)[0]
        return f"unknown: quality assumed from {reference}"
    return "unknown: no quality data"


def _prompt_bound(info: Mapping[str, Any]) -> str:
    """What the provider learned of a model's prompt bills, in a few words: ``prior`` when nothing yet."""
    learned = info.get("prompt_bounds") or {}
    seen = learned.get("observations", 0)
    if not seen:
        return "prior (no calls yet)"
    groups = learned.get("groups", {})
    factors = ", ".join(f"{g} x{v['factor']:.2f}" for g, v in groups.items() if v.get("factor") is not None)
    return f"learned from {seen} calls ({factors})"


def run_models(args: argparse.Namespace) -> int:
    """``costmux models``: prices, windows, limits, health of every model the proxy serves, and the catalog entry each
    name resolved to (or the prior an unknown model was given)."""
    return asyncio.run(_models(args))
