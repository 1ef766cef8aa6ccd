"""The request-path featurizer of the learned quality model: a prompt's text as a set of word uni- and bigrams.

Written for speed on the request path (pure Python; the regular expression and ``set`` do the work in C): only a
bounded head and tail of the text are read (the question usually opens or closes a prompt, and a 30 KB pasted
document must not cost 15× a 2 KB one), lower-cased, split into words and single punctuation marks; the terms are
the distinct words and adjacent word pairs (``"how many"``). Training (:mod:`app.evaluation.training`) uses the same
functions, so a model sees at run time exactly the terms it was trained on.

Why not a library vectorizer: scikit-learn's TF-IDF transform of a 2 KB prompt takes ~3.5 ms, 35× the budget of a
routing decision; here a term is a dict lookup in the model's vocabulary (:class:`~app.quality.model.QualityModel`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = ["HEAD_CHARS", "TAIL_CHARS", "prompt_terms", "prompt_text"]

#: Characters of the prompt read from its start and from its end.
HEAD_CHARS: Final = 1200
TAIL_CHARS: Final = 400

_WORD: Final = re.compile(r"\w+|[^\w\s]")


def prompt_text(messages: Sequence[Any]) -> str:
    """The text whose difficulty matters: the last user message's text (its text parts, for multi-part content),
    else the last message with text. Messages are OpenAI-style dicts or objects with ``role`` / ``content``."""
    fallback = ""
    for message in reversed(messages):
        role, content = _role_and_content(message)
        text = _text_of(content)
        if not text:
            continue
        if role == "user":
            return text
        fallback = fallback or text
    return fallback


def _role_and_content(message: Any) -> tuple[Any, Any]:
    if isinstance(message, Mapping):
        return message.get("role"), message.get("content")
    return getattr(message, "role", None), getattr(message, "content", None)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, bytes | Mapping):
        parts = [part.get("text") for part in content if isinstance(part, Mapping) and part.get("type") == "text"]
        return "\n".join(text for text in parts if isinstance(text, str))
    return ""


def prompt_terms(text: str) -> set[str]:
    """The distinct words and adjacent word pairs of the text's head and tail windows (lower-cased)."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        text = f"{text[:HEAD_CHARS]}\n{text[-TAIL_CHARS:]}"
    words = _WORD.findall(text.lower())
    terms = set(words)
    terms.update(map(" ".join, itertools.pairwise(words)))
    return terms
