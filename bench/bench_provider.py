"""Benchmark: the overhead of ``LiteLLMProvider.chat_completion`` next to a raw ``httpx`` POST and ``openai``.

Measured in one run, from the repository root::

    python bench/bench_provider.py [--quick] [--rounds N] [--profile]

Three clients send the same chat completion (same JSON body, same bearer key) to the same loopback upstream, an
:class:`app.sandbox.upstream.FakeUpstream` with no artificial latency, run in its own process so its threads do not
share the clients' interpreter lock:

- ``costmux``: ``await LiteLLMProvider.chat_completion(messages, model, max_tokens=...)``: message validation,
  admission (circuit breaker, rate-limit reservation with a prompt token estimate), the POST under the retry policy,
  pydantic parsing of the answer, cost from usage × price (exact Decimal), settlement of the admission;
- ``httpx``: ``await client.post(url, json=body, headers=auth)``, status check and ``response.json()``: the least
  any client must do;
- ``openai``: ``await AsyncOpenAI(...).chat.completions.create(...)`` (openai's client runs on ``httpx2``, the httpx
  fork it depends on).

costmux and raw httpx send through one shared ``httpx.AsyncClient`` (the same pool and connections, so per-connection
kernel and server state cannot favour either); openai has an ``httpx2`` client of the same settings (100 connections,
the provider's default, all kept alive for a minute, the same timeouts); pools are warmed up before timing. At
concurrency 1 the clients take turns call by call (their order rotating), so a change of machine load hits them
alike. At concurrency 16 and 64 each client runs a closed-loop segment (that many tasks, each sending its next request
when its last one ends), the clients' order rotating from round to round. Figures are medians over rounds of each
round's p50 / p99 latency (``time.perf_counter_ns`` around each call), throughput (requests / the time spent in the
client's calls) and client CPU per request (this process's CPU time, which on loopback includes the kernel's work for
its sockets; the upstream runs elsewhere). Ratios are medians over rounds of that round's costmux / httpx figures.

A second phase runs the same calls on mock transports (no sockets, the upstream's own answer), taking turns call by
call: each client's own CPU per call, the least noisy figure of the overhead. ``--profile`` adds a cProfile of the
provider there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import json
import logging
import math
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.providers import LiteLLMProvider  # noqa: E402
from bench._report import goals_table  # noqa: E402

__all__ = ["CLIENTS", "CONCURRENCY", "ProviderBenchSettings", "render", "run", "settings_for"]

CLIENTS = ("costmux", "httpx", "openai")
CONCURRENCY = (1, 16, 64)
MODEL = "gpt-4o-mini"
API_KEY = "sk-bench-provider"
MAX_TOKENS = 64
PRICING = {"input_per_1m": 0.15, "output_per_1m": 0.6}
MESSAGES = [
    {"role": "system", "content": "You are a concise assistant for a billing team."},
    {
        "role": "user",
        "content": "Summarize in two sentences why invoice totals can differ from the sum of line items when "
        "discounts, taxes and currency rounding are applied at different stages of the calculation.",
    },
]
GOAL_LATENCY_RATIO = 1.10  # costmux p50 / httpx p50 at concurrency 1, at most
GOAL_THROUGHPUT_RATIO = 0.90  # costmux / httpx requests per second at concurrency 64, at least
SECTION = "## Provider overhead"


@dataclass(frozen=True)
class ProviderBenchSettings:
    """Sizes of a run: ``requests[c]`` requests per segment at concurrency ``c``, ``rounds`` rounds."""

    rounds: int
    requests: dict[int, int]
    warmup: int
    mock_requests: int = 2_000
    pool: int = 100
    profile_requests: int = 0


def settings_for(quick: bool, rounds: int | None = None, *, profile: bool = False) -> ProviderBenchSettings:
    if quick:
        return ProviderBenchSettings(rounds or 3, {1: 150, 16: 400, 64: 800}, 100, 300, profile_requests=300 * profile)
    return ProviderBenchSettings(
        rounds or 7, {1: 400, 16: 1_200, 64: 2_400}, 400, 2_000, profile_requests=3_000 * profile
    )


# -- the upstream -------------------------------------------------------------------------------------------------

# The stdlib handler writes a response's headers and body in two sends: with Nagle's algorithm on, the body waits for
# the client's delayed ACK of the headers (about 40 ms on Linux), and even without it the client may wake up twice per
# answer, or once, depending on the server's timing. A buffered writer (flushed once the answer is complete) sends each
# answer in one piece; TCP_NODELAY sends it at once.
_UPSTREAM_SCRIPT = (
    "import sys\n"
    "from app.sandbox.upstream import FakeUpstream, _Handler\n"
    "_Handler.disable_nagle_algorithm = True\n"
    "_Handler.wbufsize = 1 << 16\n"
    "upstream = FakeUpstream().start()\n"
    "print(upstream.base_url, flush=True)\n"
    "sys.stdin.read()\n"
    "upstream.stop()\n"
)


@contextlib.contextmanager
def upstream_process() -> Iterator[str]:
    """A FakeUpstream in a child process (stopped when stdin closes); yields its base URL (``.../v1``)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _UPSTREAM_SCRIPT],
        cwd=str(ROOT),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline().strip()
        if not line.startswith("http://"):
            raise RuntimeError(f"the upstream process did not start (it wrote {line!r})")
        yield line
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# -- the clients --------------------------------------------------------------------------------------------------

Call = Callable[[], Awaitable[str]]


@dataclass
class Clients:
    """The three clients' calls (each returns the answer's text) and how to close them."""

    calls: dict[str, Call]
    closers: list[Callable[[], Awaitable[None]]]

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


def _client_options(module: Any, pool: int, answer: tuple[bytes, dict[str, str]] | None) -> dict[str, Any]:
    """Identical options of each client's pool (``module`` is httpx or httpx2): ``pool`` connections, all kept alive
    for a minute (so pools stay warm between segments), the provider's default timeouts; with ``answer``, a mock
    transport that answers every chat completion with it (and 404 elsewhere) instead of sockets."""
    options: dict[str, Any] = {
        "timeout": module.Timeout(60.0, connect=10.0),
        "limits": module.Limits(max_connections=pool, max_keepalive_connections=pool, keepalive_expiry=60.0),
        "trust_env": False,
    }
    if answer is not None:
        content, headers = answer

        def handle(request: Any) -> Any:
            if request.url.path.endswith("/chat/completions"):
                request.read()
                return module.Response(200, content=content, headers=headers)
            return module.Response(404, json={"error": {"message": "no route"}})

        options["transport"] = module.MockTransport(handle)
    return options


async def make_clients(base_url: str, pool: int, answer: tuple[bytes, dict[str, str]] | None = None) -> Clients:
    """The three clients against ``base_url`` (``http://host:port/v1``), pools of ``pool`` connections; with
    ``answer`` (body, headers), mock transports answer instead of the upstream."""
    import httpx2
    from openai import AsyncOpenAI

    body = {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = base_url + "/chat/completions"

    # costmux and raw httpx share one httpx client, so they send through the same pool and connections (whose
    # kernel and server-side state would otherwise differ between the two); openai needs its own httpx2 client.
    shared = httpx.AsyncClient(**_client_options(httpx, pool, answer))
    provider = LiteLLMProvider(
        base_url,
        API_KEY,
        custom_models={MODEL: {"pricing": PRICING}},
        http_client=shared,
        models_cache_ttl_s=3600.0,
    )
    logging.getLogger("costmux").setLevel(logging.ERROR)  # the upstream has no /model/info: one 404, then
    await provider.ensure_model_info()  # the provider uses its custom model
    logging.getLogger("costmux").setLevel(logging.NOTSET)

    openai_http = httpx2.AsyncClient(**_client_options(httpx2, pool, answer))
    openai = AsyncOpenAI(api_key=API_KEY, base_url=base_url, http_client=openai_http, max_retries=2)

    async def via_provider() -> str:
        completion = await provider.chat_completion(MESSAGES, MODEL, max_tokens=MAX_TOKENS)
        assert completion.cost_usd is not None
        return completion.content

    async def via_httpx() -> str:
        response = await shared.post(url, json=body, headers=headers)
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])

    async def via_openai() -> str:
        completion = await openai.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,  # type: ignore[arg-type]
            max_tokens=MAX_TOKENS,
        )
        return completion.choices[0].message.content or ""

    return Clients(
        {"costmux": via_provider, "httpx": via_httpx, "openai": via_openai},
        [provider.aclose, shared.aclose, openai.close, openai_http.aclose],
    )


# -- timing -------------------------------------------------------------------------------------------------------


@dataclass
class Segment:
    """One client at one concurrency in one round."""

    p50_us: float
    p99_us: float
    rps: float
    cpu_us: float  # client CPU per request, µs


def _percentile(ordered: list[int], q: float) -> float:
    return float(ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1])


async def segment(call: Call, concurrency: int, requests: int) -> Segment:
    """``requests`` calls by ``concurrency`` closed-loop tasks."""
    latencies: list[int] = []
    remaining = requests
    clock = time.perf_counter_ns

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = clock()
            await call()
            latencies.append(clock() - start)

    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall_s, cpu_s = time.perf_counter() - wall0, time.process_time() - cpu0
    latencies.sort()
    return Segment(
        _percentile(latencies, 50) / 1000, _percentile(latencies, 99) / 1000, requests / wall_s, cpu_s / requests * 1e6
    )


async def interleaved(calls: dict[str, Call], requests: int) -> dict[str, Segment]:
    """``requests`` sequential calls per client, the clients taking turns call by call (their order rotating), so
    a change of machine load affects them alike: each client's latencies, throughput (requests / the time spent in
    its own calls) and CPU per call."""
    names = list(calls)
    latencies: dict[str, list[int]] = {name: [] for name in names}
    cpu: dict[str, int] = dict.fromkeys(names, 0)
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    gc.collect()
    for index in range(requests):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            call = calls[name]
            cpu0, start = cpu_clock(), clock()
            await call()
            latencies[name].append(clock() - start)
            cpu[name] += cpu_clock() - cpu0
    result = {}
    for name, samples in latencies.items():
        total_s = sum(samples) / 1e9
        samples.sort()
        result[name] = Segment(
            _percentile(samples, 50) / 1000,
            _percentile(samples, 99) / 1000,
            requests / total_s,
            cpu[name] / requests / 1000,
        )
    return result


async def _warm_up(clients: Clients, warmup: int, concurrency: int) -> dict[str, str]:
    answers = {name: await call() for name, call in clients.calls.items()}
    if len(set(answers.values())) != 1:
        raise RuntimeError(f"the clients got different answers to the same request: {answers}")
    for call in clients.calls.values():
        await segment(call, concurrency, warmup)
    return answers


async def _profiled(call: Call, requests: int, top: int = 16) -> str:
    """cProfile of ``requests`` sequential calls: costmux's functions by cumulative and by own time, per call."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        await call()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    ours = [(key, value) for key, value in stats.items() if "/app/" in key[0]]
    lines = []
    for index, title in ((3, "by cumulative time"), (2, "by own time")):
        lines.append(f"costmux functions {title} ({requests} calls under cProfile; µs per call, inflated by it)")
        lines.append(f"{'calls/call':>10} {'own µs':>8} {'cumulative µs':>14}  function")
        for (filename, line, name), (_cc, ncalls, own, cumulative, _callers) in sorted(
            ours, key=lambda row: row[1][index], reverse=True
        )[:top]:
            where = f"{Path(filename).resolve().relative_to(ROOT)}:{line}({name})"
            lines.append(
                f"{ncalls / requests:>10.1f} {own / requests * 1e6:>8.1f} {cumulative / requests * 1e6:>14.1f}  {where}"
            )
        lines.append("")
    return "\n".join(lines).rstrip()


async def _upstream_answer(base_url: str) -> tuple[bytes, dict[str, str]]:
    """The upstream's answer to the benchmark's request (body and content type), for the mock transports."""
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.post(
            base_url + "/chat/completions",
            json={"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        response.raise_for_status()
        return response.content, {"content-type": response.headers["content-type"]}


def _order(index: int) -> tuple[str, ...]:
    """The clients' order in round ``index`` (rotating, so none always runs first)."""
    return CLIENTS[index % len(CLIENTS) :] + CLIENTS[: index % len(CLIENTS)]


async def _mock_rounds(
    base_url: str, answer: tuple[bytes, dict[str, str]], settings: ProviderBenchSettings
) -> tuple[dict[str, list[Segment]], str]:
    """Sequential calls on mock transports (no sockets): the client's own cost per call; and the profile."""
    clients = await make_clients(base_url, settings.pool, answer)
    rounds: dict[str, list[Segment]] = {name: [] for name in CLIENTS}
    try:
        await _warm_up(clients, settings.warmup, 1)
        for _ in range(settings.rounds):
            for name, result in (await interleaved(clients.calls, settings.mock_requests)).items():
                rounds[name].append(result)
        profile = (
            await _profiled(clients.calls["costmux"], settings.profile_requests) if settings.profile_requests else ""
        )
    finally:
        await clients.aclose()
    return rounds, profile


async def _run(settings: ProviderBenchSettings, progress: bool) -> dict[str, Any]:
    rounds: dict[str, dict[int, list[Segment]]] = {name: {c: [] for c in CONCURRENCY} for name in CLIENTS}
    with upstream_process() as base_url:
        answer = await _upstream_answer(base_url)
        if progress:
            print("  mock transports ...", file=sys.stderr, flush=True)
        mock, profile = await _mock_rounds(base_url, answer, settings)
        clients = await make_clients(base_url, settings.pool)
        try:
            text = await _warm_up(clients, settings.warmup, max(CONCURRENCY))
            for index in range(settings.rounds):
                for name, result in (await interleaved(clients.calls, settings.requests[1])).items():
                    rounds[name][1].append(result)
                for concurrency in CONCURRENCY[1:]:
                    for name in _order(index):
                        result = await segment(clients.calls[name], concurrency, settings.requests[concurrency])
                        rounds[name][concurrency].append(result)
                if progress:
                    print(f"  loopback round {index + 1}/{settings.rounds}", file=sys.stderr, flush=True)
        finally:
            await clients.aclose()
    return summarize(rounds, mock, settings, text["httpx"], profile)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def summarize(
    rounds: dict[str, dict[int, list[Segment]]],
    mock: dict[str, list[Segment]],
    settings: ProviderBenchSettings,
    answer: str,
    profile: str,
) -> dict[str, Any]:
    """Medians over rounds, ratios to httpx (median of per-round ratios), goals."""
    mock_figures = {
        name: {
            "p50_us": _median([s.p50_us for s in segments]),
            "cpu_us_per_request": _median([s.cpu_us for s in segments]),
            "cpu_us_over_httpx": _median([a.cpu_us - b.cpu_us for a, b in zip(segments, mock["httpx"], strict=True)]),
            "cpu_ratio": _median([a.cpu_us / b.cpu_us for a, b in zip(segments, mock["httpx"], strict=True)]),
        }
        for name, segments in mock.items()
    }
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for name, by_c in rounds.items():
        figures[name] = {}
        for concurrency, segments in by_c.items():
            figures[name][str(concurrency)] = {
                "p50_us": _median([s.p50_us for s in segments]),
                "p99_us": _median([s.p99_us for s in segments]),
                "rps": _median([s.rps for s in segments]),
                "cpu_us_per_request": _median([s.cpu_us for s in segments]),
                "rounds": [asdict(s) for s in segments],
            }
    ratios: dict[str, dict[str, dict[str, float]]] = {}
    for name in ("costmux", "openai"):
        ratios[name] = {}
        for concurrency in CONCURRENCY:
            ours, base = rounds[name][concurrency], rounds["httpx"][concurrency]
            ratios[name][str(concurrency)] = {
                key: _median([getattr(a, key) / getattr(b, key) for a, b in zip(ours, base, strict=True)])
                for key in ("p50_us", "p99_us", "rps", "cpu_us")
            }
    latency = ratios["costmux"]["1"]["p50_us"]
    throughput = ratios["costmux"][str(max(CONCURRENCY))]["rps"]
    goals = [
        {
            "goal": f"provider p50 latency within {GOAL_LATENCY_RATIO - 1:.0%} of raw httpx at concurrency 1",
            "measured": f"costmux / httpx p50 = {latency:.3f}×",
            "met": latency <= GOAL_LATENCY_RATIO,
        },
        {
            "goal": f"provider throughput ≥ {GOAL_THROUGHPUT_RATIO:.0%} of raw httpx at concurrency {max(CONCURRENCY)}",
            "measured": f"costmux / httpx = {throughput:.1%}",
            "met": throughput >= GOAL_THROUGHPUT_RATIO,
        },
    ]
    return {
        "settings": asdict(settings),
        "model": MODEL,
        "answer_chars": len(answer),
        "request_bytes": len(json.dumps({"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS})),
        "figures": figures,
        "ratios": ratios,
        "mock": mock_figures,
        "goals": goals,
        "profile": profile,
    }


def run(
    settings: ProviderBenchSettings | None = None, *, quick: bool = False, progress: bool = False
) -> dict[str, Any]:
    """Run the benchmark (see the module doc) and return its figures, ratios and goals as a dict."""
    return asyncio.run(_run(settings or settings_for(quick), progress))


# -- report -------------------------------------------------------------------------------------------------------


def render(results: dict[str, Any], command: str = "python bench/bench_provider.py") -> str:
    """The markdown section of docs/benchmarks.md for ``results`` (from :func:`run`)."""
    s = results["settings"]
    figures, ratios = results["figures"], results["ratios"]
    out = [SECTION, ""]
    out.append(
        "Measured by `bench/bench_provider.py`. "
        "`LiteLLMProvider.chat_completion` next to a raw `httpx.AsyncClient` POST (status check and `response.json()`) "
        "and the official `openai` `AsyncOpenAI` client, all sending the same body "
        f"({results['request_bytes']} bytes, `{results['model']}`, `max_tokens={MAX_TOKENS}`) to the same "
        "`FakeUpstream` on loopback (its own process, no artificial latency; each answer sent in one piece). costmux "
        "and raw httpx share one `httpx.AsyncClient` (the same pool and connections, so per-connection kernel and "
        f"server state cannot favour either); openai has an `httpx2` client of the same settings ({s['pool']} "
        "kept-alive connections); all warmed up. At concurrency 1 the clients take turns call by call "
        "(order rotating), so load changes hit them alike; at 16 and 64 each client runs a closed-loop segment "
        f"(that many tasks), the clients' order rotating between rounds. {s['rounds']} rounds of "
        + ", ".join(f"{n:,} requests per client at concurrency {c}" for c, n in s["requests"].items())
        + ". Figures are medians over rounds; ratios are medians of the per-round ratios to httpx. The provider does "
        "more than the raw POST (message validation, circuit breaker and rate-limit admission with a token estimate, "
        "retry policy, pydantic parsing, exact cost from usage × price): that is the overhead measured."
    )
    out.append("")
    out.append(
        "| concurrency | client | p50 µs | p99 µs | requests/s | client CPU µs/request | p50 vs httpx | "
        "throughput vs httpx | CPU vs httpx |"
    )
    out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in CONCURRENCY:
        key = str(concurrency)
        for name in CLIENTS:
            f = figures[name][key]
            r = ratios.get(name, {}).get(key)
            rel = (
                f"{r['p50_us']:.2f}× | {r['rps']:.1%} | {r['cpu_us']:.2f}×" if r is not None else "1.00× | 100% | 1.00×"
            )
            out.append(
                f"| {concurrency} | {name} | {f['p50_us']:,.0f} | {f['p99_us']:,.0f} | {f['rps']:,.0f} | "
                f"{f['cpu_us_per_request']:,.0f} | {rel} |"
            )
    out.append("")
    out.append(
        "Client CPU per request is this process's CPU time over the segment divided by its requests; the upstream "
        "runs in another process, so it counts the client alone. When the upstream (a single-process stdlib server) "
        "is the bottleneck, throughputs converge and the CPU column is the better measure of the client's cost."
    )
    out.append("")
    mock = results["mock"]
    out.append(
        f"The same calls on mock transports (`httpx.MockTransport` / `httpx2.MockTransport` answering the upstream's "
        f"own answer, no sockets), taking turns call by call, {s['mock_requests']:,} per client and round: what "
        "each client costs by itself, with the least noise."
    )
    out.append("")
    out.append("| client | p50 µs | CPU µs/call | CPU over httpx, µs/call | CPU vs httpx |")
    out.append("|---|---:|---:|---:|---:|")
    for name in CLIENTS:
        m = mock[name]
        out.append(
            f"| {name} | {m['p50_us']:,.0f} | {m['cpu_us_per_request']:,.0f} | {m['cpu_us_over_httpx']:+,.0f} | "
            f"{m['cpu_ratio']:.2f}× |"
        )
    out.append("")
    out += goals_table(results["goals"])
    out.append("")
    if results.get("profile"):
        out.append("Profile of the provider on the mock transport:")
        out.append("")
        out.append("```text")
        out.append(results["profile"])
        out.append("```")
        out.append("")
    out.append(f"Reproduce: `{command}`.")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run, rough figures")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 7, quick 3)")
    parser.add_argument("--profile", action="store_true", help="also profile the provider with cProfile")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    settings = settings_for(args.quick, args.rounds, profile=args.profile)
    results = run(settings, progress=True)
    print(render(results, "python bench/bench_provider.py " + " ".join(sys.argv[1:] if argv is None else argv)))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
