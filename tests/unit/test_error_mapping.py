"""Every proxy answer and every httpx exception maps to one typed costmux error."""

from __future__ import annotations

import inspect
import json

import httpx
import pytest

from app.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    CostmuxError,
    InvalidResponseError,
    ModelNotFoundError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from app.providers.error_mapping import error_from_response, error_from_transport, parse_retry_after_s
from tests.captures import capture_text


def response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def capture(name: str) -> httpx.Response:
    """Rebuild an httpx.Response from a raw ``curl -i`` capture of the real proxy."""
    text = capture_text(name)
    head, _, body = text.split("\n", 1)[1].partition("\n\n")
    status_line, *header_lines = head.splitlines()
    headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
    headers.pop("content-length", None)
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body.strip().encode())


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            401,
            {"error": {"message": "Authentication Error, No api key passed in.", "type": "auth_error"}},
            AuthenticationError,
        ),
        (403, {"error": {"message": "forbidden"}}, AuthenticationError),
        (
            400,
            {"error": {"message": "No connected db.", "type": "no_db_connection", "code": "400"}},
            AuthenticationError,
        ),
        (404, {"detail": "Not Found"}, ModelNotFoundError),
        (408, {"error": {"message": "timeout"}}, ProviderTimeoutError),
        (400, {"error": {"message": "context length exceeded", "type": "invalid_request_error"}}, BadRequestError),
        (400, {"error": {"message": "Budget has been exceeded", "type": "budget_exceeded"}}, BadRequestError),
        (422, {"detail": [{"msg": "field required"}]}, BadRequestError),
        (500, {"error": {"message": "litellm.InternalServerError"}}, ProviderUnavailableError),
        (502, "bad gateway", ProviderUnavailableError),
        (503, {"error": {"message": "upstream down"}}, ProviderUnavailableError),
        (429, {"error": {"message": "slow down", "type": "throttling_error"}}, RateLimitError),
    ],
)
def test_status_codes_map_to_typed_errors(status: int, body: object, expected: type[Exception]) -> None:
    error = error_from_response(response(status, body), provider="litellm", model="gpt-4o")
    assert type(error) is expected
    assert error.status_code == status and error.provider == "litellm" and error.model == "gpt-4o"
    assert error.retryable == (status in (408, 429) or status >= 500)


def test_real_proxy_unknown_model_capture_is_model_not_found() -> None:
    error = error_from_response(capture("chat_unknown_model.txt"), provider="litellm", model="no-such-model")
    assert isinstance(error, ModelNotFoundError) and error.status_code == 400
    assert "Invalid model name" in str(error)


def test_real_proxy_429_capture_reads_llm_provider_retry_after() -> None:
    error = error_from_response(capture("rpm_exceeded_429.txt"), provider="litellm", model="gpt-4o")
    assert isinstance(error, RateLimitError) and error.retry_after_s == 60.0 and error.code == "throttling_error"


def test_plain_text_error_body_is_kept_in_the_message() -> None:
    error = error_from_response(httpx.Response(500, text="Internal Server Error"), provider="litellm", model=None)
    assert isinstance(error, ProviderUnavailableError) and "Internal Server Error" in str(error)


def test_api_key_echoed_by_the_proxy_is_redacted() -> None:
    body = {"error": {"message": "Invalid key sk-secret-123 for model", "type": "auth_error"}}
    error = error_from_response(response(401, body), provider="litellm", model=None, secrets=("sk-secret-123",))
    assert "sk-secret-123" not in str(error) and "sk-secret-123" not in repr(error)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"llm_provider-retry-after": "60"}, 60.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_headers(headers: dict[str, str], seconds: float | None) -> None:
    now = 1445412480.0  # 10 s before the HTTP date above
    assert parse_retry_after_s(httpx.Headers(headers), now=lambda: now) == seconds


def _all_httpx_errors() -> list[type[httpx.HTTPError]]:
    found = [
        obj
        for _, obj in inspect.getmembers(httpx)
        if inspect.isclass(obj) and issubclass(obj, httpx.HTTPError) and obj is not httpx.HTTPStatusError
    ]
    return sorted(found, key=lambda cls: cls.__name__)


def _instantiate(cls: type[httpx.HTTPError]) -> httpx.HTTPError:
    request = httpx.Request("POST", "http://proxy.test/v1/chat/completions")
    try:
        return cls("boom", request=request)  # type: ignore[call-arg]
    except TypeError:
        error = cls("boom")
        error.request = request
        return error


EXPECTED = {
    "ConnectError": ProviderUnavailableError,
    "ConnectTimeout": ProviderTimeoutError,
    "ReadTimeout": ProviderTimeoutError,
    "WriteTimeout": ProviderTimeoutError,
    "PoolTimeout": ProviderTimeoutError,
    "TimeoutException": ProviderTimeoutError,
    "RemoteProtocolError": ProviderUnavailableError,
    "ReadError": ProviderUnavailableError,
    "WriteError": ProviderUnavailableError,
    "CloseError": ProviderUnavailableError,
    "NetworkError": ProviderUnavailableError,
    "ProxyError": ProviderUnavailableError,
    "ProtocolError": ProviderUnavailableError,
    "TransportError": ProviderUnavailableError,
    "HTTPError": ProviderUnavailableError,
    "LocalProtocolError": BadRequestError,
    "UnsupportedProtocol": ConfigurationError,
    "DecodingError": InvalidResponseError,
    "TooManyRedirects": InvalidResponseError,
    "RequestError": ProviderUnavailableError,
}


@pytest.mark.parametrize("cls", _all_httpx_errors(), ids=lambda cls: cls.__name__)
def test_every_httpx_error_is_mapped(cls: type[httpx.HTTPError]) -> None:
    assert cls.__name__ in EXPECTED, f"add {cls.__name__} to the mapping table"
    error = error_from_transport(_instantiate(cls), base_url="http://proxy.test", provider="litellm", model="m")
    assert isinstance(error, CostmuxError)
    assert type(error) is EXPECTED[cls.__name__]


def test_connect_error_names_the_url_and_the_fix() -> None:
    error = error_from_transport(
        httpx.ConnectError("refused"), base_url="http://127.0.0.1:4999", provider="litellm", model=None
    )
    assert "http://127.0.0.1:4999" in str(error) and "proxy is running" in str(error) and error.retryable


def test_errors_mid_stream_are_not_retryable_and_name_the_cut() -> None:
    error = error_from_transport(
        httpx.RemoteProtocolError("peer closed"), base_url="http://p", provider="litellm", model="m", mid_stream=True
    )
    assert isinstance(error, StreamInterruptedError) and not error.retryable
    timeout = error_from_transport(
        httpx.ReadTimeout("slow"), base_url="http://p", provider="litellm", model="m", mid_stream=True
    )
    assert isinstance(timeout, ProviderTimeoutError) and not timeout.retryable


def test_stream_error_frame_bodies_map_like_responses() -> None:
    from app.providers.error_mapping import error_from_body

    frame = json.loads('{"error": {"message": "rate limited", "type": "throttling_error", "code": "429"}}')
    assert isinstance(error_from_body(429, frame, provider="litellm", model="m"), RateLimitError)


@pytest.mark.parametrize(
    ("exc", "sent"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow connect"), False),
        (httpx.PoolTimeout("pool full"), False),
        (httpx.ReadTimeout("slow answer"), True),
        (httpx.RemoteProtocolError("reset"), True),
    ],
)
def test_errors_say_whether_the_request_left(exc: httpx.HTTPError, sent: bool) -> None:
    error = error_from_transport(exc, base_url="http://p", provider="litellm", model="m")
    assert isinstance(error, ProviderUnavailableError | ProviderTimeoutError) and error.request_sent is sent
