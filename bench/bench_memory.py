"""Benchmark: resident memory over 100,000 routed requests (no growth beyond caches with a bound).

Run from the repository root::

    python bench/bench_memory.py [--quick] [--requests 100000]

One process routes requests through ``Router.route_request`` (``CostOptimizedRouter`` and ``HeuristicRouter`` in
turn, ``max_cost`` log-uniform between $0.0005 and $0.05) to a :class:`~app.providers.LiteLLMProvider` whose HTTP
client runs on ``httpx.MockTransport`` (no network): the handler answers every chat completion with usage derived
from the prompt, and 2% of them with a 500, so fallbacks, error objects and health records are exercised too. The
provider knows 20 models of the bundled catalog (``custom_models`` at catalog prices); its events and the router's
go to a :class:`~app.metrics.CostmuxMetrics` on a private registry, as in a deployment. Every prompt is different
(seeded random words, a request counter, sometimes code), so any cache keyed by prompt would show.

RSS is ``VmRSS`` from ``/proc/self/status`` after ``gc.collect()``, read after a warm-up of 1,000 requests and at
each checkpoint (10k, 50k, 100k by default), with the number of objects the garbage collector tracks and the sizes
of the caches that hold per-model state. The goal is met when memory flattens: from the first checkpoint to the last
RSS grows by at most 2 MB (about 20 bytes per request at 100k) and tracked objects by at most 1%.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import random
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.catalog import default_catalog  # noqa: E402
from app.errors import CostmuxError  # noqa: E402
from app.providers import LiteLLMProvider, RetryPolicy  # noqa: E402
from app.router import CostOptimizedRouter, HeuristicRouter, Router  # noqa: E402
from bench._report import goals_table  # noqa: E402

__all__ = ["MemoryBenchSettings", "render", "run", "settings_for"]

SECTION = "## Memory"
WARMUP = 1_000
FAULT_RATE = 0.02
GOAL_RSS_GROWTH_MB = 2.0
GOAL_OBJECT_GROWTH = 0.01
_WORDS = [
    "invoice",
    "budget",
    "latency",
    "token",
    "router",
    "price",
    "proxy",
    "cache",
    "stream",
    "limit",
    "review",
    "summary",
    "customer",
    "report",
    "refund",
    "currency",
    "migration",
    "schema",
    "index",
    "query",
    "deploy",
    "rollback",
    "incident",
    "metric",
    "alert",
    "quarterly",
    "forecast",
]


@dataclass(frozen=True)
class MemoryBenchSettings:
    checkpoints: tuple[int, ...] = (10_000, 50_000, 100_000)
    concurrency: int = 8
    seed: int = 1
    warmup: int = WARMUP


def settings_for(quick: bool, requests: int | None = None) -> MemoryBenchSettings:
    if requests is not None:
        return MemoryBenchSettings(tuple(sorted({max(1, requests // 10), max(1, requests // 2), requests})))
    return MemoryBenchSettings((2_000, 5_000, 10_000) if quick else (10_000, 50_000, 100_000))


def rss_mb() -> float:
    """This process's resident set size (``VmRSS``), MB."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _handler() -> Any:
    """The mock proxy: usage from the prompt's length, 2% of completions answered 500."""
    rng = random.Random(99)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        body = json.loads(request.content)
        if rng.random() < FAULT_RATE:
            return httpx.Response(500, json={"error": {"message": "upstream failed", "type": "server_error"}})
        prompt = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4 + 3
        completion = min(body.get("max_tokens") or 200, 20 + prompt // 8)
        return httpx.Response(
            200,
            json={
                "id": f"chatcmpl-{rng.getrandbits(48):x}",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            },
        )

    return handle


def _messages(rng: random.Random, index: int) -> list[dict[str, str]]:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(5, 150)))
    text = f"Request {index}: {words}."
    if rng.random() < 0.2:
        text += f"\n```python\ndef f_{index}(x):\n    return x * {rng.randint(2, 99)}\n```"
    messages = [{"role": "user", "content": text}]
    if rng.random() < 0.5:
        messages.insert(0, {"role": "system", "content": "You are a careful assistant."})
    return messages


@dataclass
class Checkpoint:
    requests: int
    rss_mb: float
    objects: int
    elapsed_s: float
    caches: dict[str, int] = field(default_factory=dict)


def _cache_sizes(provider: LiteLLMProvider, routers: list[Router]) -> dict[str, int]:
    """Sizes of the structures that keep per-model or per-provider state (private attributes, read-only)."""
    limiter_store = provider.guard.limiter._store
    return {
        "router profile caches": sum(len(router._profile_cache) for router in routers),
        "provider merged specs": len(provider._registry._merged),
        "rate-limit buckets": len(getattr(limiter_store, "_buckets", {})),
        "health records": len(getattr(provider.guard.health, "_models", {})),
    }


async def _run(settings: MemoryBenchSettings, progress: bool) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry

    from app.metrics import CostmuxMetrics

    names = [entry.name for entry in default_catalog()][:20]
    custom = {entry.name: {"pricing": entry.pricing} for entry in default_catalog() if entry.name in names}
    client = httpx.AsyncClient(transport=httpx.MockTransport(_handler()))

    async def no_sleep(_seconds: float) -> None:
        return None

    provider = LiteLLMProvider(
        "http://proxy.bench:4000",
        "sk-bench-memory",
        custom_models=custom,
        http_client=client,
        retry_policy=RetryPolicy(sleep=no_sleep),
        max_retries=0,
    )
    routers: list[Router] = [CostOptimizedRouter(), HeuristicRouter()]
    metrics = CostmuxMetrics(registry=CollectorRegistry())
    metrics.instrument(provider)
    for router in routers:
        metrics.instrument(router)
    providers = {"litellm": provider}
    rng = random.Random(settings.seed)
    outcomes: Counter[str] = Counter()
    done = 0

    async def batch(count: int) -> None:
        nonlocal done
        queue = iter(range(done, done + count))

        async def worker() -> None:
            for index in queue:
                messages = _messages(rng, index)
                cap = 10 ** rng.uniform(-3.3, -1.3)
                try:
                    result = await routers[index % 2].route_request(messages, providers, max_cost=cap)
                except CostmuxError as exc:
                    outcomes[type(exc).__name__] += 1
                else:
                    outcomes["fallback" if result.fallbacks else "success"] += 1

        await asyncio.gather(*(worker() for _ in range(settings.concurrency)))
        done += count

    def checkpoint(started: float) -> Checkpoint:
        gc.collect()
        return Checkpoint(
            done, rss_mb(), len(gc.get_objects()), time.perf_counter() - started, _cache_sizes(provider, routers)
        )

    try:
        baseline = Checkpoint(0, rss_mb(), len(gc.get_objects()), 0.0)
        started = time.perf_counter()
        await batch(settings.warmup)
        points = [checkpoint(started)]
        for target in settings.checkpoints:
            await batch(target - done + settings.warmup)
            points.append(checkpoint(started))
            points[-1].requests -= settings.warmup
            if progress:
                print(
                    f"  {points[-1].requests:,} requests, RSS {points[-1].rss_mb:.1f} MB", file=sys.stderr, flush=True
                )
    finally:
        await provider.aclose()
        await client.aclose()
    points[0].requests = 0
    return summarize(baseline, points, outcomes, settings)


def summarize(
    baseline: Checkpoint, points: list[Checkpoint], outcomes: Counter[str], settings: MemoryBenchSettings
) -> dict[str, Any]:
    first, last = points[1], points[-1]
    rss_growth = last.rss_mb - first.rss_mb
    object_growth = (last.objects - first.objects) / first.objects
    total = last.requests
    return {
        "settings": asdict(settings),
        "baseline_rss_mb": baseline.rss_mb,
        "baseline_objects": baseline.objects,
        "checkpoints": [asdict(p) for p in points],
        "outcomes": dict(outcomes.most_common()),
        "requests_per_s": total / (last.elapsed_s - points[0].elapsed_s) if last.elapsed_s > points[0].elapsed_s else 0,
        "goals": [
            {
                "goal": f"memory flattens: RSS growth from {first.requests:,} to {total:,} requests ≤ "
                f"{GOAL_RSS_GROWTH_MB:.0f} MB and tracked objects ≤ +{GOAL_OBJECT_GROWTH:.0%}",
                "measured": f"RSS {rss_growth:+.1f} MB, objects {object_growth:+.2%} "
                f"(warm-up → {total:,}: RSS {last.rss_mb - points[0].rss_mb:+.1f} MB)",
                "met": rss_growth <= GOAL_RSS_GROWTH_MB and object_growth <= GOAL_OBJECT_GROWTH,
            }
        ],
    }


def run(settings: MemoryBenchSettings | None = None, *, quick: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run the benchmark (see the module doc) and return checkpoints, outcomes and the goal as a dict."""
    costmux_logger = logging.getLogger("costmux")
    level = costmux_logger.level
    costmux_logger.setLevel(logging.CRITICAL)  # the injected 500s would log every fallback
    try:
        return asyncio.run(_run(settings or settings_for(quick), progress))
    finally:
        costmux_logger.setLevel(level)  # as it was: the host's (or a test session's) logging is not ours


def render(results: dict[str, Any], command: str = "python bench/bench_memory.py") -> str:
    """The markdown section of docs/benchmarks.md for ``results`` (from :func:`run`)."""
    points = results["checkpoints"]
    total = sum(results["outcomes"].values())
    out = [SECTION, ""]
    out.append(
        f"Resident memory of one process routing {points[-1]['requests']:,} requests through `Router.route_request` "
        "(cost_optimized and heuristic in turn, a different prompt every time, caps from $0.0005 to $0.05) to a "
        "`LiteLLMProvider` on `httpx.MockTransport` (no network; 2% of answers are 500s, so fallbacks and health "
        "records are exercised), with Prometheus metrics observing the provider and the routers. RSS is `VmRSS` "
        f"after `gc.collect()`; the first row is after a warm-up of {results['settings']['warmup']:,} requests "
        f"(the process started at {results['baseline_rss_mb']:.1f} MB with everything imported). Concurrency "
        f"{results['settings']['concurrency']}; about {results['requests_per_s']:,.0f} routed requests/s."
    )
    out.append("")
    cache_names = list(points[0]["caches"])
    out.append("| requests | RSS MB | growth MB | objects tracked by gc | " + " | ".join(cache_names) + " |")
    out.append("|---:|---:|---:|---:|" + "---:|" * len(cache_names))
    for point in points:
        caches = " | ".join(str(point["caches"][name]) for name in cache_names)
        out.append(
            f"| {point['requests']:,} | {point['rss_mb']:.1f} | {point['rss_mb'] - points[0]['rss_mb']:+.1f} | "
            f"{point['objects']:,} | {caches} |"
        )
    out.append("")
    outcomes = ", ".join(f"{name} {count:,}" for name, count in results["outcomes"].items())
    out.append(f"Outcomes of all {total:,} requests (warm-up included): {outcomes}.")
    out.append("")
    out += goals_table(results["goals"])
    out.append("")
    out.append(f"Reproduce: `{command}`.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 requests instead of 100,000")
    parser.add_argument("--requests", type=int, default=None, help="requests (checkpoints at 10%%, 50%%, 100%%)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(settings_for(args.quick, args.requests), progress=True)
    print(render(results, "python bench/bench_memory.py " + " ".join(sys.argv[1:] if argv is None else argv)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
