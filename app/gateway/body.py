"""Reading a request body as JSON, bounded: its size in bytes and its nesting depth.

A client may send a body of any size and JSON nested to any depth. Both are refused with a typed error before they
cost more than the limit: a body over ``max_bytes`` (:class:`~app.errors.RequestTooLargeError`, answered 413) and JSON
that is invalid or nested deeper than :data:`MAX_JSON_DEPTH` (:class:`~app.errors.InvalidRequestError` with code
``invalid_json``, answered 400).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Final

from app.errors import InvalidRequestError, RequestTooLargeError

__all__ = ["DRAIN_FACTOR", "MAX_JSON_DEPTH", "decode_json", "read_json_body"]

#: Deepest nesting of arrays and objects a body may have. A chat request needs about 8 (tool schemas a few more);
#: deeper JSON is refused before anything walks it recursively.
MAX_JSON_DEPTH: Final = 100

#: An over-limit body is read and discarded up to this many times the limit, so that the client (which is still
#: sending) receives the 413; a body larger still is cut off by closing the connection.
DRAIN_FACTOR: Final = 4


async def read_json_body(chunks: AsyncIterator[bytes], declared_length: str | None, max_bytes: int) -> Any:
    """The decoded JSON of a body received as ``chunks``, at most ``max_bytes`` long.

    ``declared_length`` is the ``Content-Length`` header (``None`` for a chunked body). An over-limit body is
    drained (up to :data:`DRAIN_FACTOR` × the limit) before the error is raised, so the answer reaches the client.

    Raises:
        RequestTooLargeError: the body (declared or received) is over ``max_bytes``.
        InvalidRequestError: (code ``invalid_json``) the body is not valid JSON, or nests deeper than
            :data:`MAX_JSON_DEPTH`.
    """
    parts: list[bytes] = []
    received = 0
    too_large = _declared_over(declared_length, max_bytes)
    if too_large and _declared_over(declared_length, DRAIN_FACTOR * max_bytes):
        raise RequestTooLargeError(max_bytes)  # too large to drain: the connection is closed after the answer
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            too_large = True
        if too_large:
            parts.clear()
            if received > DRAIN_FACTOR * max_bytes:
                break
            continue
        parts.append(chunk)
    if too_large:
        raise RequestTooLargeError(max_bytes)
    return decode_json(b"".join(parts))


def _declared_over(declared_length: str | None, max_bytes: int) -> bool:
    try:
        return declared_length is not None and int(declared_length) > max_bytes
    except ValueError:
        return False  # the server rejects a malformed Content-Length before the app sees the request


def decode_json(data: bytes) -> Any:
    """``json.loads`` with a typed error for invalid or too deeply nested JSON.

    Raises:
        InvalidRequestError: (code ``invalid_json``) not JSON, or nested deeper than :data:`MAX_JSON_DEPTH`.
    """
    too_deep = f"the body's JSON nests deeper than {MAX_JSON_DEPTH} levels"
    try:
        value = json.loads(data)
    except RecursionError:  # deeper than the decoder's own recursion limit
        raise InvalidRequestError(too_deep, param="body", code="invalid_json") from None
    except ValueError:
        raise InvalidRequestError("the body is not valid JSON", param="body", code="invalid_json") from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidRequestError(too_deep, param="body", code="invalid_json")
    return value


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists/dicts more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
