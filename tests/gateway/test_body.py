"""Reading a bounded JSON body: size limit (declared or received), draining, depth limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.errors import InvalidRequestError, RequestTooLargeError
from app.gateway.body import DRAIN_FACTOR, MAX_JSON_DEPTH, decode_json, read_json_body
from app.models import CONTENT_PART_TYPES, ChatMessage, to_message_dicts


class Chunks:
    """An async byte stream that counts what was read of it."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += len(chunk)
            yield chunk


async def test_a_body_within_the_limit_is_decoded() -> None:
    assert await read_json_body(Chunks(b'{"a": ', b"[1, 2]}").__aiter__(), "13", 13) == {"a": [1, 2]}


async def test_an_over_limit_body_is_drained_then_refused() -> None:
    chunks = Chunks(*[b"x" * 100] * 5)
    with pytest.raises(RequestTooLargeError) as info:
        await read_json_body(chunks.__aiter__(), None, 150)
    assert chunks.read == 500  # all of it read (within DRAIN_FACTOR x the limit), so the client gets the answer
    assert info.value.limit_bytes == 150 and info.value.param == "body" and info.value.code == "request_too_large"
    assert isinstance(info.value, InvalidRequestError)


async def test_draining_stops_past_the_drain_factor() -> None:
    chunks = Chunks(*[b"x" * 100] * 50)
    with pytest.raises(RequestTooLargeError):
        await read_json_body(chunks.__aiter__(), None, 100)
    assert chunks.read == (DRAIN_FACTOR * 100) + 100


async def test_a_declared_length_too_large_to_drain_is_refused_unread() -> None:
    chunks = Chunks(b"x" * 100)
    with pytest.raises(RequestTooLargeError):
        await read_json_body(chunks.__aiter__(), str(DRAIN_FACTOR * 100 + 1), 100)
    assert chunks.read == 0


@pytest.mark.parametrize("data", [b"", b"{", b"nan?", b"\xff\xfe", b"[" * 5000 + b"]" * 5000])
def test_invalid_or_deep_json_is_invalid_json(data: bytes) -> None:
    with pytest.raises(InvalidRequestError) as info:
        decode_json(data)
    assert info.value.code == "invalid_json" and info.value.param == "body"


def test_the_depth_limit_is_exact() -> None:
    def nested(depth: int) -> bytes:
        return b"[" * depth + b"]" * depth

    assert decode_json(nested(MAX_JSON_DEPTH)) is not None
    with pytest.raises(InvalidRequestError):
        decode_json(nested(MAX_JSON_DEPTH + 1))
    assert decode_json(b'{"a": {"b": [1, {"c": "d"}]}}') == {"a": {"b": [1, {"c": "d"}]}}


@pytest.mark.parametrize("kind", sorted(CONTENT_PART_TYPES))
def test_messages_with_known_part_types_validate(kind: str) -> None:
    part: dict[str, Any] = {"type": kind, "text": "x"}
    assert to_message_dicts([{"role": "user", "content": [part]}])[0]["content"] == [part]


def test_a_message_with_an_unknown_part_type_is_refused_before_sending() -> None:
    with pytest.raises(InvalidRequestError, match=r"messages\[0\]\.content: .*part 1: unknown content part type"):
        to_message_dicts([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "weird"}]}])
    with pytest.raises(ValueError, match="part 0"):
        ChatMessage(role="user", content=[{"text": "untyped"}])
