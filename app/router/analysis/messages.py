"""Reading a chat request's messages: roles, texts, and the bounded windows of them the analysis scans.

Messages are OpenAI-style, as dicts or attribute objects (pydantic models, SDK objects). Only the **last user
message** and the **system/developer** messages (their first :data:`SYSTEM_CHARS`) are read for intent and code
signals; of a long text only a head and a tail window is scanned (:func:`head_and_tail`), since instructions sit at the
start or the end of a prompt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = ["SYSTEM_CHARS", "field", "head_and_tail", "read_conversation", "role_of", "strip_fences", "text_of"]

#: System/developer text scanned for intent and code signals, chars.
SYSTEM_CHARS: Final = 600


def field(obj: Any, key: str) -> Any:
    """``obj[key]`` of a mapping, else the attribute ``key`` (``None`` when missing)."""
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def role_of(message: Any) -> str:
    """The message's role as a string (an enum's value; ``""`` when missing)."""
    role = field(message, "role")
    return role if type(role) is str else str(getattr(role, "value", role) or "")


def text_of(content: Any) -> str:
    """The text of a message's content (string, or the text parts of a list joined by newlines)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, (bytes, Mapping)):
        texts = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            else:
                text = field(part, "text")
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return ""


def read_conversation(messages: Sequence[Any]) -> tuple[str, str, bool]:
    """``(user_text, system_text, has_tool_messages)``: the last user message's text, the first
    :data:`SYSTEM_CHARS` of each system/developer message joined by newlines, and whether the conversation has tool
    calls or results."""
    user_text = ""
    system_parts: list[str] = []
    has_tool_messages = False
    for message in messages:
        role = role_of(message)
        if role == "user":
            user_text = text_of(field(message, "content"))
        elif role in ("system", "developer"):
            system_parts.append(text_of(field(message, "content"))[:SYSTEM_CHARS])
        elif role in ("tool", "function") or field(message, "tool_calls") or field(message, "function_call"):
            has_tool_messages = True
    return user_text, "\n".join(system_parts), has_tool_messages


def head_and_tail(text: str, head: int, tail: int) -> str:
    """The whole text, or its first ``head`` and last ``tail`` characters when longer (chars)."""
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n{text[-tail:]}"


def strip_fences(text: str) -> str:
    """``text`` without its fenced code blocks (an unterminated fence runs to the end)."""
    if "```" not in text:
        return text
    kept: list[str] = []
    pos = 0
    while (start := text.find("```", pos)) >= 0:
        kept.append(text[pos:start])
        end = text.find("```", start + 3)
        if end < 0:
            pos = len(text)
            break
        pos = end + 3
    kept.append(text[pos:])
    return " ".join(kept)
