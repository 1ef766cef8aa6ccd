"""Reading a request the LiteLLM proxy received: is it costmux's to route (``auto``, ``auto:<strategy>``, or a named
model when the operator caps those too), its cap and its ``max_tokens``. No I/O; LiteLLM is not imported.

``max_cost`` (USD) comes from, in order: the body's ``max_cost``, the request ``metadata``'s ``max_cost``, the
``x-max-cost`` header, the ``default_max_cost`` setting; the cost/quality knob ``quality_share`` (in [0, 1]) likewise
from the body, ``metadata``, the ``x-quality-share`` header, else the strategy's own setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.errors import InvalidRequestError
from app.router.budget import validate_max_cost
from app.router.strategies import quality_share_of_header, validate_quality_share

__all__ = ["AUTO", "MAX_COST_HEADER", "QUALITY_SHARE_HEADER", "ProxyRequest", "read_request"]

AUTO = "auto"
MAX_COST_HEADER = "x-max-cost"
QUALITY_SHARE_HEADER = "x-quality-share"
_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens")


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    """A request costmux routes.

    ``strategy`` is the routing strategy (``None``: a named model, capped); ``model`` the name the client sent;
    ``max_cost`` USD (``None``: no cap); ``max_tokens`` the smaller of the client's ``max_tokens`` and
    ``max_completion_tokens``; ``token_fields`` the ones it sent (the planned limit is written to them);
    ``quality_share`` the cost/quality knob for this request (``None``: the strategy's setting).
    """

    strategy: str | None
    model: str
    max_cost: Decimal | None
    max_tokens: int | None
    token_fields: tuple[str, ...]
    quality_share: float | None = None


def read_request(
    data: Mapping[str, Any],
    *,
    default_strategy: str,
    strategies: frozenset[str] | set[str],
    default_max_cost: Decimal | None,
    cap_named_models: bool,
) -> ProxyRequest | None:
    """The routing of ``data`` (the proxy's request dict), or ``None`` when costmux leaves it untouched (a named
    model, unless ``cap_named_models``).

    Raises:
        InvalidRequestError: with ``param`` naming the invalid field.
    """
    model = data.get("model")
    if not isinstance(model, str):
        return None
    strategy = _strategy(model, default_strategy, strategies)
    if strategy is None and not cap_named_models:
        return None
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty array of messages", param="messages")
    for name in ("n", "best_of"):
        value = data.get(name)
        if value is not None and value != 1:
            raise InvalidRequestError(f"{name} must be 1: costmux caps the cost of a single completion", param=name)
    fields = tuple(name for name in _TOKEN_FIELDS if data.get(name) is not None)
    return ProxyRequest(
        strategy=strategy,
        model=model,
        max_cost=_max_cost(data, default_max_cost),
        max_tokens=_max_tokens(data, fields),
        token_fields=fields,
        quality_share=_quality_share(data),
    )


def _strategy(model: str, default: str, strategies: frozenset[str] | set[str]) -> str | None:
    if model == AUTO:
        return default
    if not model.startswith(AUTO + ":"):
        return None
    strategy = model[len(AUTO) + 1 :]
    if strategy not in strategies:
        known = ", ".join(f"auto:{name}" for name in sorted(strategies))
        raise InvalidRequestError(f"unknown routing strategy in {model!r} (known: auto, {known})", param="model")
    return strategy


def _max_cost(data: Mapping[str, Any], default: Decimal | None) -> Decimal | None:
    """The first of body, metadata and header that gives one (each must be valid when given), else ``default``."""
    if data.get("max_cost") is not None:
        return _cap("max_cost", data["max_cost"])
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("max_cost") is not None:
        return _cap("metadata.max_cost", metadata["max_cost"])
    header = _header(data, MAX_COST_HEADER)
    if header is not None:
        return _cap("x-max-cost", header.strip())
    return default


def _quality_share(data: Mapping[str, Any]) -> float | None:
    """The first of body, metadata and header that gives one (each must be a number in [0, 1] when given)."""
    if data.get("quality_share") is not None:
        return validate_quality_share(data["quality_share"])
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and metadata.get("quality_share") is not None:
        return validate_quality_share(metadata["quality_share"], name="metadata.quality_share")
    header = _header(data, QUALITY_SHARE_HEADER)
    return quality_share_of_header(header, name=QUALITY_SHARE_HEADER) if header is not None else None


def _header(data: Mapping[str, Any], name: str) -> str | None:
    request = data.get("proxy_server_request")
    headers = request.get("headers") if isinstance(request, Mapping) else None
    if not isinstance(headers, Mapping):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name and isinstance(value, str):
            return value
    return None


def _cap(param: str, value: Any) -> Decimal | None:
    if isinstance(value, bool | dict | list):
        raise InvalidRequestError(f"{param} must be a number of USD, got {value!r}", param=param)
    try:
        return validate_max_cost(value)
    except InvalidRequestError as exc:
        message = f"{param} must be a finite, non-negative number of USD, got {value!r}"
        raise InvalidRequestError(message, param=param) from exc


def _max_tokens(data: Mapping[str, Any], fields: tuple[str, ...]) -> int | None:
    found: list[int] = []
    for name in fields:
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidRequestError(f"{name} must be a positive integer, got {value!r}", param=name)
        found.append(value)
    return min(found) if found else None
