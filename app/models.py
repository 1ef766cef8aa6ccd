"""Request and response models in the OpenAI chat shape (pydantic v2).

Plain dicts are accepted wherever messages are: :func:`to_message_dicts` turns a list of dicts or
:class:`ChatMessage` objects into the JSON the proxy expects. Unknown fields sent by the proxy are kept
(``extra="allow"``), so nothing LiteLLM adds is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.errors import InvalidRequestError

__all__ = [
    "CONTENT_PART_TYPES",
    "ChatCompletionChoice",
    "ChatCompletionResponse",
    "ChatMessage",
    "MessageInput",
    "ToolCall",
    "Usage",
    "content_part_error",
    "to_message_dicts",
]


class _OpenModel(BaseModel):
    model_config = ConfigDict(extra="allow")


class ToolCallFunction(_OpenModel):
    name: str
    arguments: str = ""


class ToolCall(_OpenModel):
    """A tool call requested by the assistant."""

    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


#: The ``type`` of a content part the LiteLLM proxy (1.106.2) accepts in a chat message: its user content types
#: (``ValidUserMessageContentTypes``), its assistant ones (``thinking``, ``redacted_thinking``) and OpenAI's
#: ``refusal``. Any other type is refused before sending (the proxy answers it with a 500).
CONTENT_PART_TYPES: frozenset[str] = frozenset(
    {
        "text",
        "image_url",
        "input_audio",
        "audio_url",
        "document",
        "guarded_text",
        "grounding_source",
        "query",
        "video_url",
        "file",
        "thinking",
        "redacted_thinking",
        "refusal",
    }
)


def content_part_error(parts: list[Any]) -> tuple[int, str] | None:
    """``(index, why)`` of the first invalid part of a list ``content``, or ``None`` when every part is an object
    whose ``type`` is one of :data:`CONTENT_PART_TYPES`."""
    for index, part in enumerate(parts):
        if not isinstance(part, Mapping):
            return index, "a content part must be an object with a type"
        kind = part.get("type")
        if kind not in CONTENT_PART_TYPES:
            known = ", ".join(sorted(CONTENT_PART_TYPES))
            return index, f"unknown content part type {kind!r} (known: {known})"
    return None


class ChatMessage(_OpenModel):
    """One chat message. ``content`` is text, a list of OpenAI content parts (of the types in
    :data:`CONTENT_PART_TYPES`), or ``None`` (tool calls only)."""

    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _known_part_types(cls, content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        if isinstance(content, list):
            problem = content_part_error(content)
            if problem is not None:
                raise ValueError(f"part {problem[0]}: {problem[1]}")
        return content

    def text(self) -> str:
        """The message's text: the content string, or its text parts joined by newlines."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")


class Usage(_OpenModel):
    """Token counts reported for one completion."""

    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    total_tokens: int = Field(default=0, ge=0)


class ChatCompletionChoice(_OpenModel):
    index: int = 0
    message: ChatMessage
    finish_reason: str | None = None


class ChatCompletionResponse(_OpenModel):
    """A chat completion in the OpenAI shape, plus what costmux learned about it.

    Attributes beyond OpenAI's:
        cost_usd: the actual cost in USD (the proxy's ``x-litellm-response-cost`` when it is meaningful,
            else usage × the model's prices), or ``None`` when no price is known (never a silent 0).
        cost_source: ``"proxy"``, ``"computed"`` or ``"unknown"``.
        call_id: the proxy's ``x-litellm-call-id``.
    """

    id: str
    object: str = "chat.completion"
    created: int = 0
    model: str
    choices: list[ChatCompletionChoice]
    usage: Usage | None = None
    cost_usd: float | None = None
    cost_source: Literal["proxy", "computed", "unknown"] = "unknown"
    call_id: str | None = None

    @property
    def content(self) -> str:
        """The first choice's text (empty when there is none)."""
        return self.choices[0].message.text() if self.choices else ""


MessageInput = ChatMessage | Mapping[str, Any]


def to_message_dicts(messages: Iterable[MessageInput]) -> list[dict[str, Any]]:
    """Validate messages (dicts or :class:`ChatMessage`) and return them as JSON-ready dicts.

    Raises:
        InvalidRequestError: a message is malformed (missing role, unknown role, wrong content type).
    """
    if isinstance(messages, str | bytes | Mapping):
        raise InvalidRequestError("messages must be a list of messages, not a single string or dict")
    result: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        plain = _plain_text_message(message)
        if plain is not None:  # what validating and dumping would return, without pydantic (~5 µs a message)
            result.append(plain)
            continue
        try:
            parsed = message if isinstance(message, ChatMessage) else ChatMessage.model_validate(message)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise InvalidRequestError(f"messages[{index}].{where}: {first['msg']}") from exc
        result.append(parsed.model_dump(exclude_none=True))
    if not result:
        raise InvalidRequestError("messages must not be empty")
    return result


_ROLES: frozenset[str] = frozenset(get_args(ChatMessage.model_fields["role"].annotation))


def _plain_text_message(message: object) -> dict[str, Any] | None:
    """A copy of ``message`` when it is a dict of exactly a valid ``role`` and a string ``content`` (the common
    case, which :class:`ChatMessage` would validate and dump to the same dict, key order included), else ``None``."""
    if type(message) is not dict or len(message) != 2:
        return None
    role, content = message.get("role"), message.get("content")
    if type(role) is not str or role not in _ROLES or type(content) is not str:
        return None
    return {"role": role, "content": content}
