"""Metrics fixtures: a fresh registry per test, a fake clock, and providers wired to a scripted proxy
(``httpx.MockTransport``) that takes ``CALL_S`` of the fake clock per chat call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from app.metrics import CostmuxMetrics
from app.providers import LiteLLMProvider, RetryPolicy
from tests.router.conftest import FLEET
from tests.scripted import CALL_S, PRICED, FakeClock, ScriptedProxy, chunk
from tests.unit.conftest import sse

MODELS: dict[str, dict[str, Any]] = {
    **FLEET,
    "m": PRICED,
    "rpm1": {**PRICED, "rate_limits": {"requests_per_minute": 1}},
}

__all__ = ["CALL_S", "MODELS", "PRICED", "FakeClock", "ScriptedProxy", "chunk", "sse"]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> CostmuxMetrics:
    return CostmuxMetrics(registry)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def proxy(clock: FakeClock) -> ScriptedProxy:
    return ScriptedProxy(clock)


@pytest.fixture
def make(clock: FakeClock, proxy: ScriptedProxy) -> Callable[..., LiteLLMProvider]:
    """A provider of ``MODELS`` (or ``models``) on the scripted proxy; no retries unless asked."""

    def build(models: dict[str, dict[str, Any]] = MODELS, **kwargs: Any) -> LiteLLMProvider:
        kwargs.setdefault("max_retries", 0)
        return LiteLLMProvider(
            "http://proxy.test",
            "k",
            custom_models=models,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(proxy)),
            retry_policy=RetryPolicy(sleep=clock.sleep),
            clock=clock,
            catalog=None,
            **kwargs,
        )

    return build


@pytest.fixture
def sample(registry: CollectorRegistry) -> Callable[..., float | None]:
    """``sample("costmux_requests_total", provider="litellm", ...)``: one sample's value, or ``None``."""

    def get(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    return get
