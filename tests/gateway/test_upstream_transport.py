"""The gateway's upstream client: with aiohttp's transport the provider sees exactly what it sees with httpx's own
(same answers, same errors, same ``request_sent``: the budget accounting depends on it), over real loopback sockets
to the fake upstream and its injected faults (resets, stalls, cut streams the real proxy can't be made to produce)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from app.errors import CostmuxError, ProviderError
from app.gateway.upstream import upstream_client
from app.providers import LiteLLMProvider
from app.sandbox import FakeUpstream
from app.sandbox.proxy import free_port

MESSAGES = [{"role": "user", "content": "Name three prime numbers."}]
MODELS = {"gpt-4o-mini": {"pricing": {"input_per_1m": 0.15, "output_per_1m": 0.6}}}
KINDS = ("httpx", "aiohttp")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@asynccontextmanager
async def provider_over(kind: str, base_url: str, *, timeout_s: float = 5.0) -> AsyncIterator[LiteLLMProvider]:
    """A provider whose HTTP client is the gateway's, over httpx's or aiohttp's transport."""
    client = upstream_client(timeout_s=timeout_s, use_aiohttp=kind == "aiohttp")
    try:
        async with LiteLLMProvider(base_url, "sk-fake", MODELS, http_client=client, max_retries=0, catalog=None) as p:
            yield p
    finally:
        await client.aclose()


def outcome(exc: BaseException) -> tuple[Any, ...]:
    """What the accounting and the error answers depend on."""
    if isinstance(exc, ProviderError):
        return (type(exc).__name__, exc.status_code, exc.request_sent, exc.retryable)
    return (type(exc).__name__,)


async def chat(provider: LiteLLMProvider) -> Any:
    try:
        response = await provider.chat_completion(MESSAGES, "gpt-4o-mini", max_tokens=20, retry_unanswered=False)
    except CostmuxError as exc:
        return outcome(exc)
    return (response.content, response.usage, response.cost_usd)


async def stream(provider: LiteLLMProvider, **params: Any) -> Any:
    chunks: list[str] = []
    stream = provider.stream_chat_completion(MESSAGES, "gpt-4o-mini", max_tokens=20, **params)
    try:
        async for chunk in stream:
            if chunk["choices"]:
                chunks.append(chunk["choices"][0]["delta"].get("content") or "")
    except CostmuxError as exc:
        return (*outcome(exc), "".join(chunks))
    return ("".join(chunks), stream.usage, stream.cost_usd)


@pytest.mark.parametrize(
    "fault",
    [
        None,
        {"status": 429, "headers": {"retry-after": "3"}},
        {"status": 503},
        {"status": 400},
        {"kind": "reset"},
        {"kind": "malformed"},
        {"kind": "truncate"},
        {"kind": "delay", "delay_s": 1.5},
    ],
    ids=["ok", "429", "503", "400", "reset", "malformed", "truncated", "stall"],
)
async def test_chat_completions_end_the_same_over_both_transports(
    upstream: FakeUpstream, fault: dict[str, Any] | None
) -> None:
    timeout_s = 0.5 if fault is not None and fault.get("kind") == "delay" else 5.0
    results = []
    for kind in KINDS:
        if fault is not None:
            upstream.inject(**fault)
        async with provider_over(kind, upstream.base_url, timeout_s=timeout_s) as provider:
            results.append(await chat(provider))
    httpx_result, aiohttp_result = results
    assert aiohttp_result == httpx_result
    if fault is None:
        assert httpx_result[0] and httpx_result[2] is not None and httpx_result[2] > 0
    elif fault.get("kind") in ("reset", "delay"):
        assert httpx_result[2] is True  # sent, no answer: may have been generated (charged its worst case)


@pytest.mark.parametrize(
    "fault",
    [None, {"kind": "reset", "chunks": 2}, {"kind": "truncate", "chunks": 2}, {"kind": "malformed", "chunks": 3}],
    ids=["ok", "reset-mid-stream", "truncated", "malformed-frame"],
)
async def test_streams_end_the_same_over_both_transports(upstream: FakeUpstream, fault: dict[str, Any] | None) -> None:
    results = []
    for kind in KINDS:
        if fault is not None:
            upstream.inject(**fault)
        async with provider_over(kind, upstream.base_url) as provider:
            results.append(await stream(provider, stream_options={"include_usage": True}))
    assert results[0] == results[1]
    if fault is None:
        assert results[0][0] and results[0][1] is not None
    else:
        assert results[0][0] in ("StreamInterruptedError", "InvalidResponseError") and results[0][-1]


async def test_a_refused_connection_was_not_sent_over_both_transports() -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    results = []
    for kind in KINDS:
        async with provider_over(kind, closed) as provider:
            results.append(await chat(provider))
    assert results[0] == results[1] == ("ProviderUnavailableError", None, False, True)
