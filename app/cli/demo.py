"""``costmux demo``: the main job, end to end.

It starts a real LiteLLM proxy (offline, on a free loopback port) in front of a loopback
OpenAI-compatible upstream, then shows the provider at work (health, models and prices from the proxy, a chat and
a stream per model with their actual cost) and the routers (varied prompts under a hard ``max_cost``, with each
strategy). ``--proxy-url`` / ``--api-key`` use an existing proxy instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.providers import LiteLLMProvider

__all__ = ["run_demo"]

DEMO_PROMPT = "In two sentences, why do routers pick cheaper models for simple questions?"
DEMO_MAX_COST_USD = 0.01
ROUTING_PROMPTS = (
    "What is the capital of Australia?",
    "Write a Python function that merges two sorted lists in O(n), with type hints and tests.",
    "Solve step by step: 3x^2 - 12x + 9 = 0.",
    "Translate into French: the meeting moved to Thursday at 10am.",
    "Analyze and compare the trade-offs of microservices versus a modular monolith for a 12-person startup. "
    "List the criteria first, evaluate each option step by step, and recommend one, stating your assumptions.",
    "Write a haiku about a router that saves money.",
)


@contextlib.contextmanager
def _local_proxy() -> Iterator[tuple[str, str]]:
    """Start the loopback upstream and a real LiteLLM proxy; stop both on exit (also on Ctrl-C or failure)."""
    from app.sandbox import FakeUpstream, LiteLLMProxy, default_test_models

    with FakeUpstream() as upstream:
        print("Starting a local LiteLLM proxy (offline, loopback only) ...", flush=True)
        with LiteLLMProxy(default_test_models(upstream.base_url)) as proxy:
            print(f"LiteLLM proxy ready at {proxy.base_url}\n", flush=True)
            yield proxy.base_url, proxy.master_key


async def _tour(base_url: str, api_key: str | None) -> None:
    from app.providers import LiteLLMProvider

    async with LiteLLMProvider(base_url, api_key) as provider:
        print(f"Proxy healthy: {await provider.health_check()}")
        models = await provider.get_available_models()
        await provider.sync_pricing()
        print(f"\n{'model':16s} {'$/1M in':>10s} {'$/1M out':>10s} {'context':>9s}")
        for model in models:
            info = provider.get_model_info(model)
            price = info["pricing"]
            prices = (price["input_usd_per_1m"], price["output_usd_per_1m"]) if price else ("?", "?")
            print(f"{model:16s} {prices[0]:>10s} {prices[1]:>10s} {info['context_window'] or '-':>9}")
        print(f"\nPrompt: {DEMO_PROMPT!r}\n")
        print(f"{'model':16s} {'tokens in/out':>13s} {'cost USD':>12s}  answer")
        total = 0.0
        for model in models:
            response = await provider.chat_completion([{"role": "user", "content": DEMO_PROMPT}], model, max_tokens=40)
            usage = response.usage
            tokens = f"{usage.prompt_tokens}/{usage.completion_tokens}" if usage else "?"
            cost = f"{response.cost_usd:.8f}" if response.cost_usd is not None else "unknown"
            total += response.cost_usd or 0.0
            print(f"{model:16s} {tokens:>13s} {cost:>12s}  {response.content[:40]!r}")
        stream = provider.stream_chat_completion([{"role": "user", "content": DEMO_PROMPT}], models[0], max_tokens=20)
        print(f"\nStreaming from {models[0]}: ", end="", flush=True)
        async for chunk in stream:
            print(chunk["choices"][0]["delta"].get("content") or "", end="", flush=True)
        stream_cost = stream.cost_usd or 0.0
        usage = stream.usage
        tokens = f"{usage.prompt_tokens} in / {usage.completion_tokens} out" if usage else "unknown"
        print(f"\n  tokens {tokens}, cost ${stream_cost:.8f}")
        print(f"\nTotal spent: ${total + stream_cost:.8f}")
        await _route_workload(provider)


async def _route_workload(provider: LiteLLMProvider) -> None:
    """Route a few varied prompts with each strategy under a hard cap; show what was chosen and why."""
    from app.errors import BudgetExceededError
    from app.router import CostOptimizedRouter, HeuristicRouter

    providers = {"litellm": provider}
    exclude = {"litellm/mock-gpt"}  # the proxy's mock ignores max_tokens: keep real budgets off it
    for router in (HeuristicRouter(), CostOptimizedRouter()):
        print(f"\nRouting with {router.strategy.name}, max_cost ${DEMO_MAX_COST_USD}:")
        print(f"  {'task':17s} {'model':15s} {'max_tokens':>10s} {'worst USD':>11s} {'actual USD':>11s}")
        spent = 0.0
        for prompt in ROUTING_PROMPTS:
            messages = [{"role": "user", "content": prompt}]
            try:
                result = await router.route_request(messages, providers, max_cost=DEMO_MAX_COST_USD, exclude=exclude)
            except BudgetExceededError as exc:
                print(f"  refused: cheapest option ${exc.cheapest_cost_usd:.6f} > cap")
                continue
            decision = result.decision
            spent += result.cost_usd
            worst = float(decision.worst_case_cost_usd or 0)
            print(
                f"  {decision.analysis.task_type:17s} {result.model:15s} {decision.max_tokens or '-':>10} "
                f"{worst:>11.8f} {result.cost_usd:>11.8f}"
            )
        print(f"  total ${spent:.8f}; every request within ${DEMO_MAX_COST_USD}")


def run_demo(args: argparse.Namespace) -> int:
    """``costmux demo [--proxy-url URL --api-key KEY]``."""
    if args.proxy_url:
        asyncio.run(_tour(args.proxy_url, args.api_key))
        return 0
    with _local_proxy() as (base_url, api_key):
        asyncio.run(_tour(base_url, api_key))
    return 0
