"""Several real ``costmux serve`` replicas sharing one real redis-server, in front of the real LiteLLM proxy: one
key's budget is never overshot by concurrent requests spread over the replicas; a replica killed with SIGKILL
mid-request leaks its reservation only until the reservation's expiry (then it is charged its worst case, as a
failure with no answer is), while a live replica's long request is kept alive; Redis restarted mid-run: budgeted
requests fail closed (503) while it is down, everything else goes on, and all recovers by itself; a replica's prompt
bounds widen with what another replica was billed (the token-bound calibration is shared)."""

from __future__ import annotations

import asyncio
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.budgets.ledger import usd_to_atto_ceil
from app.sandbox import FakeUpstream, LiteLLMProxy
from app.sandbox.proxy import free_port
from app.sandbox.redis_server import RedisServer
from app.sandbox.upstream import Fault
from app.tokens import PRIORS, count_prompt_tokens, family_counts, resolve_family
from tests.integration.test_gateway_proxy import EXCLUDE, GATEWAY_KEY, PRICES, ROOT, _wait_ready

ALICE, CAROL = "sk-alice-replicas-0001", "sk-carol-replicas-0001"
MESSAGES = [{"role": "user", "content": "Give one short reason to write tests."}]
HOLD_TTL_S = 2.0  # short, so a dead replica's reservation expires within the test


def write_keys(path: Path, alice_day_usd: str) -> Path:
    data = {
        "keys": [
            {"name": "alice", "key": ALICE, "budgets": [{"window": "day", "max_usd": alice_day_usd}]},
            {"name": "carol", "key": CAROL},  # no budget: never needs Redis for budgets
        ]
    }
    path.write_text(yaml.safe_dump(data))
    return path


def spawn(proxy: LiteLLMProxy, redis: RedisServer, keys: Path, tmp_path: Path, prefix: str) -> tuple[Any, str, Any]:
    """Start one ``costmux serve`` sharing ``redis`` (not yet ready): its process, URL and log file."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COSTMUX_", "LITELLM_", "OPENAI_"))}
    environ.update(PYTHONPATH=str(ROOT), COSTMUX_BUDGET_HOLD_TTL_S=str(HOLD_TTL_S))
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--proxy-url", proxy.base_url]
    command += ["--api-key", proxy.master_key, "--gateway-key", GATEWAY_KEY, "--auto-exclude", EXCLUDE]
    command += ["--keys", str(keys), "--redis-url", redis.url, "--redis-prefix", prefix]
    log = (tmp_path / f"serve-{port}.log").open("w+")
    process = subprocess.Popen(command, cwd=tmp_path, env=environ, stdout=log, stderr=subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}", log


def stop(process: Any, log: Any) -> str:
    """Stop a replica (if the test has not killed it) and return its log."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    log.seek(0)
    text: str = log.read()
    log.close()
    return text


@contextmanager
def replicas(n: int, proxy: LiteLLMProxy, redis: RedisServer, keys: Path, tmp_path: Path) -> Iterator[list[Any]]:
    """``n`` replicas started together (each test has its own key prefix in the shared Redis); their logs must
    hold no traceback and no key."""
    prefix = f"replicas-{time.monotonic_ns()}"
    started = [spawn(proxy, redis, keys, tmp_path, prefix) for _ in range(n)]
    try:
        for process, url, log in started:
            _wait_ready(url, process, log)
        yield [(process, url) for process, url, _ in started]
    finally:
        logs = [stop(process, log) for process, _, log in started]
    for text in logs:
        assert "Traceback" not in text, text[-3000:]
        assert ALICE not in text and CAROL not in text


def charged(answer: httpx.Response) -> Decimal:
    """What a budget is charged for an answer: its cost rounded up to whole atto-USD (the header shows the cost as
    the proxy priced it, which may have more decimals)."""
    return Decimal(usd_to_atto_ceil(Decimal(answer.headers["x-costmux-cost"]))).scaleb(-18)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def status(http: httpx.AsyncClient, base_url: str) -> dict[str, Decimal]:
    rows = (await http.get(base_url + "/v1/budgets", headers=auth(GATEWAY_KEY))).json()["data"]
    alice = next(row for row in rows if row["scope"] == "key:alice")
    return {name: Decimal(alice[f"{name}_usd"]) for name in ("max", "spent", "reserved", "remaining")}


async def test_concurrent_requests_over_three_replicas_never_overshoot_one_key_s_budget(
    litellm_proxy: LiteLLMProxy, redis: RedisServer, tmp_path: Path
) -> None:
    budget = Decimal("0.0008")  # about 60 of these requests' actual cost, fewer of their worst cases
    keys = write_keys(tmp_path / "keys.yaml", str(budget))
    with replicas(3, litellm_proxy, redis, keys, tmp_path) as running:
        urls = [url for _, url in running]
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 24}
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:

            async def one(i: int) -> httpx.Response:
                return await http.post(urls[i % 3] + "/v1/chat/completions", json=body, headers=auth(ALICE))

            answers = await asyncio.gather(*(one(i) for i in range(120)))
            ok = [a for a in answers if a.status_code == 200]
            refused = [a for a in answers if a.status_code == 402]
            assert len(ok) + len(refused) == 120, {a.status_code for a in answers}
            assert ok and refused
            costs = sum((charged(a) for a in ok), Decimal(0))
            assert costs <= budget  # 0 overshoot
            # no needless refusal: once nothing is in flight, requests go on until what is left is less than one
            # request's worst case
            extra = 0
            while True:
                answer = await one(extra)
                if answer.status_code == 402:
                    break
                assert answer.status_code == 200 and extra < 100
                costs += charged(answer)
                extra += 1
            error = answer.json()["error"]
            final = await status(http, urls[1])
        assert final["spent"] == costs <= budget and final["reserved"] == 0  # exact, every replica's settlements
        assert error["needed_usd"] is None or Decimal(error["remaining_usd"]) < Decimal(error["needed_usd"])
        assert error["scope"] == "key:alice" and Decimal(error["remaining_usd"]) == budget - costs


async def test_a_replica_killed_mid_request_holds_its_reservation_only_until_it_expires(
    litellm_proxy: LiteLLMProxy, fake_upstream: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    keys = write_keys(tmp_path / "keys.yaml", "1")
    with replicas(2, litellm_proxy, redis, keys, tmp_path) as running:
        (victim, victim_url), (_, survivor_url) = running
        body = {"model": "claude-3-haiku", "messages": MESSAGES, "max_tokens": 40}
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            # a long request on the survivor: kept alive past the reservations' expiry, charged its actual cost
            fake_upstream.inject_fault(Fault(kind="delay", delay_s=3 * HOLD_TTL_S, model="claude-3-haiku"))
            long = asyncio.ensure_future(
                http.post(survivor_url + "/v1/chat/completions", json=body, headers=auth(ALICE))
            )
            first = await _until(lambda: status(http, survivor_url), lambda s: s["reserved"] > 0)
            # a request on the victim, which dies before the answer
            fake_upstream.inject_fault(Fault(kind="delay", delay_s=3 * HOLD_TTL_S, model="claude-3-haiku"))
            doomed = asyncio.ensure_future(
                http.post(victim_url + "/v1/chat/completions", json=body, headers=auth(ALICE))
            )
            before = await _until(lambda: status(http, survivor_url), lambda s: s["reserved"] == 2 * first["reserved"])
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            with pytest.raises(httpx.HTTPError):
                await doomed
            done = await long
            assert done.status_code == 200, done.text
            actual = Decimal(done.headers["x-costmux-cost"])
            worst = Decimal(done.headers["x-costmux-worst-case-cost"])  # the same request on the victim
            after = await _until(lambda: status(http, survivor_url), lambda s: s["reserved"] == 0, timeout_s=10)
            # the victim's reservation was charged in full at its expiry; the survivor's settled at its actual cost
            assert after["spent"] == actual + worst and before["reserved"] == 2 * worst
            ok = await http.post(survivor_url + "/v1/chat/completions", json=body, headers=auth(ALICE))
            assert ok.status_code == 200


async def _metrics(http: httpx.AsyncClient, base_url: str) -> str:
    return (await http.get(base_url + "/metrics", headers=auth(GATEWAY_KEY))).text


async def _until(read: Any, done: Any, timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = await read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"gave up waiting: {value}"
        await asyncio.sleep(0.05)


async def test_redis_restarted_mid_run_budgets_fail_closed_then_everything_recovers(
    litellm_proxy: LiteLLMProxy, redis: RedisServer, tmp_path: Path
) -> None:
    keys = write_keys(tmp_path / "keys.yaml", "1")
    with replicas(2, litellm_proxy, redis, keys, tmp_path) as running:
        urls = [url for _, url in running]
        body = {"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 16}
        async with httpx.AsyncClient(timeout=60, trust_env=False) as http:
            for url in urls:
                assert (
                    await http.post(url + "/v1/chat/completions", json=body, headers=auth(ALICE))
                ).status_code == 200
            spent_before = (await status(http, urls[0]))["spent"]
            redis.stop(remove=False)
            try:
                for url in urls:
                    down = await http.post(url + "/v1/chat/completions", json=body, headers=auth(ALICE))
                    assert down.status_code == 503 and down.json()["error"]["code"] == "budget_store_unavailable"
                    # a key without a budget goes on: rate limits and health fall back to the replica's own state
                    free = await http.post(url + "/v1/chat/completions", json=body, headers=auth(CAROL))
                    assert free.status_code == 200, free.text
                    assert (await http.get(url + "/v1/budgets", headers=auth(GATEWAY_KEY))).status_code == 503
                    # the replica's shared health and limits (their background sync and reports) fell back, counted
                    await _until(lambda u=url: _metrics(http, u), lambda text: 'outcome="fallback"' in text)
            finally:
                redis.start()
            for url in urls:  # recovered by itself; the spend survived the restart (append-only file)
                back = await http.post(url + "/v1/chat/completions", json=body, headers=auth(ALICE))
                assert back.status_code == 200, back.text
            after = await status(http, urls[1])
            assert after["spent"] > spent_before and after["reserved"] == 0
            metrics = (await http.get(urls[0] + "/metrics", headers=auth(GATEWAY_KEY))).text
            assert re.search(r'costmux_store_errors_total\{operation="\w+",outcome="failed",store="budgets"\}', metrics)


BILLED_OVER = "[bills-1.3x]"  # a prompt the upstream bills 1.3 x costmux's estimate of it
LONG_PROMPT = [{"role": "user", "content": f"{BILLED_OVER} Summarise the release notes of a small library. " * 12}]


def bill_over_the_estimate(messages: list[dict[str, Any]], model: str) -> int | None:
    """1.3 x costmux's estimate of a marked prompt under ``model``'s token family (others: the default bill)."""
    if not any(BILLED_OVER in str(m.get("content")) for m in messages):
        return None
    family = resolve_family((model,)).family
    return math.ceil(1.3 * family_counts(count_prompt_tokens(messages), PRIORS[family]).estimate_tokens)


async def test_a_replica_widens_its_prompt_bound_with_what_another_replica_was_billed(
    litellm_proxy: LiteLLMProxy, fake_upstream: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    keys = write_keys(tmp_path / "keys.yaml", "1")
    family = resolve_family(("gpt-4o-mini",)).family
    counts = family_counts(count_prompt_tokens(LONG_PROMPT), PRIORS[family])
    billed = bill_over_the_estimate(LONG_PROMPT, "gpt-4o-mini")
    assert billed is not None and billed > counts.upper_tokens  # the premise: these bills are over the prior
    in_usd = PRICES["gpt-4o-mini"][0]
    # a cap too small for any answer: a 402 whose cheapest worst case shows the prompt bound, and nothing is sent
    probe = {"model": "gpt-4o-mini", "messages": LONG_PROMPT, "max_cost": 1e-7}
    fake_upstream.prompt_tokens = bill_over_the_estimate
    try:
        with replicas(2, litellm_proxy, redis, keys, tmp_path) as running:
            (_, learner_url), (_, other_url) = running
            async with httpx.AsyncClient(timeout=60, trust_env=False) as http:

                async def cheapest() -> Decimal:
                    answer = await http.post(other_url + "/v1/chat/completions", json=probe, headers=auth(CAROL))
                    assert answer.status_code == 402, answer.text
                    return Decimal(answer.json()["error"]["cheapest_cost"])

                before = await cheapest()
                assert before >= counts.upper_tokens * in_usd  # the family's prior bound, no more
                for _ in range(3):  # answered by the first replica only, billed 1.3 x the estimate
                    body = {"model": "gpt-4o-mini", "messages": LONG_PROMPT, "max_tokens": 16}
                    answer = await http.post(learner_url + "/v1/chat/completions", json=body, headers=auth(CAROL))
                    assert answer.status_code == 200 and answer.json()["usage"]["prompt_tokens"] == billed
                # the other replica reads it within its sync interval (1 s), started by its own decisions
                after = await _until(cheapest, lambda cost: cost > before, timeout_s=15.0)
                assert after - before >= (billed - counts.upper_tokens) * in_usd  # its bound covers the bills now
    finally:
        fake_upstream.prompt_tokens = None
