"""The peer side of ``bench/bench_routing.py``: time LiteLLM's own cost-based routing choosing a deployment.

Runs under the LiteLLM proxy virtualenv's python (litellm is not installed in costmux's environment); started by
``bench_routing.py`` as a subprocess, it reads one JSON request on stdin and writes one JSON answer on stdout::

    {"group": "costmux-bench", "deployments": [...], "prompts": {"2 KB": [messages...], ...},
     "repeats": 3, "target_s": 0.8, "min_iterations": 30, "max_iterations": 20000, "warmup_s": 0.1}

What is timed, per call, with ``time.perf_counter_ns`` (garbage collection disabled during the loops):

- ``router``: ``await Router.async_get_available_deployment(model=group, request_kwargs={}, messages=...)``, the
  step ``Router.acompletion`` runs before sending: pre-routing hooks, healthy-deployment / cooldown filtering and the
  ``cost-based-routing`` strategy (``LowestCostLoggingHandler``, which counts the prompt's tokens and sorts the
  deployments by input + output price);
- ``strategy``: only ``LowestCostLoggingHandler.async_get_available_deployments`` over the group's deployments.

No network: every deployment carries ``mock_response`` and is never called; the cost map is the local copy
(``LITELLM_LOCAL_MODEL_COST_MAP=True``). The statistics helpers below are also used by ``bench_routing.py``, so this
module must import nothing from costmux and litellm only inside :func:`main`.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["iterations_for", "percentile", "summarize"]


def percentile(samples: list[int], q: float) -> float:
    """Nearest-rank percentile ``q`` (0-100) of ``samples``."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[rank - 1])


def iterations_for(per_call_s: float, target_s: float, lo: int, hi: int) -> int:
    """How many calls fill ``target_s`` seconds, within ``[lo, hi]``."""
    if per_call_s <= 0:
        return hi
    return max(lo, min(hi, int(target_s / per_call_s)))


def summarize(repeats: list[list[int]]) -> dict[str, Any]:
    """Median over repeats of each repeat's p50 and p99, in microseconds, plus the per-repeat figures."""
    p50s = [percentile(samples, 50) / 1000 for samples in repeats]
    p99s = [percentile(samples, 99) / 1000 for samples in repeats]
    return {
        "p50_us": statistics.median(p50s),
        "p99_us": statistics.median(p99s),
        "p50_us_repeats": p50s,
        "p99_us_repeats": p99s,
        "iterations": len(repeats[0]) if repeats else 0,
        "repeats": len(repeats),
    }


async def _sample(call: Callable[[], Awaitable[Any]], iterations: int) -> list[int]:
    samples = [0] * iterations
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for index in range(iterations):
            start = clock()
            await call()
            samples[index] = clock() - start
            # The router schedules a service-logging task per call; let it run outside the timed region.
            await asyncio.sleep(0)
    finally:
        gc.enable()
    return samples


async def _calibrate(call: Callable[[], Awaitable[Any]], warmup_s: float) -> tuple[float, Any]:
    """Warm up for at least ``warmup_s`` and 10 calls; the mean seconds per call and the last result."""
    calls = 0
    result: Any = None
    start = time.perf_counter()
    while calls < 10 or time.perf_counter() - start < warmup_s:
        result = await call()
        await asyncio.sleep(0)
        calls += 1
    return (time.perf_counter() - start) / calls, result


async def _run(request: dict[str, Any]) -> dict[str, Any]:
    from litellm import Router

    group = str(request["group"])
    deployments = request["deployments"]
    prompts: dict[str, list[dict[str, Any]]] = request["prompts"]
    repeats = int(request["repeats"])
    router = Router(model_list=deployments, routing_strategy="cost-based-routing")
    selector = router.lowestcost_logger
    if selector is None:
        raise RuntimeError("litellm.Router did not build a LowestCostLoggingHandler for cost-based-routing")
    healthy = [deployment for deployment in router.model_list if deployment["model_name"] == group]
    if len(healthy) != len(deployments):
        raise RuntimeError(f"expected {len(deployments)} deployments in group {group!r}, router has {len(healthy)}")

    def router_call(messages: list[dict[str, Any]]) -> Callable[[], Awaitable[Any]]:
        return lambda: router.async_get_available_deployment(model=group, request_kwargs={}, messages=messages)

    def strategy_call(messages: list[dict[str, Any]]) -> Callable[[], Awaitable[Any]]:
        return lambda: selector.async_get_available_deployments(
            model_group=group, healthy_deployments=healthy, messages=messages
        )

    cases: dict[tuple[str, str], Callable[[], Awaitable[Any]]] = {}
    for label, messages in prompts.items():
        cases[("router", label)] = router_call(messages)
        cases[("strategy", label)] = strategy_call(messages)

    iterations: dict[tuple[str, str], int] = {}
    chosen: dict[str, dict[str, str]] = {"router": {}, "strategy": {}}
    for key, call in cases.items():
        per_call, picked = await _calibrate(call, float(request["warmup_s"]))
        iterations[key] = iterations_for(
            per_call, float(request["target_s"]), int(request["min_iterations"]), int(request["max_iterations"])
        )
        chosen[key[0]][key[1]] = str(picked["model_info"]["id"]) if picked else "(none)"

    samples: dict[tuple[str, str], list[list[int]]] = {key: [] for key in cases}
    for _ in range(repeats):  # sizes interleaved within each repeat, so drift spreads over all of them
        for key, call in cases.items():
            samples[key].append(await _sample(call, iterations[key]))
            gc.collect()

    results: dict[str, dict[str, Any]] = {"router": {}, "strategy": {}}
    for (kind, label), runs in samples.items():
        results[kind][label] = summarize(runs)
    return {"results": results, "chosen": chosen}


def main() -> int:
    # Keep stdout for the JSON answer only: anything litellm prints goes to stderr.
    answer = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("LITELLM_MODE", "PRODUCTION")
    request = json.load(sys.stdin)
    started = time.perf_counter()
    import litellm  # noqa: F401  (timed: the import is most of this process's start-up)

    import_s = time.perf_counter() - started
    from importlib.metadata import version

    out = asyncio.run(_run(request))
    out.update(
        {
            "litellm_version": version("litellm"),
            "python": sys.version.split()[0],
            "import_s": round(import_s, 3),
        }
    )
    json.dump(out, answer)
    answer.write("\n")
    answer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
