"""examples/gateway_integration.py (costmux inside a user's own Starlette app) against the real LiteLLM proxy:
in-process through httpx's ASGI transport, and as a real uvicorn process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from app.sandbox import LiteLLMProxy
from app.sandbox.proxy import free_port

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "gateway_integration.py"
QUESTION = {
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
    "max_cost": 0.002,
    "exclude": ["llama-3-8b", "mock-gpt"],  # paid models only: the free one fits any cap and costs nothing
}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gateway_integration", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
async def client(
    litellm_proxy: LiteLLMProxy, monkeypatch: pytest.MonkeyPatch, registry: CollectorRegistry
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("LITELLM_BASE_URL", litellm_proxy.base_url)
    monkeypatch.setenv("LITELLM_API_KEY", litellm_proxy.master_key)
    app: Starlette = load_example().create_app(registry)
    async with app.router.lifespan_context(app):  # httpx's transport does not run the lifespan itself
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


async def test_a_routed_request_and_its_metrics(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
    answers = [(await client.post("/ask", json=QUESTION)).json() for _ in range(2)]
    for answer in answers:
        assert answer["content"] and 0 < answer["cost_usd"] <= 0.002, answer
    model = answers[0]["model"]
    assert answers[1]["model"] == model  # the same question, the same choice

    scraped = await client.get("/metrics/")
    assert scraped.status_code == 200
    requests = f'costmux_requests_total{{model="{model}",outcome="success",provider="litellm"}} 2.0'
    decisions = f'costmux_routing_decisions_total{{model="{model}",provider="litellm",strategy="cost_optimized"}} 2.0'
    assert requests in scraped.text and decisions in scraped.text
    cost = registry.get_sample_value("costmux_cost_usd_total", {"provider": "litellm", "model": model})
    assert cost == pytest.approx(sum(a["cost_usd"] for a in answers), rel=1e-9, abs=1e-15)
    redirected = await client.get("/metrics", follow_redirects=True)  # Starlette: /metrics -> /metrics/
    assert "# HELP costmux_model_health " in redirected.text


async def test_refusals_and_bad_requests(client: httpx.AsyncClient, registry: CollectorRegistry) -> None:
    over = await client.post("/ask", json={**QUESTION, "max_cost": 1e-12})
    assert over.status_code == 402 and over.json()["error"]["cheapest_cost_usd"] > 1e-12
    assert (await client.post("/ask", json={**QUESTION, "max_cost": -1})).status_code == 400
    assert (await client.post("/ask", content=b"not json")).status_code == 400
    refusals = {"strategy": "cost_optimized", "reason": "over_budget"}
    assert registry.get_sample_value("costmux_budget_refusals_total", refusals) == 1


def test_the_example_runs_as_a_server(litellm_proxy: LiteLLMProxy) -> None:
    port = free_port()
    env = {**os.environ, "LITELLM_BASE_URL": litellm_proxy.base_url, "LITELLM_API_KEY": litellm_proxy.master_key}
    env.update(PYTHONPATH=str(EXAMPLE.parents[1]), PORT=str(port))
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLE)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=30) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    answer = http.post("/ask", json=QUESTION)
                    break
                except httpx.TransportError:
                    assert server.poll() is None and time.monotonic() < deadline, "the example did not start"
                    time.sleep(0.2)
            assert answer.status_code == 200 and answer.json()["content"]
            scraped = http.get("/metrics", follow_redirects=True).text
            assert f'model="{answer.json()["model"]}",outcome="success",provider="litellm"}} 1.0' in scraped
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)
    assert litellm_proxy.master_key not in output
