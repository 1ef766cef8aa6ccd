"""The costmux gateway in front of the REAL LiteLLM proxy (and the loopback upstream behind it, which reports real
token counts): in-process over httpx's ASGI transport, and as a real ``costmux serve`` process that the official
``openai`` client talks to, streaming included."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import openai
import pytest

from app.gateway import GatewaySettings, create_app
from app.sandbox import FakeUpstream, LiteLLMProxy
from app.sandbox.proxy import free_port
from app.settings import ProviderSettings
from tests.gateway.conftest import running

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = [{"role": "user", "content": "Summarise the benefits of unit tests in three sentences."}]
# auto never picks the proxy's mock (it ignores max_tokens: never route budgets to it) nor the free model (so every
# routed request here costs money and its cost can be checked)
EXCLUDE = "mock-gpt,llama-3-8b"
PRICES = {  # USD per token, as configured in the proxy (app.sandbox.default_test_models)
    "gpt-4o": (Decimal("2.5e-6"), Decimal("1e-5")),
    "gpt-4o-mini": (Decimal("1.5e-7"), Decimal("6e-7")),
    "claude-3-haiku": (Decimal("2.5e-7"), Decimal("1.25e-6")),
    "llama-3-8b": (Decimal(0), Decimal(0)),
}
GATEWAY_KEY = "sk-costmux-gateway-test"


def cost_of(model: str, usage: dict[str, Any]) -> Decimal:
    price_in, price_out = PRICES[model]
    return price_in * usage["prompt_tokens"] + price_out * usage["completion_tokens"]


@pytest.fixture
async def client(litellm_proxy: LiteLLMProxy) -> AsyncIterator[httpx.AsyncClient]:
    upstream = ProviderSettings(base_url=litellm_proxy.base_url, api_key=litellm_proxy.master_key)
    app = create_app(GatewaySettings.load(auto_exclude=EXCLUDE), upstream=upstream)
    async with running(app) as http:
        yield http


def paid_only(**fields: Any) -> dict[str, Any]:
    """A request ``auto`` routes to a paid model (the free one is excluded)."""
    return {"model": "auto", "messages": MESSAGES, **fields}


async def test_a_routed_request_costs_what_its_usage_says_within_the_cap(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=paid_only(max_cost=0.001))
    assert response.status_code == 200, response.text
    body, headers = response.json(), response.headers
    model = headers["x-costmux-model"]
    assert model in PRICES and body["choices"][0]["message"]["content"]
    assert Decimal(headers["x-costmux-cost"]) == cost_of(model, body["usage"]) <= Decimal("0.001")
    assert Decimal(headers["x-costmux-worst-case-cost"]) <= Decimal("0.001") == Decimal(headers["x-costmux-max-cost"])
    assert headers["x-costmux-strategy"] == "cost_optimized"


async def test_a_routed_stream_ends_with_done_and_its_cost(client: httpx.AsyncClient) -> None:
    request = paid_only(model="auto:heuristic", stream=True, stream_options={"include_usage": True})
    response = await client.post("/v1/chat/completions", json=request, headers={"X-Max-Cost": "0.002"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = [line[len("data: ") :] for line in response.text.split("\n\n") if line]
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    usage = chunks[-1]["usage"]
    model = response.headers["x-costmux-model"]
    assert text and response.headers["x-costmux-strategy"] == "heuristic"
    assert Decimal(repr(usage["cost"])) == cost_of(model, usage) <= Decimal("0.002")


async def test_an_impossible_cap_is_402(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/chat/completions", json=paid_only(max_cost=1e-12))
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "budget_exceeded" and Decimal(error["cheapest_cost"]) > Decimal("1e-12")


async def test_a_concrete_model_is_passed_through_and_checked_against_the_cap(client: httpx.AsyncClient) -> None:
    mini = await client.post("/v1/chat/completions", json=paid_only(model="gpt-4o-mini", max_cost=0.001))
    assert mini.status_code == 200 and mini.json()["model"].endswith("gpt-4o-mini")
    assert mini.headers["x-costmux-model"] == "gpt-4o-mini" and mini.headers["x-costmux-strategy"] == "passthrough"
    # a cap gpt-4o-mini fits but gpt-4o does not: the named model is refused, not swapped
    big = await client.post("/v1/chat/completions", json=paid_only(model="gpt-4o", max_cost=0.00005))
    assert big.status_code == 402, big.text
    mock = await client.post("/v1/chat/completions", json=paid_only(model="mock-gpt"))  # excluded from auto only
    assert mock.status_code == 200 and mock.headers["x-costmux-model"] == "mock-gpt"


async def test_models_health_and_metrics(client: httpx.AsyncClient) -> None:
    models = (await client.get("/v1/models")).json()["data"]
    by_id = {item["id"]: item for item in models}
    assert by_id["gpt-4o"]["costmux"]["input_usd_per_1m"] == "2.5"
    assert by_id["gpt-4o"]["costmux"]["output_usd_per_1m"] == "10"
    assert by_id["mock-gpt"]["costmux"]["auto"] is False and "auto:heuristic" in by_id
    health = await client.get("/health")
    assert health.status_code == 200 and health.json()["upstream"] == {"litellm": True}
    sent = await client.post("/v1/chat/completions", json=paid_only(model="gpt-4o-mini"))
    assert sent.status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'costmux_requests_total{model="gpt-4o-mini",outcome="success",provider="litellm"} 1.0' in metrics


class Served(NamedTuple):
    """A running ``costmux serve``: its URL, process and log file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path


@contextmanager
def serve(proxy: LiteLLMProxy, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """``costmux serve`` as a real process on a free port (extra ``args`` and ``env``); always stopped (SIGTERM,
    then SIGKILL), and its log must hold no traceback."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("COSTMUX_", "LITELLM_", "OPENAI_"))}
    environ.update(PYTHONPATH=str(ROOT), **(env or {}))
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--proxy-url", proxy.base_url]
    command += ["--api-key", proxy.master_key, "--gateway-key", GATEWAY_KEY, "--auto-exclude", EXCLUDE, *args]
    log_path = tmp_path / f"serve-{port}.log"
    log = log_path.open("w+")
    process = subprocess.Popen(command, cwd=tmp_path, env=environ, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, process, log)
        yield Served(base_url, process, log_path)
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises the signal: the exit status is -SIGTERM
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        log.seek(0)
        assert "Traceback" not in log.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def served(litellm_proxy: LiteLLMProxy, tmp_path: Path) -> Iterator[str]:
    """The URL of a ``costmux serve`` process in front of the session's proxy."""
    with serve(litellm_proxy, tmp_path) as running_gateway:
        yield running_gateway.base_url


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(trust_env=False, timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"costmux serve exited with {process.returncode}: {log.read()}")
            try:
                if http.get(base_url + "/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    pytest.fail("costmux serve did not become healthy within 30 s")


async def test_the_openai_client_talks_to_costmux_serve(served: str) -> None:
    async with openai.AsyncOpenAI(base_url=served + "/v1", api_key=GATEWAY_KEY, max_retries=0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="auto",
            messages=MESSAGES,
            extra_body={"max_cost": 0.001},  # type: ignore[arg-type]
        )
        completion = raw.parse()
        model = raw.headers["x-costmux-model"]
        assert completion.choices[0].message.content and completion.usage is not None
        usage = completion.usage.model_dump()
        assert Decimal(raw.headers["x-costmux-cost"]) == cost_of(model, usage) <= Decimal("0.001")

        raw_stream = await client.chat.completions.with_raw_response.create(
            model="auto:heuristic",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"X-Max-Cost": "0.002"},
        )
        streamed_model = raw_stream.headers["x-costmux-model"]
        text, last = "", None
        async for chunk in raw_stream.parse():
            if chunk.choices:
                text += chunk.choices[0].delta.content or ""
            last = chunk
        assert text and last is not None and last.usage is not None
        streamed_cost = Decimal(repr((last.usage.model_extra or {})["cost"]))
        assert streamed_cost == cost_of(streamed_model, last.usage.model_dump())
        assert streamed_cost <= Decimal("0.002")

        listed = {model.id async for model in client.models.list()}
        assert {"auto", "auto:cost_optimized", "gpt-4o-mini"} <= listed

        with pytest.raises(openai.APIStatusError) as refused:
            await client.chat.completions.create(
                model="auto",
                messages=MESSAGES,
                extra_body={"max_cost": 1e-12},  # type: ignore[arg-type]
            )
        assert refused.value.status_code == 402 and "budget" in str(refused.value.body)

    async with openai.AsyncOpenAI(base_url=served + "/v1", api_key="sk-wrong", max_retries=0) as intruder:
        with pytest.raises(openai.AuthenticationError):
            await intruder.chat.completions.create(model="auto", messages=MESSAGES)  # type: ignore[arg-type]


async def test_a_client_that_leaves_mid_stream_closes_the_upstream_stream(
    served: str, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.inject_slow(0.3)  # the next answer: frames 0.3 s apart
    auth = {"Authorization": f"Bearer {GATEWAY_KEY}"}
    request = {"model": "auto", "messages": MESSAGES, "stream": True, "max_tokens": 50}
    async with httpx.AsyncClient(base_url=served, headers=auth, timeout=30, trust_env=False) as http:
        async with http.stream("POST", "/v1/chat/completions", json=request) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break  # leave after the first event
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            metrics = (await http.get("/metrics")).text
            if 'outcome="cancelled"' in metrics:
                break
            await asyncio.sleep(0.1)
    cancelled = [
        line for line in metrics.splitlines() if line.startswith("costmux_requests_total{") and "cancelled" in line
    ]
    assert cancelled and cancelled[0].endswith(" 1.0"), metrics


async def test_costmux_serve_answers_hostile_bodies_cleanly(served: str, fake_upstream: FakeUpstream) -> None:
    """Through uvicorn (not only in-process): an over-limit body gets its 413 (not a closed connection), JSON nested
    past the decoder's limit a 400, an unknown content part a 400 naming it; a long body under the limit is served."""
    auth = {"Authorization": f"Bearer {GATEWAY_KEY}", "Content-Type": "application/json"}
    before = fake_upstream.chat_request_count
    async with httpx.AsyncClient(base_url=served, headers=auth, timeout=60, trust_env=False) as http:
        huge = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "x" * 20_000_000}]})
        response = await http.post("/v1/chat/completions", content=huge)
        assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"

        response = await http.post("/v1/chat/completions", content=b"[" * 50_000 + b"]" * 50_000)
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"

        weird = {"model": "auto", "messages": [{"role": "user", "content": [{"type": "weird"}]}]}
        response = await http.post("/v1/chat/completions", json=weird)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "messages[0].content[0].type"
        assert fake_upstream.chat_request_count == before  # none of them reached the upstream

        long_text = " ".join(f"word{i % 997}" for i in range(25_000))  # ~170 KB, ~90k tokens at most
        document = {"model": "auto", "messages": [{"role": "user", "content": "Summarise:\n" + long_text}]}
        response = await http.post("/v1/chat/completions", json=document)
        assert response.status_code == 200, response.text
        assert fake_upstream.chat_request_count == before + 1


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_clients_leaving_mid_stream_leak_no_descriptors_and_keys_stay_out_of_debug_logs(
    litellm_proxy: LiteLLMProxy, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    debug = {"COSTMUX_LOG_LEVEL": "DEBUG"}
    with serve(litellm_proxy, tmp_path, "--log-level", "debug", env=debug) as gateway:
        auth = {"Authorization": f"Bearer {GATEWAY_KEY}"}
        request = {"model": "auto", "messages": MESSAGES, "stream": True, "max_tokens": 50}
        async with httpx.AsyncClient(base_url=gateway.base_url, headers=auth, timeout=30, trust_env=False) as http:
            assert (await http.post("/v1/chat/completions", json={**request, "stream": False})).status_code == 200
            before = _open_fds(gateway.process.pid)

            async def leave_after_first_event() -> None:
                async with (
                    httpx.AsyncClient(base_url=gateway.base_url, headers=auth, timeout=30) as own,
                    own.stream("POST", "/v1/chat/completions", json=request) as response,
                ):
                    assert response.status_code == 200
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            break

            fake_upstream.inject_slow(0.2, count=40)
            await asyncio.gather(*(leave_after_first_event() for _ in range(40)))
            fake_upstream.clear_faults()
            deadline = time.monotonic() + 15
            while _open_fds(gateway.process.pid) > before + 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert _open_fds(gateway.process.pid) <= before + 2  # keep-alive connections may stay open
            assert (await http.post("/v1/chat/completions", json={**request, "stream": False})).status_code == 200
    log = gateway.log_path.read_text()
    assert GATEWAY_KEY not in log and litellm_proxy.master_key not in log
