"""Gateway test helpers: the app in-process (httpx.ASGITransport, its lifespan run by the test) over a provider whose
HTTP goes to a scripted proxy (httpx.MockTransport): the faults and statuses the real proxy can't be made to give."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.gateway import GatewaySettings, create_app
from app.providers import LiteLLMProvider, RetryPolicy
from tests.router.conftest import FLEET

PROMPT_TOKENS = 20
COMPLETION_TOKENS = 30
MESSAGES = [{"role": "user", "content": "Write a Python function that reverses a linked list, with tests."}]


def chunk(model: str, content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": {"content": content} if content is not None else {}}
    if finish:
        choice["finish_reason"] = finish
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": [choice]}


def frames(*items: dict[str, Any], done: bool = True) -> bytes:
    text = "".join(f"data: {json.dumps(item)}\n\n" for item in items)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


class _Broken(httpx.AsyncByteStream):
    def __init__(self, data: bytes) -> None:
        self.data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.data
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


class ScriptedProxy:
    """A LiteLLM proxy stand-in. ``behaviour[model]``: an HTTP status (with an OpenAI error body), ``"timeout"``,
    ``"broken"`` (a stream that breaks after one chunk); ``healthy`` answers the health checks. Usage: 20 prompt
    tokens, ``min(30, max_tokens)`` completion tokens (priced by the provider from its custom models)."""

    def __init__(self) -> None:
        self.behaviour: dict[str, int | str] = {}
        self.healthy = True
        self.sent: list[dict[str, Any]] = []
        self.retry_after: str | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/model/info":
            return httpx.Response(200, json={"data": []})
        if path.startswith("/health/"):
            return httpx.Response(200 if self.healthy else 503, json={"status": "ok" if self.healthy else "down"})
        body = json.loads(request.content)
        self.sent.append(body)
        model = body["model"]
        what = self.behaviour.get(model)
        if isinstance(what, int):
            headers = {"llm_provider-retry-after": self.retry_after} if self.retry_after else {}
            error = {"error": {"message": f"{model} failed", "type": "upstream_type", "param": None, "code": str(what)}}
            return httpx.Response(what, json=error, headers=headers)
        if what == "timeout":
            raise httpx.ReadTimeout("no answer", request=request)
        completion = min(COMPLETION_TOKENS, body.get("max_tokens") or 10**9)
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion}
        usage["total_tokens"] = PROMPT_TOKENS + completion
        if not body.get("stream"):
            message = {"role": "assistant", "content": "hello"}
            answer = {"id": "x", "object": "chat.completion", "created": 1, "model": model, "usage": usage}
            answer["choices"] = [{"index": 0, "message": message, "finish_reason": "stop"}]
            return httpx.Response(200, json=answer)
        sse = {"content-type": "text/event-stream"}
        if what == "broken":
            return httpx.Response(200, stream=_Broken(frames(chunk(model, "par"), done=False)), headers=sse)
        usage_chunk = {"id": "c", "object": "chat.completion.chunk", "model": model, "usage": usage}
        usage_chunk["choices"] = [{"index": 0, "delta": {}}]
        body_frames = frames(chunk(model, "hel"), chunk(model, "lo"), chunk(model, finish="stop"), usage_chunk)
        return httpx.Response(200, content=body_frames, headers=sse)


async def _no_sleep(_: float) -> None:
    return None


def provider_for(proxy: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> LiteLLMProvider:
    kwargs.setdefault("max_retries", 0)
    return LiteLLMProvider(
        "http://proxy.test",
        "sk-upstream-secret",
        custom_models=FLEET,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(proxy)),
        catalog=None,
        retry_policy=RetryPolicy(sleep=_no_sleep),
        **kwargs,
    )


@pytest.fixture
def proxy() -> ScriptedProxy:
    return ScriptedProxy()


GatewayFactory = Callable[..., Any]


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan and give a client talking to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield client


@pytest.fixture
def gateway(proxy: ScriptedProxy) -> GatewayFactory:
    """``async with gateway(**settings) as client``: an httpx client talking to a started app in-process."""

    @asynccontextmanager
    async def start(**settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        provider = provider_for(proxy)
        app = create_app(GatewaySettings.load(**settings), providers={"litellm": provider})
        try:
            async with running(app) as client:
                yield client
        finally:
            await provider.aclose()

    return start


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "COSTMUX_API_KEY",
        "COSTMUX_HOST",
        "COSTMUX_PORT",
        "COSTMUX_DEFAULT_STRATEGY",
        "COSTMUX_DEFAULT_MAX_COST",
        "COSTMUX_BUDGET_MODE",
        "COSTMUX_AUTO_EXCLUDE",
        "COSTMUX_MAX_BODY_BYTES",
        "LITELLM_BASE_URL",
        "LITELLM_API_KEY",
        "COSTMUX_KEYS_FILE",
        "COSTMUX_REDIS_URL",
        "COSTMUX_REDIS_PREFIX",
        "COSTMUX_REDIS_CLUSTER",
        "COSTMUX_BUDGET_HOLD_TTL_S",
        "COSTMUX_BUDGET_LEASE_REQUESTS",
        "COSTMUX_BUDGET_LEASE_SHARE",
    ):
        monkeypatch.delenv(name, raising=False)
