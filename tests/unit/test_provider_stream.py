"""stream_chat_completion at the transport level: usage chunk, [DONE], cuts, errors before and after the first chunk."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from app.errors import InvalidResponseError, ProviderUnavailableError, RateLimitError, StreamInterruptedError
from app.providers import LiteLLMProvider
from tests.unit.conftest import Recorder, model_info_body, sse

Make = Callable[..., LiteLLMProvider]
MESSAGES = [{"role": "user", "content": "Hello"}]


def chunk(content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if finish:
        choice["finish_reason"] = finish
    return {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o", "choices": [choice]}


LITELLM_USAGE = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 2, "total_tokens": 14, "cost": 4.25e-6},
}
OPENAI_USAGE = {"id": "c1", "object": "chat.completion.chunk", "choices": [], "usage": LITELLM_USAGE["usage"]}


def stream_proxy(*bodies: bytes | httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(bodies)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json=model_info_body(("gpt-4o", 2.5e-06, 1e-05)))
        body = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(body, httpx.Response):
            return body
        return httpx.Response(
            200, content=body, headers={"content-type": "text/event-stream", "x-litellm-call-id": "call-9"}
        )

    return handler


async def collect(stream: Any) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


async def test_stream_yields_content_and_exposes_usage_and_cost(make_provider: Make, recorder: Recorder) -> None:
    body = sse(chunk("hel"), chunk("lo"), chunk(finish="stop"), LITELLM_USAGE)
    provider = make_provider(stream_proxy(body))
    stream = provider.stream_chat_completion(MESSAGES, "gpt-4o")
    chunks = await collect(stream)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "hello"
    assert len(chunks) == 3  # the usage-only chunk was not asked for by the caller
    assert stream.usage is not None and stream.usage.total_tokens == 14
    assert stream.cost_usd == 4.25e-6 and stream.cost_source == "proxy"
    assert stream.call_id == "call-9" and stream.finish_reason == "stop" and stream.completed
    sent = json.loads(next(r for r in recorder.requests if r.url.path == "/v1/chat/completions").content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("usage_chunk", [LITELLM_USAGE, OPENAI_USAGE])
async def test_usage_chunk_is_passed_when_asked_and_never_has_empty_choices(
    make_provider: Make, usage_chunk: dict[str, Any]
) -> None:
    provider = make_provider(stream_proxy(sse(chunk("hi"), chunk(finish="stop"), usage_chunk)))
    chunks = await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o", stream_options={"include_usage": True}))
    assert chunks[-1]["usage"]["total_tokens"] == 14
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}}]


async def test_stream_cost_is_computed_when_the_proxy_reports_none(make_provider: Make) -> None:
    usage = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
    provider = make_provider(stream_proxy(sse(chunk("x"), usage)))
    stream = provider.stream_chat_completion(MESSAGES, "gpt-4o")
    await collect(stream)
    assert stream.cost_source == "computed" and stream.cost_usd == pytest.approx(100 * 2.5e-06 + 10 * 1e-05)


async def test_a_stream_cut_after_chunks_raises_stream_interrupted(make_provider: Make, recorder: Recorder) -> None:
    provider = make_provider(stream_proxy(sse(chunk("partial"), chunk(" answer"), done=False)))
    received: list[dict[str, Any]] = []
    with pytest.raises(StreamInterruptedError):
        async for item in provider.stream_chat_completion(MESSAGES, "gpt-4o"):
            received.append(item)
    assert len(received) == 2 and recorder.calls("/v1/chat/completions") == 1


class BrokenStream(httpx.AsyncByteStream):
    """Sends some frames, then fails like a reset connection."""

    def __init__(self, frames: bytes) -> None:
        self.frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.frames
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


async def test_a_connection_reset_mid_stream_is_not_retried(make_provider: Make, recorder: Recorder) -> None:
    broken = httpx.Response(200, stream=BrokenStream(sse(chunk("a"), done=False)))
    provider = make_provider(stream_proxy(broken))
    with pytest.raises(StreamInterruptedError) as caught:
        await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))
    assert not caught.value.retryable and recorder.calls("/v1/chat/completions") == 1


async def test_an_error_before_the_first_chunk_is_mapped_and_retried(make_provider: Make, recorder: Recorder) -> None:
    down = httpx.Response(503, json={"error": {"message": "upstream down"}})
    provider = make_provider(stream_proxy(down, sse(chunk("ok"), chunk(finish="stop"), LITELLM_USAGE)))
    chunks = await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))
    assert chunks[0]["choices"][0]["delta"]["content"] == "ok"
    assert recorder.calls("/v1/chat/completions") == 2 and len(recorder.sleeps) == 1


async def test_an_error_before_the_first_chunk_raises_after_retries(make_provider: Make, recorder: Recorder) -> None:
    down = httpx.Response(503, json={"error": {"message": "upstream down"}})
    provider = make_provider(stream_proxy(down), max_retries=1)
    with pytest.raises(ProviderUnavailableError):
        await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))
    assert recorder.calls("/v1/chat/completions") == 2


async def test_an_error_frame_as_first_event_is_mapped(make_provider: Make) -> None:
    error = {"error": {"message": "rate limited", "type": "throttling_error", "code": "429"}}
    provider = make_provider(stream_proxy(sse(error)), max_retries=0)
    with pytest.raises(RateLimitError):
        await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))


async def test_an_error_frame_mid_stream_is_raised_and_not_retryable(make_provider: Make, recorder: Recorder) -> None:
    error = {"error": {"message": "upstream failed", "code": "500"}}
    provider = make_provider(stream_proxy(sse(chunk("a"), error)))
    with pytest.raises(ProviderUnavailableError) as caught:
        await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))
    assert not caught.value.retryable and recorder.calls("/v1/chat/completions") == 1


@pytest.mark.parametrize("body", [b"data: [DONE]\n\n", b"", b"data: {not json}\n\n"])
async def test_empty_or_malformed_streams_are_invalid_responses(make_provider: Make, body: bytes) -> None:
    provider = make_provider(stream_proxy(body), max_retries=0)
    with pytest.raises(InvalidResponseError):
        await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))


async def test_sse_comments_and_event_fields_are_ignored(make_provider: Make) -> None:
    body = b": keep-alive\n\nevent: message\ndata: " + json.dumps(chunk("x")).encode() + b"\n\ndata: [DONE]\n\n"
    provider = make_provider(stream_proxy(body))
    chunks = await collect(provider.stream_chat_completion(MESSAGES, "gpt-4o"))
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["x"]


async def test_closing_early_closes_the_response(make_provider: Make) -> None:
    provider = make_provider(stream_proxy(sse(chunk("a"), chunk("b"), chunk(finish="stop"))))
    async with provider.stream_chat_completion(MESSAGES, "gpt-4o") as stream:
        async for _ in stream:
            break
    assert stream._opened is not None and stream._opened.response.is_closed


async def test_a_stream_can_be_iterated_once(make_provider: Make) -> None:
    provider = make_provider(stream_proxy(sse(chunk("a"))))
    stream = provider.stream_chat_completion(MESSAGES, "gpt-4o")
    await collect(stream)
    with pytest.raises(RuntimeError):
        stream.__aiter__()
