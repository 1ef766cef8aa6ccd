"""Server-sent-event parsing and the :class:`ChatStream` returned by ``stream_chat_completion``.

A stream is complete only when ``data: [DONE]`` arrives. An error before the first chunk raises the mapped
error (and may have been retried); a stream that breaks or ends early after chunks were delivered raises
:class:`~app.errors.StreamInterruptedError` — never a silent partial success.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx

from app.errors import ConfigurationError, InvalidResponseError, StreamInterruptedError
from app.models import Usage
from app.pricing import CostSource, to_decimal_usd

__all__ = ["ChatStream", "OpenedStream", "sse_data"]

DONE = "[DONE]"
"""The payload that ends a complete stream."""


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield the ``data`` payload of each server-sent event (multi-line data joined by newlines).

    Comment lines (``:``) and other fields (``event:``, ``id:``, ``retry:``) are ignored.
    """
    data: list[str] = []
    async for line in lines:
        if line == "":
            if data:
                yield "\n".join(data)
                data = []
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    if data:
        yield "\n".join(data)


def parse_frame(payload: str) -> dict[str, Any]:
    """Parse one event payload as a JSON object."""
    try:
        frame = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise InvalidResponseError(f"stream frame is not JSON: {payload[:200]!r}") from exc
    if not isinstance(frame, dict):
        raise InvalidResponseError(f"stream frame is not a JSON object: {payload[:200]!r}")
    return frame


def is_usage_only(frame: dict[str, Any]) -> bool:
    """True for the final usage chunk: usage present and no content, tool call or finish reason in it."""
    if frame.get("usage") is None:
        return False
    return all(not choice.get("delta") and not choice.get("finish_reason") for choice in frame.get("choices") or [])


class OpenedStream:
    """An open HTTP stream whose first frame has been read (returned by the provider's opener)."""

    def __init__(self, response: httpx.Response, events: AsyncIterator[str], first: dict[str, Any]) -> None:
        self.response = response
        self.events = events
        self.first = first


Finisher = Callable[[Usage | None, Decimal | None], tuple[Decimal | None, CostSource]]
Settler = Callable[[Usage | None, Mapping[str, str] | None, BaseException | None], None]


class ChatStream:
    """Async iterator of chunk dicts in the OpenAI ``chat.completion.chunk`` shape.

    Use ``async for chunk in stream`` (or ``async with stream:`` to close early). When iteration ends:
    ``usage`` (a :class:`~app.models.Usage`), ``cost_usd`` (float or ``None`` when no price is known),
    ``cost_source``, ``call_id`` and ``finish_reason`` are set. The usage-only chunk is passed on only if the
    caller asked for ``stream_options.include_usage`` itself; its ``choices`` is then never empty.
    """

    def __init__(
        self,
        open_stream: Callable[[], Awaitable[OpenedStream]],
        *,
        next_frame: Callable[[AsyncIterator[str]], Awaitable[dict[str, Any] | str | None]],
        finish: Finisher,
        model: str,
        pass_usage_chunk: bool,
        settle: Settler | None = None,
    ) -> None:
        self._open_stream = open_stream
        self._next_frame = next_frame
        self._finish = finish
        self._settle = settle
        self._iterator: AsyncGenerator[dict[str, Any], None] | None = None
        self._pass_usage_chunk = pass_usage_chunk
        self._opened: OpenedStream | None = None
        self._started = False
        self.model = model
        self.usage: Usage | None = None
        self.cost_usd: float | None = None
        self.cost_source: CostSource = "unknown"
        self.call_id: str | None = None
        self.finish_reason: str | None = None
        self.completed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        if self._started:
            raise RuntimeError("a ChatStream can be iterated only once")
        self._started = True
        self._iterator = self._iterate()
        return self._iterator

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the stream and close the HTTP response (idempotent)."""
        if self._iterator is not None:
            await self._iterator.aclose()
        if self._opened is not None:
            await self._opened.response.aclose()

    async def _iterate(self) -> AsyncGenerator[dict[str, Any], None]:
        self._opened = opened = await self._open_stream()
        self.call_id = opened.response.headers.get("x-litellm-call-id")
        reported_cost: Decimal | None = None
        error: BaseException | None = None
        try:
            frame: dict[str, Any] | None = opened.first
            while frame is not None:
                reported_cost = self._record(frame, reported_cost)
                chunk = self._chunk_to_pass(frame)
                if chunk is not None:
                    yield chunk
                following = await self._next_frame(opened.events)
                if following is None:
                    raise StreamInterruptedError(
                        f"stream for {self.model!r} ended without [DONE]", model=self.model, retryable=False
                    )
                frame = None if following == DONE else following  # type: ignore[assignment]
            self.completed = True
            cost, self.cost_source = self._finish(self.usage, reported_cost)
            self.cost_usd = float(cost) if cost is not None else None
        except BaseException as exc:  # GeneratorExit too: the consumer stopped early
            error = exc
            raise
        finally:
            if self._settle is not None:
                self._settle(self.usage, opened.response.headers, None if self.completed else error or GeneratorExit())
            await opened.response.aclose()

    def _record(self, frame: dict[str, Any], reported_cost: Decimal | None) -> Decimal | None:
        usage = frame.get("usage")
        if usage:
            self.usage = Usage.model_validate(usage)
            if usage.get("cost") is not None:
                try:
                    reported_cost = to_decimal_usd(usage["cost"], field="usage.cost")
                except ConfigurationError:
                    reported_cost = None
        for choice in frame.get("choices") or []:
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return reported_cost

    def _chunk_to_pass(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        if not is_usage_only(frame):
            return frame
        if not self._pass_usage_chunk:
            return None
        if not frame.get("choices"):
            frame = {**frame, "choices": [{"index": 0, "delta": {}}]}
        return frame
