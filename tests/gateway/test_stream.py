"""Streamed chat completions in-process: SSE framing, the usage chunk with costmux's cost, fallbacks before the first
chunk (in the headers), errors after it (an error frame, no [DONE]), refusals before it (a JSON error, not SSE)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx

from tests.gateway.conftest import COMPLETION_TOKENS, MESSAGES, PROMPT_TOKENS, GatewayFactory, ScriptedProxy
from tests.router.conftest import FLEET


def events(response: httpx.Response) -> list[str]:
    """The ``data`` payloads, checking the framing: every event is one ``data: ...`` line and a blank line."""
    text = response.text
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), blocks
    return [block[len("data: ") :] for block in blocks]


def stream_request(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": MESSAGES, "stream": True, **fields}


def content(payloads: list[str]) -> str:
    chunks = [json.loads(p) for p in payloads if p != "[DONE]"]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


async def test_a_stream_is_sse_ending_with_done_and_carries_the_decision(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=stream_request(max_cost=0.01))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = events(response)
    assert payloads[-1] == "[DONE]" and content(payloads) == "hello"
    assert all("usage" not in json.loads(p) for p in payloads[:-1])  # the client did not ask for usage
    headers = response.headers
    assert headers["x-costmux-model"] == proxy.sent[0]["model"] and headers["x-costmux-strategy"] == "cost_optimized"
    assert Decimal(headers["x-costmux-worst-case-cost"]) <= Decimal("0.01") and "x-costmux-cost" not in headers
    assert proxy.sent[0]["stream"] is True


async def test_the_usage_chunk_carries_the_cost_when_asked_for(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    async with gateway() as client:
        response = await client.post(
            "/v1/chat/completions", json=stream_request(max_cost=0.01, stream_options={"include_usage": True})
        )
    payloads = events(response)
    usage_chunk = json.loads(payloads[-2])
    assert payloads[-1] == "[DONE]" and usage_chunk["choices"] == [{"index": 0, "delta": {}}]
    usage = usage_chunk["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (PROMPT_TOKENS, COMPLETION_TOKENS)
    model = response.headers["x-costmux-model"]
    prices = FLEET[model]["pricing"]
    expected = (
        Decimal(str(prices["input_per_1m"])) * PROMPT_TOKENS + Decimal(str(prices["output_per_1m"])) * COMPLETION_TOKENS
    ) / 10**6
    assert Decimal(repr(usage["cost"])) == expected


async def test_a_fallback_before_the_first_chunk_shows_in_the_headers(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    proxy.behaviour["frontier"] = 503
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=stream_request(model="auto:heuristic"))
    assert response.status_code == 200 and content(events(response)) == "hello"
    assert response.headers["x-costmux-model"] == "mid" and response.headers["x-costmux-fallbacks"] == "1"
    assert [body["model"] for body in proxy.sent] == ["frontier", "mid"]


async def test_a_failure_after_the_first_chunk_ends_with_an_error_frame(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    proxy.behaviour["frontier"] = "broken"
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=stream_request(model="auto:heuristic"))
    assert response.status_code == 200  # the status was sent with the first chunk
    payloads = events(response)
    assert "[DONE]" not in payloads and content(payloads[:-1]) == "par"
    error = json.loads(payloads[-1])["error"]
    assert (error["type"], error["code"]) == ("upstream_error", "stream_interrupted")
    assert error["message"] and [body["model"] for body in proxy.sent] == ["frontier"]  # no fallback after a chunk


async def test_errors_before_the_first_chunk_are_json_with_their_status(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    proxy.behaviour.update(dict.fromkeys(("frontier", "mid", "small"), 429))
    async with gateway() as client:
        over = await client.post("/v1/chat/completions", json=stream_request(max_cost=0.0000001))
        limited = await client.post("/v1/chat/completions", json=stream_request())
    assert over.status_code == 402 and over.headers["content-type"].startswith("application/json")
    assert over.json()["error"]["code"] == "budget_exceeded"
    assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limit_error"


async def test_stream_options_are_dropped_from_unstreamed_requests(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    async with gateway() as client:
        response = await client.post(
            "/v1/chat/completions",
            json={"model": "auto", "messages": MESSAGES, "stream_options": {"include_usage": True}},
        )
    assert response.status_code == 200 and "stream_options" not in proxy.sent[0]
