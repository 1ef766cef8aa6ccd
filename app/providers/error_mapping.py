"""The one place where HTTP answers and httpx exceptions become costmux errors.

What the LiteLLM proxy 1.106.2 answers (see docs/providers.md):

======================================  ==============================
proxy answer                            costmux error
======================================  ==============================
401, 403                                AuthenticationError
400 type/code ``no_db_connection``      AuthenticationError (wrong key, no database)
400 "Invalid model name", 404           ModelNotFoundError
408                                     ProviderTimeoutError
429                                     RateLimitError (retry_after_s)
other 4xx                               BadRequestError
5xx                                     ProviderUnavailableError (retryable)
======================================  ==============================
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from app.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    CostmuxError,
    InvalidResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
    redact,
)

__all__ = ["error_from_body", "error_from_response", "error_from_transport", "parse_retry_after_s"]

_RETRY_AFTER_HEADERS = ("llm_provider-retry-after", "retry-after")
_MAX_MESSAGE_CHARS = 500


def parse_retry_after_s(headers: Mapping[str, str], *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait before retrying, from ``retry-after-ms``, ``llm_provider-retry-after`` or ``Retry-After``
    (delta-seconds or an HTTP date); ``None`` when absent or unreadable. Never negative."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    for name in _RETRY_AFTER_HEADERS:
        value = lowered.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - now())
            except (TypeError, ValueError):
                continue
    return None


def _error_fields(body: Any) -> tuple[str, str | None]:
    """(message, code) from an OpenAI/LiteLLM error body ``{"error": {"message", "type", "code"}}``."""
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            message = error.get("message") or error.get("detail") or json.dumps(error)[:_MAX_MESSAGE_CHARS]
            code = error.get("type") or error.get("code")
            return str(message), (str(code) if code is not None else None)
        if isinstance(error, str):
            return error, None
        detail = body.get("detail")
        if detail is not None:
            return str(detail), None
    return str(body), None


def error_from_body(
    status_code: int,
    body: Any,
    *,
    headers: Mapping[str, str] | None = None,
    provider: str,
    model: str | None,
    secrets: tuple[str | None, ...] = (),
) -> ProviderError:
    """Map a status code and a parsed error body (also used for errors sent inside a stream)."""
    message, code = _error_fields(body)
    message = redact(message, *secrets)[:_MAX_MESSAGE_CHARS]
    text = f"{provider} answered {status_code}: {message}"
    common: dict[str, Any] = {"status_code": status_code, "provider": provider, "model": model, "code": code}
    if status_code in (401, 403) or code == "no_db_connection" or "no_db_connection" in message:
        return AuthenticationError(text, **common)
    if status_code == 404 or (status_code == 400 and "invalid model name" in message.lower()):
        return ModelNotFoundError(text, **common)
    if status_code == 408:
        return ProviderTimeoutError(text, **common)
    if status_code == 429:
        return RateLimitError(text, retry_after_s=parse_retry_after_s(headers or {}), **common)
    if status_code >= 500:
        return ProviderUnavailableError(text, **common)
    return BadRequestError(text, **common)


def error_from_response(
    response: httpx.Response, *, provider: str, model: str | None, secrets: tuple[str | None, ...] = ()
) -> ProviderError:
    """Map an error response whose body has been read."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = response.text[:_MAX_MESSAGE_CHARS] or response.reason_phrase
    return error_from_body(
        response.status_code, body, headers=response.headers, provider=provider, model=model, secrets=secrets
    )


def error_from_transport(
    exc: httpx.HTTPError,
    *,
    base_url: str,
    provider: str,
    model: str | None,
    mid_stream: bool = False,
    secrets: tuple[str | None, ...] = (),
) -> CostmuxError:
    """Map an httpx exception raised while sending a request or reading its answer.

    ``mid_stream`` is true once a stream has delivered chunks: the request cannot be retried then, and a broken
    connection becomes :class:`StreamInterruptedError`.
    """
    detail = redact(f"{type(exc).__name__}: {exc}", *secrets)
    common: dict[str, Any] = {"provider": provider, "model": model}
    if mid_stream:
        common["retryable"] = False
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):  # the request never left
        return ProviderTimeoutError(
            f"{provider} at {base_url} could not be reached in time ({detail})", **common, request_sent=False
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(f"{provider} at {base_url} did not answer in time ({detail})", **common)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ConfigurationError(f"invalid {provider} URL {base_url!r}: {detail}")
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects | httpx.StreamError):
        return InvalidResponseError(f"unusable answer from {provider} at {base_url} ({detail})", **common)
    if mid_stream:
        return StreamInterruptedError(f"stream from {provider} at {base_url} was cut ({detail})", **common)
    if isinstance(exc, httpx.ConnectError):
        return ProviderUnavailableError(
            f"cannot connect to {provider} at {base_url} ({detail}); check that the proxy is running",
            **common,
            request_sent=False,
        )
    if isinstance(exc, httpx.LocalProtocolError):
        return BadRequestError(f"request to {provider} at {base_url} could not be sent ({detail})", **common)
    # RemoteProtocolError, ReadError, WriteError, CloseError, ProxyError, other transport errors
    return ProviderUnavailableError(f"connection to {provider} at {base_url} failed ({detail})", **common)
