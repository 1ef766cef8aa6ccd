"""Soak: many routed requests at high concurrency against the loopback upstream, a share of them hitting injected
faults; every request must end in exactly one success or typed error, and none may cost more than its cap.

Run from the repository root::

    python bench/soak.py [--requests 10000] [--concurrency 50] [--fault-rate 0.1] [--seed 1] [--via-proxy]
                         [--transient] [--faults 429,500,...] [--failure-threshold N] [--timeout S]
                         [--max-retries N] [--json PATH]

* Requests alternate ``CostOptimizedRouter`` and ``HeuristicRouter``, both with ``budget_mode="strict"``; prompts are
  random (prose, code, CJK, numbers, mixed; 3-400 words) and each has its own ``max_cost``, log-uniform between
  $0.00001 and $0.01. Everything is drawn from ``--seed``. The free model (``llama-3-8b``) is excluded so that every
  request costs money and the cap matters.
* The upstream is a :class:`~app.sandbox.upstream.FakeUpstream` on loopback, reached directly (default: the provider's
  ``custom_models`` carry the sandbox prices) or, with ``--via-proxy``, through a real LiteLLM proxy started from
  ``app.sandbox`` (slower; the proxy retries upstream failures itself, so costmux's own retries default to 0 there
  and the timeout to 8 s).
* Faults are decided by the upstream per request (``FaultMode``): a hash of the seed, the request's messages and its
  model says whether that (request, model) pair fails, and how: 429 (Retry-After 0.5 s), 500, 503, connection reset,
  timeout (an answer delayed past the client timeout), malformed JSON, truncated body, in equal shares (``--faults``
  picks a subset). By default the same pair fails the same way on every attempt, so the provider's retries run out
  and the router falls back to another model (a different pair); with ``--transient`` only the first attempt of a
  pair fails and a retry gets through. Concurrency cannot mix faults up, and runs are reproducible.
* The provider runs with its default health policy (a model's breaker opens after 3 consecutive failures, for 5 s
  at first); ``--failure-threshold`` changes that threshold. The load is closed-loop (a new request starts when
  one ends), so while every model is cooling down the remaining requests end at once in ``NoModelAvailableError``.

Reported: outcomes (successes, typed errors by class, budget refusals, unaccounted requests), retries (the client's:
HTTP attempts minus admitted calls; the proxy's: upstream requests minus HTTP attempts), fallbacks, requests over
their cap (by the router's accounting, and by what the upstream generated, which also counts answers that timed out
on the client and attempts retried inside the provider), breaker openings, wall time, throughput, latency of the
successes, and each model's limiter and breaker state at the end. Exit status 1 if a request is unaccounted for or
over its cap by the router's accounting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import logging
import os
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.errors import BudgetExceededError, CostmuxError, ProviderError
from app.providers import LiteLLMProvider
from app.providers.health import HealthPolicy
from app.router import CostOptimizedRouter, HeuristicRouter, Router
from app.sandbox.proxy import LiteLLMProxy, default_test_models
from app.sandbox.upstream import FakeUpstream, Fault, FaultMode, request_key

__all__ = ["FAULT_MIX", "SoakConfig", "SoakReport", "main", "run_soak"]

EXCLUDED = ("llama-3-8b", "mock-gpt")  # free, and answered by the proxy itself: neither tests the cap
MIN_CAP_USD, MAX_CAP_USD = 1e-5, 1e-2
KINDS = ("prose", "code", "cjk", "numbers", "mixed")
_WORDS = ["budget", "model", "latency", "token", "router", "price", "proxy", "cache", "stream", "limit"]


def fault_mix(timeout_s: float) -> dict[str, Fault]:
    """The injected faults, by label (the timeout answers ``timeout_s + 0.5`` s late)."""
    return {
        "429": Fault(429, headers={"retry-after": "0.5"}),
        "500": Fault(500),
        "503": Fault(503),
        "reset": Fault(kind="reset"),
        "timeout": Fault(kind="delay", delay_s=timeout_s + 0.5, label="timeout"),
        "malformed": Fault(kind="malformed"),
        "truncated": Fault(kind="truncate"),
    }


FAULT_MIX = tuple(fault_mix(1.0))


@dataclass(frozen=True)
class SoakConfig:
    """One soak run (times in seconds)."""

    requests: int = 10_000
    concurrency: int = 50
    fault_rate: float = 0.1
    seed: int = 1
    via_proxy: bool = False
    transient: bool = False  # fault only the first attempt of each (request, model) pair
    faults: tuple[str, ...] = FAULT_MIX  # labels of fault_mix() to inject, in equal shares
    failure_threshold: int = HealthPolicy().failure_threshold
    timeout_s: float | None = None  # per HTTP attempt; None: 1 direct, 8 through the proxy
    max_retries: int | None = None  # the provider's; None: 2 direct, 0 through the proxy (it retries itself)
    request_deadline_s: float = 120.0  # a request still running after this counts as hung (unaccounted)
    rate_limits: dict[str, int] = field(
        default_factory=lambda: {"requests_per_minute": 100_000, "tokens_per_minute": 50_000_000}
    )

    @property
    def effective_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else (8.0 if self.via_proxy else 1.0)

    @property
    def effective_max_retries(self) -> int:
        return self.max_retries if self.max_retries is not None else (0 if self.via_proxy else 2)


@dataclass
class SoakReport:
    """What a soak run found (see the module doc)."""

    config: dict[str, Any]
    total: int = 0
    successes: int = 0
    typed_errors: dict[str, int] = field(default_factory=dict)
    budget_refusals: int = 0
    unaccounted: int = 0
    unaccounted_detail: dict[str, int] = field(default_factory=dict)
    over_cap: int = 0
    largest_overshoot_usd: str = "0"
    over_cap_generated: int = 0
    largest_generated_overshoot_usd: str = "0"
    requests_meeting_a_fault: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    provider_calls: int = 0
    refused_client_side: int = 0
    http_attempts: int = 0
    upstream_chat_requests: int = 0
    client_retries: int = 0
    proxy_retries: int = 0
    fallbacks: int = 0
    attempts_beyond_first: int = 0
    spent_usd: str = "0"
    breaker_openings: int = 0
    wall_s: float = 0.0
    throughput_rps: float = 0.0
    served_rps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)  # of the successes: p50, p90, p99, max
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.unaccounted == 0 and self.over_cap == 0


# -- inputs ----------------------------------------------------------------------------------------------------


def random_prompt(rng: random.Random, kind: str) -> str:
    n = rng.randint(3, 400)
    if kind == "prose":
        return " ".join(rng.choice(_WORDS) for _ in range(n)) + "?"
    if kind == "code":
        body = "\n".join(f"def f{i}(x):\n    return x * {i}" for i in range(n // 10 + 1))
        return "Fix this:\n```python\n" + body + "\n```"
    if kind == "cjk":
        return "".join(rng.choice("路由模型成本预算令牌缓存流限制价格") for _ in range(n))
    if kind == "numbers":
        return " + ".join(str(rng.randint(0, 10**6)) for _ in range(n // 3 + 1)) + " = ?"
    return " ".join(rng.choice([*_WORDS, "数据", "3.14", "x=1;", "ünïcödé"]) for _ in range(n))


def make_jobs(config: SoakConfig) -> list[tuple[list[dict[str, str]], Decimal]]:
    """``(messages, max_cost)`` per request; each prompt starts with its index, so every request is distinct."""
    rng = random.Random(config.seed)
    jobs = []
    for i in range(config.requests):
        prompt = f"[{i}] " + random_prompt(rng, rng.choice(KINDS))
        cap = Decimal(f"{10 ** rng.uniform(-5, -2):.3g}")
        jobs.append(([{"role": "user", "content": prompt}], cap))
    return jobs


# -- counting provider -----------------------------------------------------------------------------------------

_calls: contextvars.ContextVar[list[tuple[str, bool]] | None] = contextvars.ContextVar("soak_calls", default=None)


class CountingProvider(LiteLLMProvider):
    """Records each routed call (model, whether it was sent) in the current request's context."""

    async def chat_completion(self, messages: Any, model: str, *args: Any, **kwargs: Any) -> Any:
        sent = True
        try:
            return await super().chat_completion(messages, model, *args, **kwargs)
        except ProviderError as exc:
            sent = exc.request_sent
            raise
        finally:
            calls = _calls.get()
            if calls is not None:
                calls.append((model, sent))


# -- the run ---------------------------------------------------------------------------------------------------


def _sandbox_models() -> dict[str, dict[str, Any]]:
    """The sandbox deployments as ``custom_models`` (prices per token, windows), free and mock models left out."""
    models = {}
    for m in default_test_models("http://127.0.0.1:9/v1"):
        if m.name in EXCLUDED:
            continue
        models[m.name] = {
            "pricing": {
                "input_cost_per_token": m.input_cost_per_token,
                "output_cost_per_token": m.output_cost_per_token,
            },
            "metadata": {"context_window": m.max_input_tokens, "max_output_tokens": m.max_output_tokens},
        }
    return models


async def run_soak(config: SoakConfig, *, progress: bool = False) -> SoakReport:
    """Run one soak (see the module doc) and return its report; starts and stops its own upstream (and proxy)."""
    timeout_s = config.effective_timeout_s
    mix = fault_mix(timeout_s)
    unknown = set(config.faults) - set(mix)
    if unknown or not config.faults:
        raise ValueError(f"unknown faults {sorted(unknown)}; choose among {list(mix)}")
    chosen = tuple(mix[label] for label in config.faults)
    mode = FaultMode(config.fault_rate, chosen, seed=config.seed, transient=config.transient)
    health = HealthPolicy(failure_threshold=config.failure_threshold)
    jobs = make_jobs(config)
    routers: Sequence[Router] = (CostOptimizedRouter(budget_mode="strict"), HeuristicRouter(budget_mode="strict"))
    sandbox = _sandbox_models()
    report = SoakReport(config={**asdict(config), "timeout_s": timeout_s, "max_retries": config.effective_max_retries})
    report.total = len(jobs)

    upstream = FakeUpstream(record_usage=True).start()
    proxy: LiteLLMProxy | None = None
    http_attempts = 0

    async def count_attempt(request: httpx.Request) -> None:
        nonlocal http_attempts
        if request.url.path.endswith("/chat/completions"):
            http_attempts += 1

    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        limits=httpx.Limits(max_connections=2 * config.concurrency, max_keepalive_connections=2 * config.concurrency),
        event_hooks={"request": [count_attempt]},
        trust_env=False,
    )
    try:
        if config.via_proxy:
            proxy = await asyncio.to_thread(LiteLLMProxy(default_test_models(upstream.base_url)).start)
            custom = {name: {"rate_limits": config.rate_limits} for name in sandbox}
            provider = CountingProvider(
                proxy.base_url,
                proxy.master_key,
                custom_models=custom,
                http_client=client,
                max_retries=config.effective_max_retries,
                health_policy=health,
            )
            await provider.sync_pricing()
        else:
            custom = {name: {**entry, "rate_limits": config.rate_limits} for name, entry in sandbox.items()}
            provider = CountingProvider(
                upstream.base_url,
                "sk-soak",
                custom_models=custom,
                http_client=client,
                max_retries=config.effective_max_retries,
                health_policy=health,
            )
            await provider.ensure_model_info()  # the upstream has no /model/info: the custom models are used
        upstream_before = upstream.chat_request_count
        http_before = http_attempts
        upstream.set_fault_mode(mode)
        providers = {"litellm": provider}
        semaphore = asyncio.Semaphore(config.concurrency)
        outcomes: list[tuple[str, Any, list[tuple[str, bool]]] | None] = [None] * len(jobs)
        latencies: list[float] = []
        done = 0

        async def one(index: int, messages: list[dict[str, str]], cap: Decimal) -> None:
            nonlocal done
            calls: list[tuple[str, bool]] = []
            _calls.set(calls)
            async with semaphore:
                router = routers[index % 2]
                began = time.perf_counter()
                try:
                    result = await asyncio.wait_for(
                        router.route_request(messages, providers, max_cost=cap, exclude=EXCLUDED),
                        config.request_deadline_s,
                    )
                except TimeoutError:
                    outcomes[index] = ("hung", None, calls)
                except BudgetExceededError as exc:
                    outcomes[index] = ("refused", exc, calls)
                except CostmuxError as exc:
                    outcomes[index] = ("error", exc, calls)
                except Exception as exc:  # an untyped error is a bug: counted as unaccounted
                    outcomes[index] = ("untyped", exc, calls)
                else:
                    outcomes[index] = ("success", result, calls)
                    latencies.append(time.perf_counter() - began)
            done += 1
            if progress and done % 1000 == 0:
                print(f"  {done}/{len(jobs)}", file=sys.stderr, flush=True)

        start = time.perf_counter()
        await asyncio.gather(*(one(i, messages, cap) for i, (messages, cap) in enumerate(jobs)))
        report.wall_s = time.perf_counter() - start
        upstream.set_fault_mode(None)
        await asyncio.sleep(mix["timeout"].delay_s)  # let late answers to timed-out attempts finish (and be logged)

        _tally(report, jobs, outcomes, mode, upstream, sandbox, provider)
        report.http_attempts = http_attempts - http_before
        report.upstream_chat_requests = upstream.chat_request_count - upstream_before
        admitted = report.provider_calls - report.refused_client_side
        report.client_retries = report.http_attempts - admitted
        report.proxy_retries = report.upstream_chat_requests - report.http_attempts
        report.faults_injected = dict(sorted(upstream.fault_counts.items()))
        report.throughput_rps = report.total / report.wall_s if report.wall_s else 0.0
        report.served_rps = report.successes / report.wall_s if report.wall_s else 0.0
        if latencies:
            ordered = sorted(latencies)
            for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)):
                report.latency_ms[name] = round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)
        for name in sandbox:
            info = provider.get_model_info(name)
            report.models[name] = {"rate_limit": info["rate_limit"], "health": info["health"]}
            report.breaker_openings += int(info["health"]["opened_count"])
        await provider.aclose()
    finally:
        await client.aclose()
        if proxy is not None:
            await asyncio.to_thread(proxy.stop)
        upstream.stop()
    return report


def _tally(
    report: SoakReport,
    jobs: list[tuple[list[dict[str, str]], Decimal]],
    outcomes: list[tuple[str, Any, list[tuple[str, bool]]] | None],
    mode: FaultMode,
    upstream: FakeUpstream,
    sandbox: dict[str, dict[str, Any]],
    provider: LiteLLMProvider,
) -> None:
    errors: Counter[str] = Counter()
    unaccounted: Counter[str] = Counter()
    spent = Decimal(0)
    overshoot = Decimal(0)
    generated: dict[str, Decimal] = {}
    for key, model, prompt, completion in upstream.usage_log:
        cost = provider.calculate_cost_usd(prompt, completion, model) or Decimal(0)
        generated[key] = generated.get(key, Decimal(0)) + cost
    generated_overshoot = Decimal(0)
    for (messages, cap), outcome in zip(jobs, outcomes, strict=True):
        if outcome is None:
            unaccounted["no outcome"] += 1
            continue
        kind, value, calls = outcome
        report.provider_calls += len(calls)
        report.refused_client_side += sum(1 for _, sent in calls if not sent)
        report.attempts_beyond_first += max(0, len(calls) - 1)
        if any(sent and mode.choose(messages, model) is not None for model, sent in calls):
            report.requests_meeting_a_fault += 1
        billed = generated.get(request_key(messages, ""), Decimal(0))
        if billed > cap:
            report.over_cap_generated += 1
            generated_overshoot = max(generated_overshoot, billed - cap)
        if kind == "success":
            report.successes += 1
            report.fallbacks += value.fallbacks
            cost = sum((attempt.cost_usd for attempt in value.attempts), Decimal(0))
            spent += cost
            if cost > cap:
                report.over_cap += 1
                overshoot = max(overshoot, cost - cap)
        elif kind == "refused":
            report.budget_refusals += 1
            errors[type(value).__name__] += 1
        elif kind == "error":
            errors[type(value).__name__] += 1
        else:
            unaccounted[kind if value is None else f"{kind}: {type(value).__name__}"] += 1
    report.typed_errors = dict(errors.most_common())
    report.unaccounted = sum(unaccounted.values())
    report.unaccounted_detail = dict(unaccounted)
    report.spent_usd = str(spent.quantize(Decimal("1e-10")))  # the proxy's cost header carries float noise
    report.largest_overshoot_usd = str(overshoot)
    report.largest_generated_overshoot_usd = str(generated_overshoot)


# -- output ----------------------------------------------------------------------------------------------------


def render(report: SoakReport) -> str:
    c = report.config
    typed = sum(report.typed_errors.values())
    lines = [
        f"soak: {report.total} requests, concurrency {c['concurrency']}, fault rate {c['fault_rate']}, "
        f"seed {c['seed']}, {'through the LiteLLM proxy' if c['via_proxy'] else 'direct to the upstream'}, "
        f"timeout {c['timeout_s']} s, max_retries {c['max_retries']}, budget_mode strict, "
        f"{'transient' if c['transient'] else 'sticky'} faults {','.join(c['faults'])}, "
        f"breaker threshold {c['failure_threshold']}",
        f"  successes              {report.successes}",
        f"  typed errors           {typed}  {report.typed_errors}",
        f"    of which refusals    {report.budget_refusals}  (BudgetExceededError: the cap rules out every model)",
        f"  unaccounted            {report.unaccounted}  {report.unaccounted_detail or ''}",
        f"  over max_cost          {report.over_cap}  (router accounting; largest overshoot "
        f"${report.largest_overshoot_usd})",
        f"  over max_cost, generated  {report.over_cap_generated}  (what the upstream generated, answered or not; "
        f"largest overshoot ${report.largest_generated_overshoot_usd})",
        f"  requests meeting a fault {report.requests_meeting_a_fault}; faults served {report.faults_injected}",
        f"  provider calls         {report.provider_calls}  ({report.refused_client_side} refused client-side)",
        f"  HTTP attempts          {report.http_attempts}; upstream chat requests {report.upstream_chat_requests}",
        f"  retries                client {report.client_retries}, proxy {report.proxy_retries}",
        f"  fallbacks              {report.fallbacks} in successes; {report.attempts_beyond_first} attempts beyond the "
        "first in all requests",
        f"  spent                  ${report.spent_usd}",
        f"  breaker openings       {report.breaker_openings}",
        f"  wall time              {report.wall_s:.1f} s; throughput {report.throughput_rps:.0f} requests/s "
        f"({report.served_rps:.0f} served/s)",
        f"  latency of successes   {report.latency_ms} ms",
        "  end state per model:",
    ]
    for name, state in report.models.items():
        rl, h = state["rate_limit"], state["health"]
        lines.append(
            f"    {name:15} requests_available {rl['requests_available']:.1f}/{rl['requests_per_minute']}, "
            f"tokens_available {rl['tokens_available']:.0f}/{rl['tokens_per_minute']}, held_until {rl['held_until']}; "
            f"breaker {h['state']} (consecutive {h['consecutive_failures']}, opened {h['opened_count']}x, "
            f"failure rate {h['failure_rate']:.2f} over {h['requests_in_window']})"
        )
    lines.append(f"  verdict: {'OK' if report.ok else 'FAILED'}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--via-proxy", action="store_true", help="through a real LiteLLM proxy (slower)")
    parser.add_argument("--transient", action="store_true", help="fault only the first attempt of a request/model")
    parser.add_argument("--failure-threshold", type=int, default=HealthPolicy().failure_threshold)
    parser.add_argument("--faults", default=",".join(FAULT_MIX), help="comma-separated labels of faults to inject")
    parser.add_argument("--timeout", type=float, default=None, help="per-attempt timeout, s (1 direct, 8 proxy)")
    parser.add_argument("--max-retries", type=int, default=None, help="the provider's (2 direct, 0 proxy)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    for name in ("costmux", "app"):  # fallbacks and faults are expected here: keep the report readable
        logging.getLogger(name).setLevel(logging.CRITICAL)
    config = SoakConfig(
        requests=args.requests,
        concurrency=args.concurrency,
        fault_rate=args.fault_rate,
        seed=args.seed,
        via_proxy=args.via_proxy,
        transient=args.transient,
        failure_threshold=args.failure_threshold,
        faults=tuple(label.strip() for label in args.faults.split(",") if label.strip()),
        timeout_s=args.timeout,
        max_retries=args.max_retries,
    )
    report = asyncio.run(run_soak(config, progress=True))
    print(render(report))
    print(
        f"  machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n", encoding="utf-8")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
