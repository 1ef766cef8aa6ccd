"""Chat request bodies and completion answers: building, validating and parsing them (no I/O)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import httpx
from pydantic import ValidationError

from app.errors import ConfigurationError, InvalidRequestError, InvalidResponseError
from app.models import ChatCompletionResponse, MessageInput, to_message_dicts
from app.pricing import to_decimal_usd
from app.providers.transport import json_body

__all__ = ["parse_completion", "reported_cost", "request_body"]

logger = logging.getLogger("costmux.providers")


def parse_completion(response: httpx.Response, provider: str, model: str) -> ChatCompletionResponse:
    """The completion in a 2xx answer. Raises InvalidResponseError when it is not a valid chat completion."""
    try:  # parsed and validated in one pass by pydantic-core (a third of json.loads, then model_validate)
        return ChatCompletionResponse.model_validate_json(response.content)
    except ValidationError as exc:
        if exc.errors()[0]["type"] != "json_invalid":
            raise _malformed(exc, provider, model) from exc
    try:  # not UTF-8 JSON: the general path decides (JSON in another encoding, or not JSON at all)
        return ChatCompletionResponse.model_validate(json_body(response, provider))
    except ValidationError as exc:
        raise _malformed(exc, provider, model) from exc


def _malformed(exc: ValidationError, provider: str, model: str) -> InvalidResponseError:
    return InvalidResponseError(
        f"chat completion from {provider} is malformed: {exc.errors()[0]['msg']}", provider=provider, model=model
    )


def reported_cost(header: str | None) -> Decimal | None:
    """The proxy's ``x-litellm-response-cost`` as exact USD, or ``None`` when absent or unreadable."""
    if header is None:
        return None
    try:
        return to_decimal_usd(header, field="x-litellm-response-cost")
    except ConfigurationError:
        logger.warning("ignoring unreadable x-litellm-response-cost header %r", header)
        return None


def request_body(
    messages: Iterable[MessageInput],
    model: str,
    max_tokens: int | None,
    temperature: float | None,
    params: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON body of a chat completion request. Raises InvalidRequestError for bad arguments."""
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model must be a non-empty string")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise InvalidRequestError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    body: dict[str, Any] = {**params, "model": model, "messages": to_message_dicts(messages)}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    return body
