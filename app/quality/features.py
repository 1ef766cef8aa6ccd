"""The request-path featurizer of the learned quality model: a prompt's text as a set of words, word pairs and marks.

Written for speed on the request path (pure Python; ``str.translate``, ``str.split`` and ``set`` do the work in C):
only a bounded head and tail of the text are read (the question usually opens or closes a prompt, and a 30 KB pasted
document must not cost 15× a 2 KB one), lower-cased and split into words at spaces and ASCII punctuation; the terms
are the distinct words, adjacent word pairs (``("how", "many")``) and the punctuation marks the windows hold.
Training (:mod:`app.evaluation.training`) uses the same functions, so a model sees at run time exactly the terms it
was trained on.

Why not a library vectorizer: scikit-learn's TF-IDF transform of a 2 KB prompt takes ~3.5 ms, 35× the budget of a
routing decision; here the words come from ``str.translate`` and ``str.split`` and a term is a dict lookup in the
model's vocabulary (:class:`~app.quality.model.QualityModel`).
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

__all__ = ["HEAD_CHARS", "TAIL_CHARS", "TEXT_FEATURES", "prompt_terms", "prompt_text", "text_features"]

#: Characters of the prompt read from its start and from its end.
HEAD_CHARS: Final = 1200
TAIL_CHARS: Final = 400

#: ASCII punctuation becomes spaces before the text is split into words (``str.translate`` + ``str.split`` in C: 5×
#: faster than a regular expression); which marks the text holds is kept as terms of their own (MARKS).
_PUNCTUATION_TO_SPACE: Final = str.maketrans(string.punctuation, " " * len(string.punctuation))
MARKS: Final = tuple("?!:;()[]{}=+-*/^%$#@&<>|\\~`'\"_.,")

#: The names of :func:`text_features`, in order.
TEXT_FEATURES: Final = ("log_digits", "log_sentences", "question_marks")


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


def window(text: str) -> str:
    """The text's first :data:`HEAD_CHARS` and last :data:`TAIL_CHARS` characters (all of a shorter text)."""
    if len(text) > HEAD_CHARS + TAIL_CHARS:
        return f"{text[:HEAD_CHARS]}\n{text[-TAIL_CHARS:]}"
    return text


def prompt_terms(text: str) -> set[str | tuple[str, str]]:
    """The distinct lower-case words (runs of characters between spaces and ASCII punctuation) and adjacent word
    pairs (as tuples: cheaper than joined strings) of the text's head and tail windows, and the punctuation marks
    they contain (:data:`MARKS`)."""
    lowered = window(text).lower()
    words = lowered.translate(_PUNCTUATION_TO_SPACE).split()
    terms: set[str | tuple[str, str]] = set(words)
    terms.update(zip(words, words[1:], strict=False))  # noqa: RUF007 (zip of slices is faster than pairwise)
    marks: Iterable[str] = filter(lowered.__contains__, MARKS)
    terms.update(marks)
    return terms


def text_features(text: str) -> tuple[float, float, float]:
    """Dense features of the text's head and tail windows, scaled to about [0, 2]: ``ln(1 + digits) / 3``
    (quantities to combine), ``ln(1 + sentence ends) / 3``, and ``min(question marks, 4) / 4``."""
    text = window(text)
    numbers = sum(map(text.count, "0123456789"))
    sentences = text.count(". ") + text.count("? ") + text.count("! ") + text.count("\n") + 1
    return math.log1p(numbers) / 3.0, math.log1p(sentences) / 3.0, min(text.count("?"), 4) / 4.0
