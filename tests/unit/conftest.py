"""Transport-level fixtures: a LiteLLMProvider wired to an ``httpx.MockTransport`` with a scripted handler."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.providers import LiteLLMProvider, RetryPolicy

API_KEY = "sk-unit-secret-0123456789"
BASE_URL = "http://proxy.test:4000"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Counts requests per path and records the waits the retry policy asked for."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def calls(self, path: str) -> int:
        return sum(1 for request in self.requests if request.url.path == path)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def completion_body(
    model: str = "gpt-4o", content: str = "hi", prompt: int = 10, completion: int = 20
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def model_info_body(*entries: tuple[str, Any, Any]) -> dict[str, Any]:
    """``/model/info`` with one deployment per (name, input_cost_per_token, output_cost_per_token)."""
    return {
        "data": [
            {
                "model_name": name,
                "litellm_params": {"model": f"openai/{name}"},
                "model_info": {"input_cost_per_token": cin, "output_cost_per_token": cout, "max_tokens": 4096},
            }
            for name, cin, cout in entries
        ]
    }


def sse(*frames: dict[str, Any] | str, done: bool = True) -> bytes:
    parts = [f"data: {frame if isinstance(frame, str) else json.dumps(frame)}\n\n" for frame in frames]
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_provider(recorder: Recorder) -> Callable[..., LiteLLMProvider]:
    """Build a provider whose HTTP goes to ``handler``; /model/info answers an empty list unless handled."""

    def build(handler: Handler, **kwargs: Any) -> LiteLLMProvider:
        def route(request: httpx.Request) -> httpx.Response:
            recorder.requests.append(request)
            return handler(request)

        client = httpx.AsyncClient(transport=httpx.MockTransport(route))
        kwargs.setdefault("retry_policy", RetryPolicy(sleep=recorder.sleep))
        return LiteLLMProvider(BASE_URL, API_KEY, http_client=client, **kwargs)

    return build


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LITELLM_BASE_URL",
        "LITELLM_PROXY_BASE_URL",
        "OPENAI_BASE_URL",
        "LITELLM_API_KEY",
        "LITELLM_PROXY_API_KEY",
        "OPENAI_API_KEY",
        "COSTMUX_COST_TRACKING",
        "COSTMUX_TIMEOUT_S",
        "COSTMUX_MAX_RETRIES",
        "COSTMUX_MODELS_CACHE_TTL_S",
        "COSTMUX_RATE_LIMIT_TIMEOUT_S",
    ):
        monkeypatch.delenv(name, raising=False)
