"""costmux errors as OpenAI-shaped error answers: ``{"error": {"message", "type", "param", "code"}}`` and a status.

============================================  ======  ===============================================
error                                         status  ``type`` / ``code``
============================================  ======  ===============================================
invalid request (``InvalidRequestError``)     400     ``invalid_request_error`` / ``invalid_value`` (or its
                                                      ``code``: ``invalid_json``)
body over the size limit (``RequestTooLarge``)  413   ``invalid_request_error`` / ``request_too_large``
unknown model                                 404     ``invalid_request_error`` / ``model_not_found``
over budget (``BudgetExceededError``)         402     ``budget_exceeded`` / ``budget_exceeded``
spend budget used up (``SpendLimitExceeded``)  402    ``budget_exceeded`` / ``budget_exceeded`` (``scope``...)
budgets' store down (``StoreUnavailable``)    503     ``service_unavailable`` / ``budget_store_unavailable``
no model available (``NoModelAvailableError``) 503   ``service_unavailable`` / ``no_model_available``
upstream answered an error (``ProviderError``)  its status (429, 4xx, 5xx)
upstream gave no answer                       502/504 ``upstream_error`` / ``upstream_unavailable``/``_timeout``
a stream broke after its first chunk          (frame) ``upstream_error`` / ``stream_interrupted``
upstream refused the gateway's own key        502     ``upstream_error`` / ``upstream_authentication``
============================================  ======  ===============================================

Messages are the errors' own (keys are redacted where they are built); a value from the request is echoed only
through :func:`shown`, cut to a few dozen characters.
"""

from __future__ import annotations

import json
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any

from app.errors import (
    AuthenticationError,
    BudgetExceededError,
    CostmuxError,
    InvalidRequestError,
    ModelNotFoundError,
    PricingError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    RequestTooLargeError,
    RoutingError,
    SpendLimitExceededError,
    StoreUnavailableError,
    StreamInterruptedError,
)
from app.pricing import decimal_str, to_decimal_usd

__all__ = ["ErrorAnswer", "error_answer", "error_body", "shown"]

logger = logging.getLogger("costmux.gateway")

# fields whose name starts an InvalidRequestError's message (the router's and the provider's validators)
_FIELDS = ("max_cost", "max_tokens", "messages", "budget_mode", "model", "tools", "response_format")


class ErrorAnswer:
    """An error as the gateway answers it: status, OpenAI-shaped body, extra headers."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}

    def json_bytes(self) -> bytes:
        return json.dumps(self.body, separators=(",", ":")).encode()


_SHOWN_CHARS = 60


def shown(value: object) -> str:
    """``repr(value)`` for an error message, cut to about 60 characters (a client's 100 KB model name, or a huge
    list sent as ``max_cost``, is not sent back whole)."""
    text = repr(value)
    if len(text) <= _SHOWN_CHARS:
        return text
    return f"{text[:_SHOWN_CHARS]}…[{len(text) - _SHOWN_CHARS} more characters]"


def error_body(message: str, type_: str, code: str, param: str | None = None, **extra: Any) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code", ...extra}}``."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code, **extra}}


def error_answer(exc: BaseException) -> ErrorAnswer:
    """The answer for ``exc`` (an unexpected exception is logged and answered 500 without its details)."""
    if isinstance(exc, RequestTooLargeError):
        body = error_body(str(exc), "invalid_request_error", "request_too_large", exc.param)
        return ErrorAnswer(413, body, {"connection": "close"})  # the rest of the body may be unread
    if isinstance(exc, InvalidRequestError):
        param = exc.param if exc.param is not None else _param_of(str(exc))
        return ErrorAnswer(400, error_body(str(exc), "invalid_request_error", exc.code or "invalid_value", param))
    if isinstance(exc, RoutingError):
        return _routing(exc)
    if isinstance(exc, ProviderError):
        return _provider(exc)
    if isinstance(exc, PricingError):
        return ErrorAnswer(400, error_body(str(exc), "invalid_request_error", "unpriced_model", "model"))
    if isinstance(exc, SpendLimitExceededError):
        return _spend(exc)
    if isinstance(exc, StoreUnavailableError):  # budgets fail closed: nothing is sent unaccounted
        text = "the spend budgets cannot be checked now (their store is unreachable); nothing was sent"
        return ErrorAnswer(
            503, error_body(text, "service_unavailable", "budget_store_unavailable"), {"retry-after": "1"}
        )
    if isinstance(exc, CostmuxError):  # ConfigurationError and the like: the gateway's fault
        logger.error("gateway configuration error: %s", exc)
        return ErrorAnswer(500, error_body(str(exc), "server_error", "configuration_error"))
    logger.error("unexpected gateway error", exc_info=exc)
    return ErrorAnswer(500, error_body("internal error in the costmux gateway", "server_error", "internal_error"))


def _param_of(message: str) -> str | None:
    for field in _FIELDS:
        if message.startswith(field):
            return field
    return None


def _routing(exc: RoutingError) -> ErrorAnswer:
    if isinstance(exc, BudgetExceededError):
        cheapest = exc.cheapest_cost_usd
        extra = {
            "max_cost": decimal_str(to_decimal_usd(exc.max_cost_usd)),
            "cheapest_cost": decimal_str(to_decimal_usd(cheapest)) if cheapest is not None else None,
        }
        return ErrorAnswer(402, error_body(str(exc), "budget_exceeded", "budget_exceeded", "max_cost", **extra))
    return ErrorAnswer(503, error_body(str(exc), "service_unavailable", "no_model_available"))


def _spend(exc: SpendLimitExceededError) -> ErrorAnswer:
    """402 naming the budget (scope and window), what is left, what was needed and when it resets."""
    resets_at = datetime.fromtimestamp(exc.resets_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = {
        "scope": exc.scope,
        "window": exc.window,
        "max_usd": decimal_str(exc.max_usd),
        "remaining_usd": decimal_str(exc.remaining_usd),
        "needed_usd": decimal_str(exc.needed_usd) if exc.needed_usd is not None else None,
        "resets_at": resets_at,
    }
    retry_after = str(max(1, math.ceil(exc.resets_at - time.time())))
    body = error_body(str(exc), "budget_exceeded", "budget_exceeded", None, **extra)
    return ErrorAnswer(402, body, {"retry-after": retry_after})


def _provider(exc: ProviderError) -> ErrorAnswer:
    message = exc.message
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitError):
        if exc.retry_after_s is not None:
            headers["retry-after"] = str(max(1, round(exc.retry_after_s)))
        return ErrorAnswer(429, error_body(message, "rate_limit_error", "rate_limit_exceeded"), headers)
    if isinstance(exc, AuthenticationError):  # the upstream refused the gateway's key: not the client's fault
        text = "the upstream proxy refused the gateway's key (check LITELLM_API_KEY)"
        return ErrorAnswer(502, error_body(text, "upstream_error", "upstream_authentication"))
    status = exc.status_code
    if isinstance(exc, StreamInterruptedError):
        return ErrorAnswer(502, error_body(message, "upstream_error", "stream_interrupted"))
    if status is None:
        if isinstance(exc, ProviderTimeoutError):
            return ErrorAnswer(504, error_body(message, "upstream_error", "upstream_timeout"))
        code = 503 if isinstance(exc, ProviderUnavailableError) and not exc.request_sent else 502
        return ErrorAnswer(code, error_body(message, "upstream_error", "upstream_unavailable"))
    if status >= 500:
        return ErrorAnswer(status, error_body(message, "upstream_error", exc.code or "upstream_error"))
    if isinstance(exc, ModelNotFoundError) or status == 404:
        return ErrorAnswer(404, error_body(message, "invalid_request_error", "model_not_found", "model"))
    return ErrorAnswer(status, error_body(message, "invalid_request_error", exc.code or "upstream_rejected"))
