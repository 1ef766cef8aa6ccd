"""Benchmark: what the costmux gateway adds in front of the LiteLLM proxy, next to what the proxy adds itself.

Measured in one run, from the repository root::

    python bench/bench_gateway.py [--quick] [--rounds N]

Three paths serve the same chat completion (same messages, ``max_tokens``), each a real process on loopback:

- ``upstream``: client → the loopback upstream (:class:`app.sandbox.upstream.FakeUpstream`, its own process, no
  artificial latency);
- ``proxy``: client → LiteLLM proxy (``app.sandbox.LiteLLMProxy``) → upstream;
- ``costmux``: client → ``costmux serve`` (``model: "auto"``, ``max_cost`` $0.01: a routing decision, the budget
  plan, the provider call, the cost) → LiteLLM proxy → upstream.

The model costmux chooses is asked for by name on the other two paths, so the upstream does the same work.

The client is one ``httpx.AsyncClient`` per path (100 keep-alive connections, warmed up). Requests run closed-loop at
concurrency 1, 16 and 64. A round runs every (concurrency, path) segment once, the paths' order rotating from round to
round; figures are medians over rounds of each round's p50 / p99 latency (``time.perf_counter_ns`` around each
request), throughput (requests / wall time of the segment), and the CPU time per request of the proxy and gateway
processes (``/proc/<pid>/stat``). The latency a layer adds is its path's p50 minus the p50 of the path it wraps
(per round, then the median); the goal is costmux adding at most a fifth of what the proxy adds.

The machine has 2 cores: at concurrency 16 and 64 the processes compete for them, so the added latency there
follows the CPU each layer spends per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.sandbox import LiteLLMProxy, default_test_models, free_port  # noqa: E402
from bench.bench_provider import MESSAGES, upstream_process  # noqa: E402

__all__ = ["CONCURRENCY", "GOAL_RATIO", "PATHS", "GatewayBenchSettings", "render", "run", "settings_for"]

PATHS = ("upstream", "proxy", "costmux")
CONCURRENCY = (1, 16, 64)
MAX_TOKENS = 64
MAX_COST = 0.01
GOAL_RATIO = 0.2  # costmux's added p50 / the proxy's added p50, at most
EXCLUDE = "mock-gpt"  # answered by the proxy itself (no upstream): never routed to here
_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class GatewayBenchSettings:
    """Sizes of a run: ``requests[c]`` requests per segment at concurrency ``c``, ``rounds`` rounds."""

    rounds: int
    requests: dict[int, int]
    warmup: int
    pool: int = 100


def settings_for(quick: bool, rounds: int | None = None) -> GatewayBenchSettings:
    if quick:
        return GatewayBenchSettings(rounds or 2, {1: 60, 16: 200, 64: 320}, 20)
    return GatewayBenchSettings(rounds or 5, {1: 200, 16: 600, 64: 1_000}, 40)


# -- the processes ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def gateway_process(proxy: LiteLLMProxy, log_path: Path) -> Iterator[tuple[str, int]]:
    """``costmux serve`` in front of ``proxy`` on a free port; yields its base URL and pid; always stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSTMUX_", "LITELLM_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--proxy-url", proxy.base_url]
    command += ["--api-key", proxy.master_key, "--auto-exclude", EXCLUDE]
    with log_path.open("w") as log:
        child = subprocess.Popen(command, cwd=log_path.parent, env=env, stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(base_url + "/health", child, log_path)
            yield base_url, child.pid
        finally:
            child.terminate()
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_healthy(url: str, child: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(trust_env=False, timeout=2) as http:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise RuntimeError(f"costmux serve exited: {log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(url).status_code == 200:
                    return
            time.sleep(0.1)
    raise RuntimeError("costmux serve did not become healthy within 60 s")


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of process ``pid`` (all its threads), seconds; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


# -- the load -----------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """One path: where requests go, what they carry, which process's CPU to read."""

    name: str
    client: httpx.AsyncClient
    url: str
    body: dict[str, Any]
    pid: int | None


@dataclass
class Segment:
    p50_ms: float
    p99_ms: float
    rps: float
    cpu_ms_per_request: float


def _percentile(ordered: list[int], q: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)] / 1e6


async def timed_post(target: Target) -> int:
    """One request of ``target``; its latency, ns. Every answer must be a 200 with content."""
    started = time.perf_counter_ns()
    response = await target.client.post(target.url, json=target.body)
    latency = time.perf_counter_ns() - started
    if response.status_code != 200 or not response.json()["choices"][0]["message"]["content"]:
        raise RuntimeError(f"{target.name} answered {response.status_code}: {response.text[:300]}")
    return latency


async def segment(target: Target, concurrency: int, requests: int) -> Segment:
    """``requests`` requests closed-loop at ``concurrency``; every answer must be a 200 with content."""
    latencies: list[int] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            latencies.append(await timed_post(target))

    cpu_before = cpu_seconds(target.pid)
    wall = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - wall
    cpu = cpu_seconds(target.pid) - cpu_before
    ordered = sorted(latencies)
    return Segment(_percentile(ordered, 0.5), _percentile(ordered, 0.99), requests / wall, cpu * 1000 / requests)


async def _measure(
    targets: dict[str, Target],
    settings: GatewayBenchSettings | Any,
    progress: bool,
    paths: tuple[str, ...] = PATHS,
    concurrencies: tuple[int, ...] = CONCURRENCY,
) -> list[dict[str, Any]]:
    """``settings.rounds`` rounds: every (concurrency, path) segment once (after ``settings.warmup`` requests), the
    paths' order rotating from round to round."""
    rounds: list[dict[str, Any]] = []
    for index in range(settings.rounds):
        order = list(paths[index % len(paths) :] + paths[: index % len(paths)])
        result: dict[str, Any] = {}
        for concurrency in concurrencies:
            result[concurrency] = {}
            for name in order:
                await segment(targets[name], concurrency, settings.warmup)
                result[concurrency][name] = await segment(targets[name], concurrency, settings.requests[concurrency])
        rounds.append(result)
        if progress:
            print(f"round {index + 1}/{settings.rounds} done", file=sys.stderr, flush=True)
    return rounds


def _median(values: list[float]) -> float:
    return statistics.median(values)


def summarize(rounds: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Medians over rounds, per concurrency: each path's figures, and what each layer adds (per round, then
    the median)."""
    summary: dict[int, dict[str, Any]] = {}
    for concurrency in CONCURRENCY:
        per_round = [r[concurrency] for r in rounds]
        paths = {
            name: {
                field: _median([asdict(r[name])[field] for r in per_round])
                for field in ("p50_ms", "p99_ms", "rps", "cpu_ms_per_request")
            }
            for name in PATHS
        }
        proxy_added = [r["proxy"].p50_ms - r["upstream"].p50_ms for r in per_round]
        costmux_added = [r["costmux"].p50_ms - r["proxy"].p50_ms for r in per_round]
        ratios = [c / p if p > 0 else math.inf for c, p in zip(costmux_added, proxy_added, strict=True)]
        summary[concurrency] = {
            "paths": paths,
            "proxy_added_ms": _median(proxy_added),
            "costmux_added_ms": _median(costmux_added),
            "ratio": _median(ratios),
            "cpu_ratio": _median([r["costmux"].cpu_ms_per_request / r["proxy"].cpu_ms_per_request for r in per_round]),
        }
    return summary


async def _run(settings: GatewayBenchSettings, progress: bool) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=settings.pool, max_keepalive_connections=settings.pool)
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="costmux-bench-gateway-") as tmp,
        upstream_process() as upstream_url,
    ):
        proxy = LiteLLMProxy(default_test_models(upstream_url), log_path=Path(tmp) / "proxy.log")
        proxy.start()
        try:
            with gateway_process(proxy, Path(tmp) / "serve.log") as (gateway_url, gateway_pid):
                clients = [httpx.AsyncClient(limits=limits, timeout=60, trust_env=False) for _ in PATHS]
                try:
                    routed = {"model": "auto", "messages": MESSAGES, "max_tokens": MAX_TOKENS, "max_cost": MAX_COST}
                    gateway_chat = f"{gateway_url}/v1/chat/completions"
                    chosen = (await clients[2].post(gateway_chat, json=routed)).headers["x-costmux-model"]
                    body = {"model": chosen, "messages": MESSAGES, "max_tokens": MAX_TOKENS}  # the same upstream call
                    clients[1].headers["Authorization"] = f"Bearer {proxy.master_key}"
                    targets = {
                        "upstream": Target("upstream", clients[0], f"{upstream_url}/chat/completions", body, None),
                        "proxy": Target("proxy", clients[1], f"{proxy.base_url}/v1/chat/completions", body, proxy.pid),
                        "costmux": Target("costmux", clients[2], gateway_chat, routed, gateway_pid),
                    }
                    rounds = await _measure(targets, settings, progress)
                finally:
                    for client in clients:
                        await client.aclose()
        finally:
            proxy.stop()
    summary = summarize(rounds)
    return {
        "settings": asdict(settings),
        "model": chosen,
        "max_tokens": MAX_TOKENS,
        "max_cost": MAX_COST,
        "concurrency": summary,
        "goal_ratio": GOAL_RATIO,
        "goal_met": all(summary[c]["ratio"] <= GOAL_RATIO for c in CONCURRENCY),
        "seconds": time.perf_counter() - started,
        "cpus": os.cpu_count(),
    }


def run(settings: GatewayBenchSettings | None = None, *, quick: bool = False, progress: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns its results as a dict (``concurrency`` → figures; see :func:`render`)."""
    return asyncio.run(_run(settings or settings_for(quick), progress))


def render(results: dict[str, Any], command: str = "python bench/bench_gateway.py") -> str:
    """The results as markdown: one table of the paths' figures and one of what each layer adds."""
    s = results["settings"]
    lines = [
        f"Measured by `{command}` ({s['rounds']} rounds; requests per segment "
        + ", ".join(f"{n} at concurrency {c}" for c, n in s["requests"].items())
        + f'; {results["cpus"]} CPUs; {results["seconds"]:.0f} s). `costmux` routes `model: "auto"` under '
        f"`max_cost` ${results['max_cost']}; it chose `{results['model']}`, which the other paths ask for by name; "
        f"`max_tokens` {results['max_tokens']} everywhere.",
        "",
        "| concurrency | path | p50 ms | p99 ms | requests/s | server CPU ms/request |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for concurrency, figures in results["concurrency"].items():
        for name in PATHS:
            f = figures["paths"][name]
            cpu = "-" if name == "upstream" else f"{f['cpu_ms_per_request']:.2f}"
            lines.append(f"| {concurrency} | {name} | {f['p50_ms']:.2f} | {f['p99_ms']:.2f} | {f['rps']:.0f} | {cpu} |")
    lines += [
        "",
        "| concurrency | the proxy adds (p50 ms) | costmux adds (p50 ms) | costmux / proxy | CPU per request, "
        f"costmux / proxy | goal ≤ {results['goal_ratio']:.2f} |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for concurrency, figures in results["concurrency"].items():
        met = "met" if figures["ratio"] <= results["goal_ratio"] else "**not met**"
        lines.append(
            f"| {concurrency} | {figures['proxy_added_ms']:.2f} | {figures['costmux_added_ms']:.2f} | "
            f"{figures['ratio']:.2f} | {figures['cpu_ratio']:.2f} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests (a smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 2)")
    args = parser.parse_args(argv)
    results = run(settings_for(args.quick, args.rounds), progress=True)
    print(render(results))
    return 0 if results["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
