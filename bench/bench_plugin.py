"""Benchmark: what the costmux callback adds to the LiteLLM proxy's own latency per ``auto`` request.

Measured in one run, from the repository root::

    python bench/bench_plugin.py [--quick] [--pairs N] [--blocks N] [--json FILE]

Three LiteLLM proxies (``app.sandbox.LiteLLMProxy``, the same config, models and loopback upstream process; LiteLLM's
Prometheus integration off in all) differ only by the callback in their ``litellm_settings``: none, a callback that
does nothing with the same hooks (``bench._noop_callback``), and costmux's:

- ``proxy``: the proxy without a callback, asked for the model costmux chooses, by name;
- ``noop``: the proxy with the do-nothing callback, the same named request: what LiteLLM's own work to call those
  hooks costs per request, the floor of any callback that uses them;
- ``plugin/named``: the proxy with the callback, the same named request (passes through the callback untouched);
- ``plugin/auto``: the proxy with the callback, ``model: "auto"`` with ``max_cost`` $0.01 (the pre-call decision,
  the per-attempt plan, the headers, the metrics).

Every path sends the same messages and ``max_tokens`` to the same upstream model. The machine is shared and its load
drifts, so the paths are measured **interleaved, in pairs close in time**, and judged on paired differences:

- concurrency 1: each step sends one request of each path, one after the other, in a seeded random order; the
  step's three latencies are a paired triple;
- concurrency 16: each block runs ``block_requests`` requests of each path closed-loop at concurrency 16, one path
  after the other in a rotating order; the block's three p50s are a paired triple.

What the callback adds is the median over pairs of ``plugin/auto − proxy``, with a 95% percentile-bootstrap interval
(:mod:`bench._paired`); the goal (at most 0.3 ms) is met when the whole interval is at or below it, not met when it is
wholly above, else n/a. ``noop − proxy`` (the floor), ``plugin/auto − noop`` (what costmux's work adds over it),
``plugin/auto − plugin/named`` (the same process) and ``plugin/named − proxy`` (the callback idle) are given the same
way, and so is each path's
proxy CPU time per request at concurrency 16. As a floor, the callback's own work is timed in this process
(``ProxyRouting.read`` + ``route`` + ``plan_attempt`` + ``headers`` + ``attempt_answered`` over the same six
deployments, no proxy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import timeit
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.sandbox import LiteLLMProxy, default_test_models  # noqa: E402
from bench._paired import paired_summary, verdict  # noqa: E402
from bench.bench_gateway import Target, segment, timed_post  # noqa: E402
from bench.bench_provider import MESSAGES, upstream_process  # noqa: E402

__all__ = ["CONCURRENCY", "GOAL_ADDED_MS", "PATHS", "PluginBenchSettings", "render", "run", "settings_for"]

HEADING = "## LiteLLM plugin overhead"
PATHS = ("proxy", "noop", "plugin/named", "plugin/auto")
#: the paired differences reported: (name, minuend, subtrahend)
DIFFERENCES = (
    ("auto − proxy", "plugin/auto", "proxy"),
    ("noop − proxy", "noop", "proxy"),
    ("auto − noop", "plugin/auto", "noop"),
    ("auto − named, same proxy", "plugin/auto", "plugin/named"),
    ("named − proxy", "plugin/named", "proxy"),
)
CONCURRENCY = (1, 16)
MAX_TOKENS = 64
MAX_COST = 0.01
GOAL_ADDED_MS = 0.3
SEED = 18
#: mock-gpt is answered by the proxy itself (no upstream); LiteLLM prices llama-3-8b with a tokenizer it tries to load
#: (slow offline): both excluded, so the choice is an upstream model LiteLLM prices from its usage
PLUGIN_SETTINGS = {"auto_exclude": ["mock-gpt", "llama-3-8b"]}


@dataclass(frozen=True)
class PluginBenchSettings:
    """Sizes of a run: ``pairs`` interleaved steps at concurrency 1; ``blocks`` blocks of ``block_requests`` requests
    per path at concurrency 16; ``warmup`` requests per path first."""

    pairs: int
    blocks: int
    block_requests: int
    warmup: int
    floor_repeats: int
    hook_requests: int


def settings_for(quick: bool, pairs: int | None = None, blocks: int | None = None) -> PluginBenchSettings:
    if quick:
        return PluginBenchSettings(pairs or 60, blocks or 4, 48, 20, 200, 100)
    return PluginBenchSettings(pairs or 1_500, blocks or 24, 160, 100, 2_000, 1_000)


async def _post(target: Target) -> float:
    """One request of ``target``; its latency, ms (every answer must be a 200 with content)."""
    return await timed_post(target) / 1e6


async def interleaved_steps(targets: dict[str, Target], steps: int, rng: random.Random) -> dict[str, list[float]]:
    """Concurrency 1: ``steps`` steps, each one request of every path in a random order; latencies by path, ms (the
    i-th of each list from the same step)."""
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for _ in range(steps):
        rng.shuffle(names)
        for name in names:
            latencies[name].append(await _post(targets[name]))
    return latencies


async def _block(target: Target, concurrency: int, requests: int) -> tuple[float, float]:
    """``requests`` requests closed-loop at ``concurrency`` (the gateway benchmark's segment): (p50 latency ms,
    proxy CPU ms per request)."""
    measured = await segment(target, concurrency, requests)
    return measured.p50_ms, measured.cpu_ms_per_request


async def interleaved_blocks(
    targets: dict[str, Target], blocks: int, requests: int, concurrency: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``blocks`` blocks, each ``requests`` requests of every path at ``concurrency``, the order rotating; per path
    each block's p50 (ms) and proxy CPU per request (ms)."""
    p50s: dict[str, list[float]] = {name: [] for name in targets}
    cpus: dict[str, list[float]] = {name: [] for name in targets}
    names = list(targets)
    for index in range(blocks):
        for name in names[index % len(names) :] + names[: index % len(names)]:
            p50, cpu = await _block(targets[name], concurrency, requests)
            p50s[name].append(p50)
            cpus[name].append(cpu)
    return p50s, cpus


def summarize(by_path: dict[str, list[float]]) -> dict[str, Any]:
    """Each path's median, and the paired differences (median, 95% bootstrap interval, pairs)."""
    return {
        "paths": {name: statistics.median(values) for name, values in by_path.items()},
        "differences": {
            label: paired_summary(by_path[minuend], by_path[subtrahend]) for label, minuend, subtrahend in DIFFERENCES
        },
    }


#: the callback's steps per ``auto`` request, as the proxy calls them (the floor's breakdown)
HOOKS = ("pre-call: read", "pre-call: decide and rewrite", "attempt plan", "headers", "answer")


def floor_us(repeats: int) -> dict[str, Any]:
    """The callback's own work per ``auto`` request, in this process (µs, the best of 5 passes' means): the pre-call
    hook's read and decision, one attempt's plan, the headers, the answer's record (the prompt-bound learner
    included); over the proxy's six test deployments, each request a fresh copy of the body (as the proxy parses
    one per request). Also each step's own share, and recording one answer in the learner alone (its windows full)."""
    from app.integrations.plugin_settings import PluginSettings
    from app.integrations.proxy_routing import ProxyRouting
    from app.tokens import count_prompt_tokens

    models = default_test_models("http://127.0.0.1:9/v1")

    class Router:  # what ProxyDeployments reads of LiteLLM's router
        def __init__(self) -> None:
            self.model_list = [model.to_config() for model in models]

        def get_deployment_model_info(self, model_id: str, model_name: str) -> dict[str, Any] | None:
            return next((m["model_info"] for m in self.model_list if m["model_info"].get("id") == model_id), None)

    routing = ProxyRouting(PluginSettings.load(PLUGIN_SETTINGS))
    router = Router()
    routing.sync(router)
    body = json.dumps({"model": "auto", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "max_cost": MAX_COST})
    clock = time.perf_counter_ns

    def one_pass(between: Any = None) -> list[float]:
        spent = [0] * len(HOOKS)
        bodies = [json.loads(body) for _ in range(repeats)]
        for data in bodies:
            if between is not None:
                between()
            t0 = clock()
            request = routing.read(data)
            assert request is not None
            routing.sync(router)
            t1 = clock()
            routing.route(data, request, ())
            t2 = clock()
            kwargs = {
                **data,
                "metadata": {**data["metadata"], "model_group": data["model"]},
                "model_info": {"id": f"{data['model']}-upstream"},
            }
            t3 = clock()
            routing.plan_attempt(kwargs)
            t4 = clock()
            routing.headers(data, 0.0001)
            t5 = clock()
            routing.attempt_answered(data, cost_usd=0.0001, prompt_tokens=10, completion_tokens=20, stream=False)
            t6 = clock()
            for index, took in enumerate((t1 - t0, t2 - t1, t4 - t3, t5 - t4, t6 - t5)):
                spent[index] += took
        return [total / repeats / 1e3 for total in spent]

    passes = [one_pass() for _ in range(5)]
    best = min(passes, key=sum)
    cold = one_pass(_unrelated_work())
    counts = count_prompt_tokens(MESSAGES)

    def learn() -> None:
        routing.deployments.learn(
            "gpt-4o-mini", counts, billed_prompt_tokens=10, billed_completion_tokens=20, max_tokens=MAX_TOKENS
        )

    learning = min(timeit.Timer(learn).repeat(repeat=5, number=repeats)) / repeats * 1e6
    return {
        "auto_request_us": sum(best),
        "hooks_us": dict(zip(HOOKS, best, strict=True)),
        "learning_us": learning,
        "cold_auto_request_us": sum(cold),
        "cold_hooks_us": dict(zip(HOOKS, cold, strict=True)),
    }


def _unrelated_work() -> Any:
    """What runs between two timed requests in the floor's cold pass: a JSON round trip of ~1 MB of other objects
    (~5 ms, about half the proxy's own CPU per request), as LiteLLM's own work runs between two requests in a proxy;
    it leaves the callback's code and data out of the processor's caches, as they are in a proxy. It allocates
    nothing that survives (no garbage-collector pressure: with the collector off the cold figures are the same)."""
    other = [{"key": [float(i + j) for j in range(20)], "text": "x" * (i % 50)} for i in range(3_000)]

    def between() -> None:
        json.loads(json.dumps(other))

    return between


async def hook_times(models: Any, tmp: Path, requests: int, limits: httpx.Limits) -> dict[str, dict[str, float]]:
    """The callback's hooks timed inside a third proxy (``bench._timed_callback``), over ``requests`` sequential
    ``auto`` requests after a warm-up: per hook, calls and µs per call (wall, and CPU of the thread running it)."""
    from app.integrations.litellm_proxy import managed_proxy_options
    from bench._timed_callback import CALLBACK_PATH

    out = tmp / "hooks.json"
    options = managed_proxy_options(PLUGIN_SETTINGS, prometheus=False)
    options["litellm_settings"] = {"callbacks": [CALLBACK_PATH]}
    options["extra_env"] = {**options["extra_env"], "COSTMUX_BENCH_HOOK_TIMES": str(out)}
    proxy = LiteLLMProxy(models, log_path=tmp / "timed.log", **options)
    auto = {"model": "auto", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "max_cost": MAX_COST}
    try:
        proxy.start()
        async with httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) as client:
            client.headers["Authorization"] = f"Bearer {proxy.master_key}"
            target = Target("timed", client, f"{proxy.base_url}/v1/chat/completions", auto, proxy.pid)
            for _ in range(50):
                await _post(target)
            before = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
            for _ in range(requests):
                await _post(target)
            await asyncio.sleep(1.0)  # the success hook of the last answers runs after them
            for _ in range(50):  # the pre-call hook writes the totals every 50 calls
                await _post(target)
    finally:
        proxy.stop()
    after = json.loads(out.read_text(encoding="utf-8"))
    times: dict[str, dict[str, float]] = {}
    for hook, (calls, wall, cpu) in after.items():
        c0, w0, u0 = before.get(hook, (0, 0.0, 0.0))
        if calls > c0:
            n = calls - c0
            times[hook] = {"calls": n, "wall_us": (wall - w0) / n * 1e6, "cpu_us": (cpu - u0) / n * 1e6}
    return times


async def _run(settings: PluginBenchSettings, progress: bool) -> dict[str, Any]:
    from app.integrations.litellm_proxy import managed_proxy_options

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    started = time.perf_counter()
    load_before = os.getloadavg()
    floor = floor_us(settings.floor_repeats)
    with tempfile.TemporaryDirectory(prefix="costmux-bench-plugin-") as tmp, upstream_process() as upstream_url:
        models = default_test_models(upstream_url)
        plain = LiteLLMProxy(models, log_path=Path(tmp) / "plain.log")
        noop = LiteLLMProxy(models, log_path=Path(tmp) / "noop.log", **_noop_options())
        plugin = LiteLLMProxy(
            models, log_path=Path(tmp) / "plugin.log", **managed_proxy_options(PLUGIN_SETTINGS, prometheus=False)
        )
        try:
            plain.start()
            noop.start()
            plugin.start()
            clients = [httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) for _ in PATHS]
            try:
                for client, proxy in zip(clients, (plain, noop, plugin, plugin), strict=True):
                    client.headers["Authorization"] = f"Bearer {proxy.master_key}"
                auto = {"model": "auto", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "max_cost": MAX_COST}
                plugin_chat = f"{plugin.base_url}/v1/chat/completions"
                chosen = (await clients[3].post(plugin_chat, json=auto)).headers["x-costmux-model"]
                named = {"model": chosen, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
                targets = {
                    "proxy": Target("proxy", clients[0], f"{plain.base_url}/v1/chat/completions", named, plain.pid),
                    "noop": Target("noop", clients[1], f"{noop.base_url}/v1/chat/completions", named, noop.pid),
                    "plugin/named": Target("plugin/named", clients[2], plugin_chat, named, plugin.pid),
                    "plugin/auto": Target("plugin/auto", clients[3], plugin_chat, auto, plugin.pid),
                }
                rng = random.Random(SEED)
                await interleaved_steps(targets, settings.warmup, rng)
                one = await interleaved_steps(targets, settings.pairs, rng)
                if progress:
                    print(f"concurrency 1: {settings.pairs} steps done", file=sys.stderr, flush=True)
                await interleaved_blocks(targets, 1, settings.warmup, 16)
                p50s, cpus = await interleaved_blocks(targets, settings.blocks, settings.block_requests, 16)
                if progress:
                    print(f"concurrency 16: {settings.blocks} blocks done", file=sys.stderr, flush=True)
            finally:
                for client in clients:
                    await client.aclose()
        finally:
            plugin.stop()
            noop.stop()
            plain.stop()
        hooks = await hook_times(models, Path(tmp), settings.hook_requests, limits)
    concurrency = {"1": summarize(one), "16": summarize(p50s)}
    concurrency["16"]["cpu"] = summarize(cpus)
    verdicts = {
        c: verdict(f["differences"]["auto − proxy"]["low"], f["differences"]["auto − proxy"]["high"], GOAL_ADDED_MS)
        for c, f in concurrency.items()
    }
    return {
        "settings": asdict(settings),
        "model": chosen,
        "max_tokens": MAX_TOKENS,
        "max_cost": MAX_COST,
        "concurrency": concurrency,
        "floor": floor,
        "hooks_in_proxy": hooks,
        "goal_added_ms": GOAL_ADDED_MS,
        "verdicts": verdicts,
        "goal": _overall(list(verdicts.values())),
        "load_average": [load_before[0], os.getloadavg()[0]],
        "seconds": time.perf_counter() - started,
        "cpus": os.cpu_count(),
    }


def _noop_options() -> dict[str, Any]:
    """Options of the proxy with the do-nothing callback (``bench._noop_callback``), loaded from this source."""
    from app.integrations.litellm_proxy import source_path
    from bench._noop_callback import CALLBACK_PATH

    return {"litellm_settings": {"callbacks": [CALLBACK_PATH]}, "extra_env": {"PYTHONPATH": source_path()}}


def _overall(verdicts: list[str]) -> str:
    """Met only when met at every concurrency; not met when not met at any; else n/a."""
    if "not met" in verdicts:
        return "not met"
    return "met" if all(v == "met" for v in verdicts) else "n/a"


def run(settings: PluginBenchSettings | None = None, *, quick: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns its results (see :func:`render`)."""
    return asyncio.run(_run(settings or settings_for(quick), progress))


def _interval(d: dict[str, float]) -> str:
    return f"{d['median']:.3f} [{d['low']:.3f}, {d['high']:.3f}]"


def render(results: dict[str, Any], command: str = "python bench/bench_plugin.py") -> str:
    """The results as a markdown section: each path's latency, the paired differences, and the goal."""
    s, c = results["settings"], results["concurrency"]
    load = results.get("load_average", [float("nan")] * 2)
    lines = [
        HEADING,
        "",
        f"Measured by `{command}` ({results['cpus']} CPUs shared with other work, load average {load[0]:.2f} before "
        f'and {load[1]:.2f} after; {results["seconds"]:.0f} s). `plugin/auto` sends `model: "auto"` with '
        f"`max_cost` ${results['max_cost']} to the proxy with the costmux callback; it chose `{results['model']}`, "
        f"which the other paths ask for by name; `max_tokens` {results['max_tokens']} everywhere. The paths run "
        f"interleaved: at concurrency 1, {s['pairs']} steps of one request per path in a random order; at "
        f"concurrency 16, {s['blocks']} blocks of {s['block_requests']} requests per path, the order rotating. "
        "Differences are medians of the paired differences (step by step, block by block), with 95% bootstrap "
        "intervals in brackets.",
        "",
        "| concurrency | "
        + " | ".join(f"{name} p50 ms" for name in PATHS)
        + " | "
        + " | ".join(f"{label} ms" for label, _, _ in DIFFERENCES)
        + " |",
        "|---:|" + "---:|" * (len(PATHS) + len(DIFFERENCES)),
    ]
    for concurrency, figures in c.items():
        paths, diffs = figures["paths"], figures["differences"]
        lines.append(
            f"| {concurrency} | "
            + " | ".join(f"{paths[name]:.2f}" for name in PATHS)
            + " | "
            + " | ".join(_interval(diffs[label]) for label, _, _ in DIFFERENCES)
            + " |"
        )
    lines += [
        "",
        "`noop − proxy` is LiteLLM's own cost of calling a callback's hooks (the same hooks as costmux's, doing "
        "nothing): the floor of any callback with those integration points; `auto − noop` is what costmux's work adds "
        "over it.",
    ]
    cpu = c["16"].get("cpu")
    if cpu is not None:
        paths, diffs = cpu["paths"], cpu["differences"]
        lines += [
            "",
            "Proxy CPU time per request at concurrency 16 (ms): "
            + ", ".join(f"{name} {paths[name]:.2f}" for name in PATHS)
            + "; "
            + ", ".join(f"{label} {_interval(diffs[label])}" for label, _, _ in DIFFERENCES)
            + ". At concurrency 16 the proxy is CPU-bound on these cores and requests queue, so each ms of CPU added "
            "per request adds about that many ms times the queue length to the p50.",
        ]
    lines += [
        "",
        f"The callback's own work per `auto` request, timed in-process (best of 5): "
        f"{results['floor']['auto_request_us']:.0f} µs (decision over six deployments, one attempt's plan, headers, "
        "metrics, the answer's record; "
        + ", ".join(f"{hook} {us:.0f} µs" for hook, us in results["floor"].get("hooks_us", {}).items())
        + "), of which recording the answer in the prompt-bound learner (its windows "
        f"full): {results['floor'].get('learning_us', float('nan')):.0f} µs, which a named model's non-streamed "
        "answer costs too (with its prompt counted). The same work with ~5 ms of unrelated work between two requests "
        "(a JSON round trip of ~1 MB, as LiteLLM's own work runs between two requests in a proxy), which leaves the "
        "callback's code and data out of the processor's caches: "
        f"{results['floor'].get('cold_auto_request_us', float('nan')):.0f} µs"
        + "".join(f", {hook} {us:.0f} µs" for hook, us in results["floor"].get("cold_hooks_us", {}).items())
        + ".",
    ]
    hooks = results.get("hooks_in_proxy")
    if hooks:
        total_wall = sum(h["wall_us"] for h in hooks.values())
        total_cpu = sum(h["cpu_us"] for h in hooks.values())
        lines += [
            "",
            f"The same hooks timed inside a third proxy (`bench/_timed_callback.py`, {s['hook_requests']} sequential "
            "`auto` requests after a warm-up): µs per call, wall and CPU of the thread running it. The pre-call "
            "hook (the decision) and the deployment and headers hooks are awaited by the request; LiteLLM runs the "
            "success hook (the answer's cost, the learner, the metrics) as a background task once the answer is in.",
            "",
            "| hook | wall µs | CPU µs |",
            "|---|---:|---:|",
            *(f"| {hook} | {h['wall_us']:.0f} | {h['cpu_us']:.0f} |" for hook, h in hooks.items()),
            f"| all | {total_wall:.0f} | {total_cpu:.0f} |",
        ]
    lines += [
        "",
        "| goal | measured | verdict |",
        "|---|---|---|",
    ]
    measured = ", ".join(
        f"{_interval(f['differences']['auto − proxy'])} ms at concurrency {conc} ({results['verdicts'][conc]})"
        for conc, f in c.items()
    )
    shown = {"met": "**met**", "not met": "**not met**", "n/a": "n/a"}[results["goal"]]
    lines.append(
        f"| the callback adds ≤ {results['goal_added_ms']} ms p50 per `auto` request (concurrency 1 and 16) | "
        f"{measured} | {shown} |"
    )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer steps and blocks (a smoke run)")
    parser.add_argument("--pairs", type=int, help="interleaved steps at concurrency 1 (default 1500, quick 60)")
    parser.add_argument("--blocks", type=int, help="interleaved blocks at concurrency 16 (default 24, quick 4)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(settings_for(args.quick, args.pairs, args.blocks), progress=True)
    print(render(results, "python bench/bench_plugin.py " + " ".join(sys.argv[1:] if argv is None else argv)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0  # the goal's verdict is in the section


if __name__ == "__main__":
    sys.exit(main())
