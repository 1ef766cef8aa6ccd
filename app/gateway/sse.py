"""A routed stream as server-sent events in the OpenAI format: ``data: {chunk}`` frames, then ``data: [DONE]``.

When the client asked for ``stream_options.include_usage``, the usage chunk is held back until the stream has ended
and sent last with ``usage.cost``: what the request cost in USD, failed attempts included (costmux's figure, known
only at the end). A failure after the first chunk ends the stream with an OpenAI error frame
(``data: {"error": {...}}``) and no ``[DONE]``, which OpenAI clients raise as an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio

from app.gateway.errors import error_answer
from app.providers.streaming import is_usage_only
from app.router.stream_execution import RoutedStream

__all__ = ["DONE_EVENT", "sse_event", "sse_stream"]

logger = logging.getLogger("costmux.gateway")

DONE_EVENT = b"data: [DONE]\n\n"

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def sse_event(data: dict[str, Any]) -> bytes:
    """One ``data:`` event (compact JSON; one line, since JSON strings escape newlines)."""
    return b"data: " + _dumps(data).encode() + b"\n\n"


async def sse_stream(routed: RoutedStream, *, include_usage: bool) -> AsyncIterator[bytes]:
    """The events of ``routed``; the stream is closed (and charged) however the iteration ends."""
    usage_chunk: dict[str, Any] | None = None
    try:
        async for chunk in routed:
            if include_usage and chunk.get("usage") is not None and is_usage_only(chunk):
                usage_chunk = chunk
                continue
            yield sse_event(chunk)
        if usage_chunk is not None:
            usage = dict(usage_chunk["usage"])
            usage["cost"] = routed.cost_usd
            yield sse_event({**usage_chunk, "usage": usage})
        yield DONE_EVENT
    except Exception as exc:  # after the first chunk the status is sent: the error goes in the stream
        logger.warning("stream from %s failed after its first chunk: %s", routed.model, type(exc).__name__)
        yield sse_event(error_answer(exc).body)
    finally:
        with anyio.CancelScope(shield=True):  # a disconnected client cancels us: still close the upstream stream
            await routed.aclose()
