"""Metrics fixtures: a fresh registry per test, a fake clock, and providers wired to a scripted proxy
(``httpx.MockTransport``) that takes ``CALL_S`` of the fake clock per chat call."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from app.metrics import CostmuxMetrics
from app.providers import LiteLLMProvider, RetryPolicy
from tests.router.conftest import FLEET
from tests.unit.conftest import completion_body, sse

CALL_S = 0.25  # seconds each scripted chat call takes on the fake clock
PRICED = {"pricing": {"input_per_1m": 2, "output_per_1m": 8}}  # $2e-6 / $8e-6 per token
MODELS: dict[str, dict[str, Any]] = {
    **FLEET,
    "m": PRICED,
    "rpm1": {**PRICED, "rate_limits": {"requests_per_minute": 1}},
}

__all__ = ["CALL_S", "MODELS", "Clock", "Proxy", "chunk", "sse"]


class Clock:
    """A fake monotonic clock; ``sleep`` records and advances it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Proxy:
    """Scripted proxy: per-model queue of answers (``int`` status or SSE bytes); 200 with 10 prompt and
    ``completion_tokens`` completion tokens when the queue is empty."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.script: dict[str, list[int | bytes]] = {}
        self.completion_tokens = 20

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        body = json.loads(request.content)
        self.clock.now += CALL_S
        queue = self.script.get(body["model"]) or []
        answer = queue.pop(0) if queue else 200
        if isinstance(answer, bytes):
            return httpx.Response(200, content=answer, headers={"content-type": "text/event-stream"})
        if answer == 429:
            return httpx.Response(429, json={"error": {"message": "later"}}, headers={"llm_provider-retry-after": "60"})
        if answer != 200:
            return httpx.Response(answer, json={"error": {"message": "scripted failure"}})
        return httpx.Response(
            200, json=completion_body(model=body["model"], prompt=10, completion=self.completion_tokens)
        )


def chunk(content: str | None = None, finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": {"content": content} if content is not None else {}}
    if finish:
        choice["finish_reason"] = finish
    frame: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "choices": [] if usage else [choice]}
    if usage:
        frame["usage"] = usage
    return frame


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> CostmuxMetrics:
    return CostmuxMetrics(registry)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def proxy(clock: Clock) -> Proxy:
    return Proxy(clock)


@pytest.fixture
def make(clock: Clock, proxy: Proxy) -> Callable[..., LiteLLMProvider]:
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
