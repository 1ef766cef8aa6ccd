"""Reading a ``POST /v1/chat/completions`` body: which route (``auto``, ``auto:<strategy>`` or a model), the cap,
``max_tokens``, the cost/quality knob ``quality_share``, streaming, and the parameters forwarded upstream. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.errors import InvalidRequestError
from app.gateway.errors import shown
from app.models import content_part_error
from app.router.budget import validate_max_cost
from app.router.strategies import available_strategies, quality_share_of_header, validate_quality_share

__all__ = ["AUTO", "ChatRequest", "excluded_for", "parse_chat_request"]

AUTO = "auto"
"""The model name that routes with the gateway's default strategy (``auto:<strategy>`` names one)."""

MAX_COST_HEADER = "x-max-cost"
QUALITY_SHARE_HEADER = "x-quality-share"

# body fields the gateway reads itself; everything else is sent upstream unchanged
_OWN_FIELDS = frozenset(
    {"model", "messages", "max_cost", "quality_share", "max_tokens", "max_completion_tokens", "stream"}
)
# names of the router's and the provider's own arguments: a client must not set them through the body
_RESERVED = frozenset({"providers", "strategy", "budget_mode", "exclude", "rate_limit_timeout_s", "retry_unanswered"})


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What the gateway does with one chat request.

    ``strategy`` is the routing strategy (``None`` for a concrete ``model``); ``max_cost`` USD (``None``: no cap);
    ``quality_share`` the cost/quality knob in [0, 1] (``None``: the router's); ``params`` are sent upstream as they
    came (``stream_options`` included for streams).
    """

    messages: list[Any]
    strategy: str | None
    model: str | None
    max_cost: Decimal | None
    max_tokens: int | None
    stream: bool
    include_usage: bool
    params: dict[str, Any]
    quality_share: float | None = None


def parse_chat_request(
    body: Any, headers: Mapping[str, str], *, default_strategy: str, default_max_cost: Decimal | None
) -> ChatRequest:
    """Validate ``body`` (the decoded JSON) and the ``X-Max-Cost`` header.

    ``max_cost`` comes from the body field when it is present and not null, else from the header, else the default;
    ``quality_share`` likewise from the body, else the ``X-Quality-Share`` header, else the router's setting.

    Raises:
        InvalidRequestError: with ``param`` naming the invalid field.
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object", param="body")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty array of messages", param="messages")
    if not all(isinstance(message, dict) for message in messages):
        raise InvalidRequestError("each message must be an object with a role", param="messages")
    _check_content_parts(messages)
    strategy, model = _route(body.get("model"), default_strategy)
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequestError(f"stream must be true or false, got {shown(stream)}", param="stream")
    params = {key: value for key, value in body.items() if key not in _OWN_FIELDS}
    for name in _RESERVED.intersection(params):
        raise InvalidRequestError(f"{name} is not a chat completion field", param=name)
    include_usage = _stream_options(params, stream)
    _check_single_choice(params)
    return ChatRequest(
        messages=messages,
        strategy=strategy,
        model=model,
        max_cost=_max_cost(body, headers, default_max_cost),
        max_tokens=_max_tokens(body),
        stream=stream,
        include_usage=include_usage,
        params=params,
        quality_share=_quality_share(body, headers),
    )


def _check_content_parts(messages: list[dict[str, Any]]) -> None:
    """A list ``content`` holds only parts of a known type (the proxy answers others with a 500)."""
    for index, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list):
            problem = content_part_error(content)
            if problem is not None:
                part, why = problem
                param = f"messages[{index}].content[{part}].type"
                raise InvalidRequestError(f"messages[{index}].content[{part}]: {why}", param=param)


def _route(model: Any, default_strategy: str) -> tuple[str | None, str | None]:
    if not isinstance(model, str) or not model:
        raise InvalidRequestError('model must be "auto", "auto:<strategy>" or a model name', param="model")
    if model == AUTO:
        return default_strategy, None
    if model.startswith(AUTO + ":"):
        strategy = model[len(AUTO) + 1 :]
        if strategy not in available_strategies():
            known = ", ".join(f"auto:{name}" for name in available_strategies())
            raise InvalidRequestError(
                f"unknown routing strategy in {shown(model)} (known: auto, {known})", param="model"
            )
        return strategy, None
    return None, model


def _max_cost(body: Mapping[str, Any], headers: Mapping[str, str], default: Decimal | None) -> Decimal | None:
    """The body's ``max_cost`` wins over the ``X-Max-Cost`` header; both must be valid when given."""
    header = headers.get(MAX_COST_HEADER)
    from_header = _cap("X-Max-Cost", header.strip()) if header is not None else None
    if body.get("max_cost") is not None:
        if isinstance(body["max_cost"], bool | dict | list):
            raise InvalidRequestError(
                f"max_cost must be a number of USD, got {shown(body['max_cost'])}", param="max_cost"
            )
        return _cap("max_cost", body["max_cost"])
    return from_header if header is not None else default


def _quality_share(body: Mapping[str, Any], headers: Mapping[str, str]) -> float | None:
    """The body's ``quality_share`` wins over the ``X-Quality-Share`` header; both must be numbers in [0, 1]."""
    if body.get("quality_share") is not None:
        return validate_quality_share(body["quality_share"])
    header = headers.get(QUALITY_SHARE_HEADER)
    return quality_share_of_header(header) if header is not None else None


def _cap(param: str, value: Any) -> Decimal | None:
    try:
        return validate_max_cost(value)
    except InvalidRequestError as exc:
        message = f"{param} must be a finite, non-negative number of USD, got {shown(value)}"
        raise InvalidRequestError(message, param=param) from exc


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    """``max_completion_tokens`` (OpenAI's newer name) or ``max_tokens``; the smaller when both are given."""
    found: list[int] = []
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(f"{name} must be a positive integer, got {shown(value)}", param=name)
        found.append(value)
    return min(found) if found else None


def _stream_options(params: dict[str, Any], stream: bool) -> bool:
    """Whether the client asked for the usage chunk; ``stream_options`` is dropped from non-streamed requests."""
    options = params.get("stream_options")
    if options is None:
        params.pop("stream_options", None)
        return False
    if not isinstance(options, dict):
        raise InvalidRequestError("stream_options must be an object", param="stream_options")
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise InvalidRequestError("stream_options.include_usage must be true or false", param="stream_options")
    if not stream:
        params.pop("stream_options")
    return include and stream


def _check_single_choice(params: Mapping[str, Any]) -> None:
    """The cap bounds one completion: ``n`` (and the legacy ``best_of``) above 1 would multiply the cost."""
    for name in ("n", "best_of"):
        value = params.get(name)
        if value is not None and value != 1:
            raise InvalidRequestError(f"{name} must be 1: costmux caps the cost of a single completion", param=name)


def excluded_for(request: ChatRequest, known: Set[tuple[str, str]], auto_excluded: frozenset[str]) -> frozenset[str]:
    """The models the router must not use: for ``auto`` the operator's exclusions; for a concrete model every other
    known ``(provider, model)`` (so the cap still applies to it)."""
    if request.model is None:
        return auto_excluded
    wanted = request.model
    return frozenset(f"{p}/{m}" for p, m in known if m != wanted and f"{p}/{m}" != wanted)
