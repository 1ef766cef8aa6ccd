"""Registration (the host's registry, no duplicate errors, nothing at import) and the three ways to scrape:
``render()``, the ASGI app, and ``start_metrics_server`` on a real loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from app.errors import ConfigurationError
from app.events import RequestFinished
from app.metrics import CostmuxMetrics, start_metrics_server
from app.providers import LiteLLMProvider

METRICS = {
    "costmux_requests": "counter",
    "costmux_request_duration_seconds": "histogram",
    "costmux_time_to_first_token_seconds": "histogram",
    "costmux_tokens": "counter",
    "costmux_cost_usd": "counter",
    "costmux_routing_decisions": "counter",
    "costmux_routing_rejections": "counter",
    "costmux_budget_refusals": "counter",
    "costmux_cost_over_estimate": "counter",
    "costmux_fallbacks": "counter",
    "costmux_retries": "counter",
    "costmux_rate_limit_holds": "counter",
    "costmux_rate_limit_wait_seconds": "histogram",
    "costmux_model_health": "gauge",
    "costmux_model_cooldown_seconds": "gauge",
    "costmux_breaker_openings": "counter",
    "costmux_routing_decision_seconds": "histogram",
    "costmux_budget_limit_usd": "gauge",
    "costmux_budget_spent_usd": "gauge",
    "costmux_budget_reserved_usd": "gauge",
    "costmux_budget_remaining_usd": "gauge",
    "costmux_spend_usd": "counter",
    "costmux_spend_refusals": "counter",
    "costmux_store_errors": "counter",
    "costmux_prompt_bound_factor": "gauge",
    "costmux_bound_misses": "counter",
}
SUCCESS = RequestFinished("litellm", "m", False, "success", 0.5, prompt_tokens=10, completion_tokens=20)
REQUESTS = {"provider": "litellm", "model": "m", "outcome": "success"}


def test_every_metric_is_registered_with_help_and_conventional_names(registry: CollectorRegistry) -> None:
    CostmuxMetrics(registry)
    found = {m.name: (m.type, m.documentation) for m in registry.collect()}
    assert {name: kind for name, (kind, _) in found.items()} == METRICS
    assert all(len(doc) > 20 for _, doc in found.values())
    text = CostmuxMetrics(registry).render().decode()
    for name, kind in METRICS.items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert f"# HELP {exposed} " in text and f"# TYPE {exposed} {kind}" in text


def test_two_instances_share_one_registry_s_collectors(
    registry: CollectorRegistry, make: Callable[..., LiteLLMProvider]
) -> None:
    first, second = CostmuxMetrics(registry), CostmuxMetrics(registry)
    first.instrument(make())
    second.instrument(make())
    first.observe(SUCCESS)
    second.observe(SUCCESS)
    assert registry.get_sample_value("costmux_requests_total", REQUESTS) == 2
    other = CollectorRegistry()
    CostmuxMetrics(other)
    assert other.get_sample_value("costmux_requests_total", REQUESTS) is None  # registries stay apart


def test_a_name_taken_by_the_host_is_a_clear_error_and_leaves_nothing_behind(registry: CollectorRegistry) -> None:
    Counter("costmux_fallbacks", "the host's own", registry=registry)
    with pytest.raises(ConfigurationError, match="cannot register costmux metrics"):
        CostmuxMetrics(registry)
    assert [m.name for m in registry.collect()] == ["costmux_fallbacks"]


def test_nothing_is_registered_at_import_and_the_default_is_the_global_registry() -> None:
    code = textwrap.dedent(
        """
        from prometheus_client import REGISTRY
        import app.metrics
        names = lambda: {m.name for m in REGISTRY.collect()}
        assert not any(n.startswith("costmux") for n in names()), names()
        metrics = app.metrics.CostmuxMetrics()
        assert metrics.registry is REGISTRY and "costmux_requests" in names()
        app.metrics.CostmuxMetrics()  # a second one on the global registry: no duplicate error
        """
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=root, env=env)
    assert done.returncode == 0, done.stderr


async def test_the_asgi_app_serves_the_registry(registry: CollectorRegistry) -> None:
    metrics = CostmuxMetrics(registry)
    metrics.observe(SUCCESS)
    transport = httpx.ASGITransport(app=metrics.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'costmux_requests_total{model="other",outcome="success",provider="other"} 1.0' in response.text


def test_render_and_its_content_type(registry: CollectorRegistry) -> None:
    metrics = CostmuxMetrics(registry)
    metrics.observe(SUCCESS)
    assert metrics.content_type.startswith("text/plain; version=")
    assert b'costmux_requests_total{model="other",outcome="success",provider="other"} 1.0' in metrics.render()


def test_start_metrics_server_serves_on_loopback_and_shuts_down(registry: CollectorRegistry) -> None:
    metrics = CostmuxMetrics(registry)
    metrics.observe(SUCCESS)
    server, thread = start_metrics_server(0, registry=registry)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1" and port > 0
        with httpx.Client(trust_env=False, timeout=10) as client:
            response = client.get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200 and "costmux_tokens_total" in response.text
        assert 'kind="completion",model="other",provider="other"} 20.0' in response.text
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert not thread.is_alive()
