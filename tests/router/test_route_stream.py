"""route_stream at the transport level: the decision and accounting of route_request, fallbacks only before the first
chunk, the cost once the stream has ended, the cap never exceeded, the router's events."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.errors import (
    BadRequestError,
    BudgetExceededError,
    InvalidRequestError,
    ProviderError,
    StreamInterruptedError,
)
from app.events import BudgetRefused, CostOverEstimate, Event, Fallback, RoutingDecided
from app.providers import LiteLLMProvider, RetryPolicy
from app.router import HeuristicRouter, RoutedStream
from tests.router.conftest import FLEET

MESSAGES = [{"role": "user", "content": "Write a Python function that reverses a linked list, with tests."}]
PROMPT_TOKENS = 20


def _chunk(model: str, content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": {"content": content} if content is not None else {}}
    if finish:
        choice["finish_reason"] = finish
    return {"id": "c", "object": "chat.completion.chunk", "model": model, "choices": [choice]}


def _frames(*frames: dict[str, Any], done: bool = True) -> bytes:
    text = "".join(f"data: {json.dumps(frame)}\n\n" for frame in frames)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


class _Broken(httpx.AsyncByteStream):
    """Some frames, then a reset connection."""

    def __init__(self, frames: bytes) -> None:
        self.frames = frames

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.frames
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


class StreamUpstream:
    """A scripted proxy for streams. ``behaviour[model]``: an HTTP status, ``"timeout"`` (no answer),
    ``"broken"`` (one chunk, then a reset) or ``"overrun"`` (ignores max_tokens). Others stream ``completion_tokens``
    tokens (at most max_tokens) with a usage chunk, priced by the provider."""

    def __init__(self, behaviour: dict[str, int | str] | None = None, completion_tokens: int = 30) -> None:
        self.behaviour = dict(behaviour or {})
        self.completion_tokens = completion_tokens
        self.sent: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        body = json.loads(request.content)
        self.sent.append(body)
        model = body["model"]
        what = self.behaviour.get(model)
        if isinstance(what, int):
            return httpx.Response(what, json={"error": {"message": f"{model} failed"}})
        if what == "timeout":
            raise httpx.ReadTimeout("no answer", request=request)
        headers = {"content-type": "text/event-stream"}
        if what == "broken":
            return httpx.Response(200, stream=_Broken(_frames(_chunk(model, "par"), done=False)), headers=headers)
        completion = (
            self.completion_tokens
            if what == "overrun"
            else min(self.completion_tokens, body.get("max_tokens") or 10**9)
        )
        usage = {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": completion}
        usage["total_tokens"] = PROMPT_TOKENS + completion
        frames = _frames(
            _chunk(model, "hel"),
            _chunk(model, "lo"),
            _chunk(model, finish="stop"),
            {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}}], "usage": usage},
        )
        return httpx.Response(200, content=frames, headers=headers)


async def _no_sleep(_: float) -> None:
    return None


def provider_for(upstream: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> LiteLLMProvider:
    kwargs.setdefault("max_retries", 0)
    return LiteLLMProvider(
        "http://proxy.test",
        "k",
        custom_models=FLEET,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(upstream)),
        catalog=None,
        retry_policy=RetryPolicy(sleep=_no_sleep),
        **kwargs,
    )


def price(model: str, prompt: int, completion: int) -> Decimal:
    prices = FLEET[model]["pricing"]
    return (Decimal(str(prices["input_per_1m"])) * prompt + Decimal(str(prices["output_per_1m"])) * completion) / 10**6


async def collect(stream: RoutedStream) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def text(chunks: list[dict[str, Any]]) -> str:
    return "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)


async def test_streams_the_choice_and_knows_its_cost_after_the_end() -> None:
    upstream = StreamUpstream()
    events: list[Event] = []
    router = HeuristicRouter(observers=[events.append])
    routed = await router.route_stream(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert routed.model == routed.decision.model == "frontier" and routed.provider == "p"
    assert routed.cost_usd is None and routed.fallbacks == 0
    chunks = await collect(routed)
    assert text(chunks) == "hello" and all("usage" not in chunk for chunk in chunks)
    assert routed.completed and routed.usage is not None and routed.usage.completion_tokens == 30
    assert Decimal(repr(routed.cost_usd)) == price("frontier", PROMPT_TOKENS, 30)
    assert routed.cost_usd is not None and routed.cost_usd <= 0.05
    sent = upstream.sent[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert sent["max_tokens"] == routed.decision.max_tokens == routed.max_tokens
    assert [attempt.error for attempt in routed.attempts] == [None]
    assert [type(event) for event in events] == [RoutingDecided]


async def test_the_usage_chunk_is_passed_when_the_caller_asks_for_it() -> None:
    routed = await HeuristicRouter().route_stream(
        MESSAGES, {"p": provider_for(StreamUpstream())}, max_cost=0.05, stream_options={"include_usage": True}
    )
    chunks = await collect(routed)
    assert chunks[-1]["usage"]["completion_tokens"] == 30 and text(chunks) == "hello"


async def test_falls_back_before_the_first_chunk_within_the_remaining_budget() -> None:
    upstream = StreamUpstream({"frontier": 503})
    events: list[Event] = []
    router = HeuristicRouter(observers=[events.append])
    routed = await router.route_stream(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert routed.model == "mid" and routed.decision.model == "frontier" and routed.fallbacks == 1
    assert [body["model"] for body in upstream.sent] == ["frontier", "mid"]
    assert text(await collect(routed)) == "hello"
    first, second = routed.attempts
    assert first.error is not None and first.cost_usd == 0 and second.error is None
    assert Decimal(repr(routed.cost_usd)) == price("mid", PROMPT_TOKENS, 30)
    assert [type(event) for event in events] == [RoutingDecided, Fallback]
    fallback = events[1]
    assert isinstance(fallback, Fallback)
    assert (fallback.provider, fallback.model, fallback.error, fallback.strategy) == (
        "p",
        "frontier",
        "unavailable",
        "heuristic",
    )


async def test_an_unanswered_attempt_is_charged_its_worst_case_and_not_retried_under_a_cap() -> None:
    upstream = StreamUpstream({"frontier": "timeout"})
    provider = provider_for(upstream, max_retries=2)  # the provider would retry it without a cap
    routed = await HeuristicRouter().route_stream(MESSAGES, {"p": provider}, max_cost=0.05, max_tokens=1000)
    await collect(routed)
    assert [body["model"] for body in upstream.sent] == ["frontier", "mid"]
    first, second = routed.attempts
    assert first.cost_usd == first.worst_case_cost_usd and first.cost_usd > 0
    assert second.worst_case_cost_usd is not None
    assert first.cost_usd + second.worst_case_cost_usd <= Decimal("0.05")  # the fallback was replanned
    assert Decimal(repr(routed.cost_usd)) == first.cost_usd + second.cost_usd
    assert routed.cost_usd is not None and routed.cost_usd <= 0.05


async def test_a_failure_after_the_first_chunk_is_raised_to_the_consumer() -> None:
    upstream = StreamUpstream({"frontier": "broken"})
    events: list[Event] = []
    router = HeuristicRouter(observers=[events.append])
    routed = await router.route_stream(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    received: list[dict[str, Any]] = []
    with pytest.raises(StreamInterruptedError):
        async for chunk in routed:
            received.append(chunk)
    assert text(received) == "par" and [body["model"] for body in upstream.sent] == ["frontier"]
    (attempt,) = routed.attempts
    assert isinstance(attempt.error, StreamInterruptedError)
    assert attempt.cost_usd == attempt.worst_case_cost_usd  # the upstream may have generated all of it
    assert Decimal(repr(routed.cost_usd)) == attempt.cost_usd and routed.cost_usd is not None
    assert routed.cost_usd <= 0.05 and not routed.completed
    assert [type(event) for event in events] == [RoutingDecided]  # no fallback once chunks were delivered


async def test_a_bad_request_is_raised_without_trying_other_models() -> None:
    upstream = StreamUpstream({"frontier": 400})
    with pytest.raises(BadRequestError):
        await HeuristicRouter().route_stream(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert len(upstream.sent) == 1


async def test_every_candidate_failing_raises_the_last_error() -> None:
    upstream = StreamUpstream({"frontier": 503, "mid": 502, "small": 503})
    with pytest.raises(ProviderError) as caught:
        await HeuristicRouter(max_attempts=2).route_stream(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert caught.value.status_code == 502 and len(upstream.sent) == 2


async def test_a_cap_no_model_fits_is_refused_before_anything_is_sent() -> None:
    upstream = StreamUpstream()
    events: list[Event] = []
    router = HeuristicRouter(observers=[events.append])
    with pytest.raises(BudgetExceededError) as caught:
        await router.route_stream(MESSAGES, {"p": provider_for(upstream)}, max_cost=1e-9)
    assert caught.value.cheapest_cost_usd is not None and caught.value.cheapest_cost_usd > 1e-9
    assert upstream.sent == [] and [type(event) for event in events] == [BudgetRefused]


async def test_an_actual_cost_over_the_estimate_is_reported() -> None:
    upstream = StreamUpstream({"frontier": "overrun"}, completion_tokens=5000)
    events: list[Event] = []
    routed = await HeuristicRouter(observers=[events.append]).route_stream(
        MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05, max_tokens=100
    )
    await collect(routed)
    (attempt,) = routed.attempts
    assert attempt.cost_usd == price("frontier", PROMPT_TOKENS, 5000) > (attempt.worst_case_cost_usd or 0)
    over = [event for event in events if isinstance(event, CostOverEstimate)]
    assert len(over) == 1 and over[0].model == "frontier" and over[0].cost_usd == attempt.cost_usd


async def test_a_stream_closed_early_is_charged_its_worst_case() -> None:
    routed = await HeuristicRouter().route_stream(MESSAGES, {"p": provider_for(StreamUpstream())}, max_cost=0.05)
    async with routed:
        async for _ in routed:
            break
    (attempt,) = routed.attempts
    assert attempt.error is None and attempt.cost_usd == attempt.worst_case_cost_usd
    assert Decimal(repr(routed.cost_usd)) == attempt.cost_usd and not routed.completed
    await routed.aclose()  # idempotent
    assert len(routed.attempts) == 1


async def test_a_stream_is_iterated_once() -> None:
    routed = await HeuristicRouter().route_stream(MESSAGES, {"p": provider_for(StreamUpstream())})
    await collect(routed)
    with pytest.raises(RuntimeError):
        aiter(routed)


async def test_providers_that_cannot_stream_are_refused() -> None:
    class NoStream:
        def __init__(self, inner: LiteLLMProvider) -> None:
            self._inner = inner
            self.name = inner.name

        def __getattr__(self, name: str) -> Any:
            if name == "stream_chat_completion":
                raise AttributeError(name)
            return getattr(self._inner, name)

    with pytest.raises(InvalidRequestError, match="stream"):
        await HeuristicRouter().route_stream(MESSAGES, {"p": NoStream(provider_for(StreamUpstream()))})  # type: ignore[dict-item]


@pytest.mark.parametrize("seed", range(3))
async def test_the_cap_is_never_exceeded_whatever_fails(seed: int) -> None:
    """Random caps and random failures of every kind, before and after the first chunk: the total charged for a
    request (failed attempts included) never exceeds its cap."""
    rng = random.Random(seed)
    outcomes: list[int | str | None] = [None, None, 503, 429, "timeout", "broken", 400]
    seen = {"completed": 0, "interrupted": 0, "fell_back": 0}
    for _ in range(80):
        upstream = StreamUpstream(
            {model: what for model in FLEET if (what := rng.choice(outcomes)) is not None},
            completion_tokens=rng.randint(1, 3000),
        )
        cap = Decimal(str(round(10 ** rng.uniform(-5, -1.5), 8)))
        router = HeuristicRouter() if rng.random() < 0.5 else HeuristicRouter(max_attempts=3)
        try:
            routed = await router.route_stream(
                MESSAGES, {"p": provider_for(upstream)}, max_cost=cap, max_tokens=rng.choice([None, 50, 2000])
            )
        except (ProviderError, BudgetExceededError):
            continue
        try:
            await collect(routed)
            seen["completed"] += 1
        except StreamInterruptedError:
            seen["interrupted"] += 1
        seen["fell_back"] += routed.fallbacks > 0
        assert routed.cost_usd is not None
        assert sum(attempt.cost_usd for attempt in routed.attempts) <= cap
        assert Decimal(repr(routed.cost_usd)) <= cap
    assert all(count > 0 for count in seen.values()), seen  # every path was exercised
