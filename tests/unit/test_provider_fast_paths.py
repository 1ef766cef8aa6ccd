"""The provider's hot-path shortcuts keep its behaviour: plain messages skip pydantic but come out the same, the
token estimate is made before sending only for models with a tokens-per-minute limit (also when one appears during a
wait; every answered call is counted once, for learning its prompt bound from the billed usage),
completions in any JSON encoding still parse, and a first attempt run outside tenacity still leads to the same
retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import app.providers.litellm_provider as litellm_provider
from app.errors import InvalidRequestError, InvalidResponseError, RateLimitError
from app.models import ChatMessage, to_message_dicts
from app.providers import LiteLLMProvider, RateLimiter, RateLimits
from app.providers.payloads import request_body
from tests.unit.conftest import Recorder, completion_body

Make = Callable[..., LiteLLMProvider]
MESSAGES = [{"role": "user", "content": "Hello there, how are you?"}]
PRICING = {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}


def chat(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/model/info":
        return httpx.Response(200, json={"data": []})
    return httpx.Response(200, json=completion_body(model="m", prompt=10, completion=5))


@pytest.fixture
def estimates(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The upper estimates the provider computed for admission (by wrapping its token counter)."""
    made: list[int] = []
    real = litellm_provider.count_prompt_tokens

    def counting(*args: Any, **kwargs: Any) -> Any:
        counts = real(*args, **kwargs)
        made.append(counts.upper_estimate_tokens)
        return counts

    monkeypatch.setattr(litellm_provider, "count_prompt_tokens", counting)
    return made


async def test_a_model_without_a_token_limit_is_admitted_without_counting_the_prompt(
    make_provider: Make, estimates: list[int]
) -> None:
    counted_before_sending: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/chat/completions":
            counted_before_sending.append(len(estimates))
        return chat(request)

    provider = make_provider(
        handler, custom_models={"m": {"pricing": PRICING, "rate_limits": {"requests_per_minute": 5}}}
    )
    await provider.chat_completion(MESSAGES, "m")
    assert counted_before_sending == [0]
    assert len(estimates) == 1  # once, after the answer: learning the prompt bound from the billed usage
    assert provider.get_model_info("m")["rate_limit"]["requests_available"] == pytest.approx(4, abs=0.01)


async def test_a_model_with_a_token_limit_is_charged_the_estimate_before_sending(
    make_provider: Make, estimates: list[int]
) -> None:
    seen: list[float] = []
    provider: LiteLLMProvider

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/chat/completions":
            seen.append(provider.get_model_info("m")["rate_limit"]["tokens_available"])
        return chat(request)

    provider = make_provider(
        handler, custom_models={"m": {"pricing": PRICING, "rate_limits": {"tokens_per_minute": 10_000}}}
    )
    await provider.chat_completion(MESSAGES, "m", max_tokens=50)
    (estimate,) = estimates  # counted once: the learning after the answer reuses the admission's count
    assert seen == [pytest.approx(10_000 - (estimate + 50), abs=1)]
    # after the call the actual usage (15 tokens) replaces the estimate
    assert provider.get_model_info("m")["rate_limit"]["tokens_available"] == pytest.approx(10_000 - 15, abs=1)


async def test_a_token_limit_appearing_during_a_wait_is_charged_the_estimate() -> None:
    limits: dict[str, RateLimits] = {"m": RateLimits(requests_per_minute=1)}
    now = [0.0]
    calls: list[int] = []

    async def sleep(seconds: float) -> None:
        now[0] += seconds
        limits["m"] = RateLimits(requests_per_minute=1, tokens_per_minute=1_000)  # e.g. a /model/info refresh

    limiter = RateLimiter(limits.get, clock=lambda: now[0], sleep=sleep)
    limiter.try_acquire("m", 0)  # takes the only request: the next one waits

    def estimate() -> int:
        calls.append(1)
        return 300

    reservation = await limiter.acquire("m", estimate, timeout_s=None)
    assert calls == [1] and reservation.tokens == 300
    assert limiter.snapshot("m")["tokens_available"] == pytest.approx(700)


async def test_a_lazy_estimate_over_the_token_limit_is_refused() -> None:
    limiter = RateLimiter({"m": RateLimits(tokens_per_minute=100)}.get, clock=lambda: 0.0)
    with pytest.raises(RateLimitError, match="request of 500 tokens is larger"):
        await limiter.acquire("m", lambda: 500, timeout_s=0)


async def test_a_completion_in_utf16_json_still_parses(make_provider: Make) -> None:
    body = json.dumps(completion_body(model="m", content="héllo")).encode("utf-16")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    provider = make_provider(handler, custom_models={"m": {"pricing": PRICING}})
    assert (await provider.chat_completion(MESSAGES, "m")).content == "héllo"


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"<html>oops</html>", "with a body that is not JSON"), (b'{"id": "x", "choices": []}', "is malformed")],
)
async def test_bodies_that_are_not_completions_keep_their_messages(
    make_provider: Make, body: bytes, message: str
) -> None:
    provider = make_provider(lambda r: httpx.Response(200, content=body), custom_models={"m": {"pricing": PRICING}})
    with pytest.raises(InvalidResponseError, match=message):
        await provider.chat_completion(MESSAGES, "m")


async def test_a_failed_first_attempt_is_retried_under_the_policy(make_provider: Make, recorder: Recorder) -> None:
    answers = iter([httpx.Response(503, json={"error": {"message": "busy"}}), None])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/chat/completions":
            return next(answers) or chat(request)
        return chat(request)

    provider = make_provider(handler, custom_models={"m": {"pricing": PRICING}}, max_retries=1)
    assert (await provider.chat_completion(MESSAGES, "m")).content == "hi"
    assert recorder.calls("/v1/chat/completions") == 2 and len(recorder.sleeps) == 1


@pytest.mark.parametrize(
    "messages",
    [
        MESSAGES,
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": ""}, {"role": "tool", "content": "4"}],
        [{"content": "order of keys", "role": "assistant"}],
        [{"role": "user", "content": "hi", "name": "ann"}],
        [{"role": "user", "content": [{"type": "text", "text": "parts"}]}],
        [{"role": "user", "content": None, "name": None}],
        [ChatMessage(role="user", content="a model")],
        ({"role": "user", "content": "a tuple"},),
    ],
)
def test_plain_text_messages_come_out_as_pydantic_would_make_them(messages: Any) -> None:
    body = request_body(messages, "m", None, None, {})
    validated = [
        m if isinstance(m, ChatMessage) else ChatMessage.model_validate(m) for m in messages
    ]  # the slow path, for every message
    expected = [m.model_dump(exclude_none=True) for m in validated]
    assert body["messages"] == to_message_dicts(messages) == expected
    assert [list(m) for m in body["messages"]] == [list(m) for m in expected]  # same key order


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "robot", "content": "x"}], [{"role": "user", "content": 5}], [{"role": ["user"], "content": "x"}]],
)
def test_request_bodies_refuse_what_to_message_dicts_refuses(messages: Any) -> None:
    with pytest.raises(InvalidRequestError):
        request_body(messages, "m", None, None, {})
