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


_LIMIT_FIELDS = ("max_tokens", "max_completion_tokens")


def request_body(
    messages: Iterable[MessageInput],
    model: str,
    max_tokens: int | None,
    temperature: float | None,
    params: Mapping[str, Any],
    *,
    limit_field: str = "max_tokens",
) -> dict[str, Any]:
    """The JSON body of a chat completion request. Raises InvalidRequestError for bad arguments.

    The output limit is sent once, under ``limit_field`` (``max_completion_tokens`` for OpenAI reasoning models,
    which reject ``max_tokens``): the smaller of ``max_tokens`` and a ``max_tokens`` / ``max_completion_tokens`` in
    ``params``. Two limits are never sent, since LiteLLM would keep one of them and could drop the smaller.
    """
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("model must be a non-empty string")
    limits = [max_tokens, *(params.get(name) for name in _LIMIT_FIELDS)]
    for limit in limits:
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InvalidRequestError(f"max_tokens must be a positive integer, got {limit!r}")
    given = [limit for limit in limits if limit is not None]
    rest = {key: value for key, value in params.items() if key not in _LIMIT_FIELDS}
    body: dict[str, Any] = {**rest, "model": model, "messages": to_message_dicts(messages)}
    if given:
        body[limit_field] = min(given)
    if temperature is not None:
        body["temperature"] = temperature
    return body
