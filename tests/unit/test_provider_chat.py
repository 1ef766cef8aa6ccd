"""LiteLLMProvider.chat_completion at the transport level: costs, retries, errors, configuration, secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InvalidRequestError,
    InvalidResponseError,
    ModelNotFoundError,
    PricingError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from app.models import ChatMessage
from app.providers import LiteLLMProvider, RetryPolicy
from tests.unit.conftest import API_KEY, BASE_URL, Recorder, completion_body, model_info_body

Make = Callable[..., LiteLLMProvider]
MESSAGES = [{"role": "user", "content": "Hello"}]


def proxy(chat: Callable[[httpx.Request], httpx.Response], info: dict[str, Any] | None = None) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json=info or model_info_body(("gpt-4o", "2.5e-06", "1e-05")))
        return chat(request)

    return handler


async def test_chat_returns_the_completion_with_the_proxy_cost_and_call_id(make_provider: Make) -> None:
    provider = make_provider(
        proxy(
            lambda r: httpx.Response(
                200,
                json=completion_body(),
                headers={"x-litellm-response-cost": "0.000225", "x-litellm-call-id": "call-1"},
            )
        )
    )
    response = await provider.chat_completion([ChatMessage(role="user", content="Hello")], "gpt-4o")
    assert response.content == "hi" and response.usage is not None and response.usage.total_tokens == 30
    assert response.cost_usd == 0.000225 and response.cost_source == "proxy" and response.call_id == "call-1"


async def test_without_a_cost_header_the_cost_is_usage_times_prices(make_provider: Make) -> None:
    provider = make_provider(proxy(lambda r: httpx.Response(200, json=completion_body(prompt=10, completion=20))))
    response = await provider.chat_completion(MESSAGES, "gpt-4o")
    assert response.cost_usd == pytest.approx(10 * 2.5e-06 + 20 * 1e-05) and response.cost_source == "computed"


async def test_request_body_carries_messages_max_tokens_temperature_and_params(
    make_provider: Make, recorder: Recorder
) -> None:
    provider = make_provider(proxy(lambda r: httpx.Response(200, json=completion_body())))
    await provider.chat_completion(MESSAGES, "gpt-4o", max_tokens=50, temperature=0.2, user="u1")
    sent = json.loads(next(r for r in recorder.requests if r.url.path == "/v1/chat/completions").content)
    assert sent == {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 50, "temperature": 0.2, "user": "u1"}
    assert recorder.requests[-1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_strict_cost_tracking_refuses_a_known_unpriced_model_before_sending(
    make_provider: Make, recorder: Recorder
) -> None:
    info = model_info_body(("mystery", None, None))
    provider = make_provider(proxy(lambda r: httpx.Response(200, json=completion_body()), info))
    with pytest.raises(PricingError, match="no price is known for model 'mystery'"):
        await provider.chat_completion(MESSAGES, "mystery")
    assert recorder.calls("/v1/chat/completions") == 0


async def test_ignore_errors_sends_and_reports_an_unknown_cost_never_zero(make_provider: Make) -> None:
    info = model_info_body(("mystery", None, None))
    provider = make_provider(
        proxy(lambda r: httpx.Response(200, json=completion_body(), headers={"x-litellm-response-cost": "0"}), info),
        cost_tracking="ignore_errors",
    )
    response = await provider.chat_completion(MESSAGES, "mystery")
    assert response.cost_usd is None and response.cost_source == "unknown"


async def test_a_zero_cost_header_for_a_priced_model_is_recomputed(make_provider: Make) -> None:
    provider = make_provider(
        proxy(lambda r: httpx.Response(200, json=completion_body(), headers={"x-litellm-response-cost": "0.0"}))
    )
    response = await provider.chat_completion(MESSAGES, "gpt-4o")
    assert response.cost_source == "computed" and response.cost_usd == pytest.approx(0.000225)


def flaky(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    return lambda request: queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(503, json={"error": {"message": "down"}}),
        httpx.Response(500, text="Internal Server Error"),
        httpx.Response(429, json={"error": {"message": "slow"}}, headers={"retry-after": "1"}),
    ],
)
async def test_retryable_failures_are_retried_then_succeed(
    make_provider: Make, recorder: Recorder, first: httpx.Response
) -> None:
    provider = make_provider(proxy(flaky(first, httpx.Response(200, json=completion_body()))))
    response = await provider.chat_completion(MESSAGES, "gpt-4o")
    assert response.content == "hi" and recorder.calls("/v1/chat/completions") == 2
    assert len(recorder.sleeps) == 1


async def test_429_waits_what_retry_after_says(make_provider: Make, recorder: Recorder) -> None:
    limited = httpx.Response(429, json={"error": {"message": "slow"}}, headers={"llm_provider-retry-after": "3"})
    provider = make_provider(proxy(flaky(limited, httpx.Response(200, json=completion_body()))))
    await provider.chat_completion(MESSAGES, "gpt-4o")
    assert recorder.sleeps == [3.0]


async def test_429_asking_for_more_than_the_cap_is_raised_at_once(make_provider: Make, recorder: Recorder) -> None:
    limited = httpx.Response(429, json={"error": {"message": "slow"}}, headers={"llm_provider-retry-after": "60"})
    provider = make_provider(proxy(lambda r: limited))
    with pytest.raises(RateLimitError) as caught:
        await provider.chat_completion(MESSAGES, "gpt-4o")
    assert caught.value.retry_after_s == 60 and recorder.calls("/v1/chat/completions") == 1 and recorder.sleeps == []


async def test_retries_stop_after_max_retries_and_raise_the_last_error(make_provider: Make, recorder: Recorder) -> None:
    provider = make_provider(proxy(lambda r: httpx.Response(503, json={"error": {"message": "down"}})), max_retries=3)
    with pytest.raises(ProviderUnavailableError):
        await provider.chat_completion(MESSAGES, "gpt-4o")
    assert recorder.calls("/v1/chat/completions") == 4
    assert len(recorder.sleeps) == 3 and all(0 < wait <= 4.25 for wait in recorder.sleeps)


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (400, {"error": {"message": "Invalid model name passed in model=x"}}, ModelNotFoundError),
        (401, {"error": {"message": "bad key", "type": "auth_error"}}, AuthenticationError),
        (400, {"error": {"message": "No connected db.", "type": "no_db_connection"}}, AuthenticationError),
        (400, {"error": {"message": "bad param"}}, BadRequestError),
    ],
)
async def test_client_errors_are_not_retried(
    make_provider: Make, recorder: Recorder, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    provider = make_provider(proxy(lambda r: httpx.Response(status, json=body)))
    with pytest.raises(error):
        await provider.chat_completion(MESSAGES, "gpt-4o")
    assert recorder.calls("/v1/chat/completions") == 1 and recorder.sleeps == []


async def test_timeouts_are_retried_then_raised(make_provider: Make, recorder: Recorder) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider = make_provider(proxy(slow), max_retries=1)
    with pytest.raises(ProviderTimeoutError):
        await provider.chat_completion(MESSAGES, "gpt-4o")
    assert recorder.calls("/v1/chat/completions") == 2


@pytest.mark.parametrize("body", [b"not json", b'{"id": "x"}', b"[]"])
async def test_malformed_bodies_are_invalid_responses_and_not_retried(
    make_provider: Make, recorder: Recorder, body: bytes
) -> None:
    provider = make_provider(proxy(lambda r: httpx.Response(200, content=body)))
    with pytest.raises(InvalidResponseError):
        await provider.chat_completion(MESSAGES, "gpt-4o")
    assert recorder.calls("/v1/chat/completions") == 1


@pytest.mark.parametrize(
    ("messages", "kwargs"),
    [
        ([], {}),
        ("hello", {}),
        ([{"content": "no role"}], {}),
        ([{"role": "robot", "content": "x"}], {}),
        (MESSAGES, {"max_tokens": 0}),
        (MESSAGES, {"max_tokens": 1.5}),
        (MESSAGES, {"stream": True}),
    ],
)
async def test_bad_arguments_raise_before_sending(
    make_provider: Make, recorder: Recorder, messages: Any, kwargs: dict[str, Any]
) -> None:
    provider = make_provider(proxy(lambda r: httpx.Response(200, json=completion_body())))
    with pytest.raises(InvalidRequestError):
        await provider.chat_completion(messages, "gpt-4o", **kwargs)
    assert recorder.requests == []


async def test_connection_refused_names_the_url() -> None:
    provider = LiteLLMProvider("http://127.0.0.1:9", "k", max_retries=0)
    async with provider:
        with pytest.raises(ProviderUnavailableError, match=r"http://127.0.0.1:9.*proxy is running"):
            await provider.chat_completion(MESSAGES, "gpt-4o")


async def test_the_api_key_never_appears_in_reprs_errors_or_logs(
    make_provider: Make, caplog: pytest.LogCaptureFixture
) -> None:
    echo = {"error": {"message": f"key {API_KEY} is invalid", "type": "auth_error"}}
    provider = make_provider(proxy(lambda r: httpx.Response(401, json=echo)))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as caught:
        await provider.chat_completion(MESSAGES, "gpt-4o")
    assert API_KEY not in str(caught.value) and API_KEY not in repr(caught.value)
    assert API_KEY not in repr(provider) and API_KEY not in caplog.text


class TestConfiguration:
    def test_no_base_url_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="LITELLM_BASE_URL"):
            LiteLLMProvider()

    @pytest.mark.parametrize(
        ("url_var", "key_var"),
        [
            ("LITELLM_BASE_URL", "LITELLM_API_KEY"),
            ("LITELLM_PROXY_BASE_URL", "LITELLM_PROXY_API_KEY"),
            ("OPENAI_BASE_URL", "OPENAI_API_KEY"),
        ],
    )
    def test_env_aliases(self, monkeypatch: pytest.MonkeyPatch, url_var: str, key_var: str) -> None:
        monkeypatch.setenv(url_var, "http://127.0.0.1:4000/v1/")
        monkeypatch.setenv(key_var, "sk-env")
        provider = LiteLLMProvider()
        assert provider.base_url == "http://127.0.0.1:4000" and provider._transport.headers() == {
            "Authorization": "Bearer sk-env"
        }

    def test_arguments_win_over_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("LITELLM_BASE_URL", "http://env:1")
        monkeypatch.setenv("COSTMUX_COST_TRACKING", "ignore_errors")
        provider = LiteLLMProvider("http://arg:2", cost_tracking="strict")
        assert provider.base_url == "http://arg:2" and provider.cost_tracking == "strict"
        assert LiteLLMProvider("http://arg:2").cost_tracking == "ignore_errors"

    def test_invalid_env_setting_is_a_configuration_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COSTMUX_COST_TRACKING", "sometimes")
        with pytest.raises(ConfigurationError, match="COSTMUX_COST_TRACKING"):
            LiteLLMProvider("http://p:1")

    def test_base_url_needs_a_scheme(self) -> None:
        with pytest.raises(ConfigurationError):
            LiteLLMProvider("localhost:4000")

    def test_timeout_and_retries(self) -> None:
        provider = LiteLLMProvider(BASE_URL, timeout=12, max_retries=5, retry_policy=RetryPolicy(max_retries=1))
        assert provider.timeout_s == 12 and provider.retry_policy.max_retries == 5


async def test_aclose_closes_the_owned_pool_only() -> None:
    external = httpx.AsyncClient()
    async with LiteLLMProvider(BASE_URL, http_client=external):
        pass
    assert not external.is_closed
    await external.aclose()
    provider = LiteLLMProvider(BASE_URL)
    client = provider._transport.client()
    await provider.aclose()
    assert client.is_closed


async def test_under_a_cap_a_sent_but_unanswered_request_is_not_retried(
    make_provider: Make, recorder: Recorder
) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    provider = make_provider(proxy(slow), max_retries=2)
    with pytest.raises(ProviderTimeoutError) as caught:
        await provider.chat_completion(MESSAGES, "gpt-4o", retry_unanswered=False)
    assert caught.value.request_sent and recorder.calls("/v1/chat/completions") == 1


async def test_a_request_that_never_left_is_retried_even_under_a_cap(make_provider: Make, recorder: Recorder) -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = make_provider(proxy(refused), max_retries=2)
    with pytest.raises(ProviderUnavailableError) as caught:
        await provider.chat_completion(MESSAGES, "gpt-4o", retry_unanswered=False)
    assert not caught.value.request_sent and recorder.calls("/v1/chat/completions") == 3
