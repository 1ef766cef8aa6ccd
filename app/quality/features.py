"""The request-path featurizer of the learned quality model: a prompt's text as a set of words, word pairs and marks.

Written for speed on the request path (pure Python; ``str.translate``, ``str.split`` and ``set`` do the work in C):
only a bounded head and tail of the text are read (the question usually opens or closes a prompt, and a 30 KB pasted
document must not cost 15× a 2 KB one), lower-cased and split into words at spaces and ASCII punctuation; the terms
are the distinct words, adjacent word pairs (``("how", "many")``) and triples (``("how", "many", "more")``), and the
punctuation marks the windows hold.
Training (:mod:`app.evaluation.training`) uses the same functions, so a model sees at run time exactly the terms it
was trained on.

Why not a library vectorizer: scikit-learn's TF-IDF transform of a 2 KB prompt takes ~3.5 ms, 35× the budget of a
routing decision; here the words come from ``str.translate`` and ``str.split`` and a term is a dict lookup in the
model's vocabulary (:class:`~app.quality.model.QualityModel`).
"""

from __future__ import annotations

import math
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

__all__ = [
    "DEFAULT_WINDOW",
    "HEAD_CHARS",
    "LEGACY_WINDOW",
    "TAIL_CHARS",
    "TEXT_FEATURES",
    "prompt_marks",
    "prompt_terms",
    "prompt_text",
    "prompt_words",
    "text_features",
    "window",
]

#: Characters of the prompt read from its start and from its end, as ``(head, tail)``. A quality model records the
#: window it was trained with (:attr:`app.quality.QualityModel.window_chars`) and routing reads prompts through it;
#: ``costmux train`` uses DEFAULT_WINDOW unless told (``--window``); an artifact without the field was trained with
#: LEGACY_WINDOW.
Window = tuple[int, int]
HEAD_CHARS: Final = 600
TAIL_CHARS: Final = 200
DEFAULT_WINDOW: Final[Window] = (HEAD_CHARS, TAIL_CHARS)
LEGACY_WINDOW: Final[Window] = (1200, 400)

#: ASCII punctuation becomes spaces before the text is split into words (``str.translate`` + ``str.split`` in C: 5×
#: faster than a regular expression); which marks the text holds is kept as terms of their own (MARKS).
_PUNCTUATION_TO_SPACE: Final = str.maketrans(string.punctuation, " " * len(string.punctuation))
MARKS: Final = tuple("?!:;()[]{}=+-*/^%$#@&<>|\\~`'\"_.,")
_DIGITS: Final = b"0123456789"

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


def window(text: str, chars: Window = DEFAULT_WINDOW) -> str:
    """The text's first ``chars[0]`` and last ``chars[1]`` characters, joined by a newline (all of a shorter
    text)."""
    head, tail = chars
    if len(text) > head + tail:
        return f"{text[:head]}\n{text[len(text) - tail :]}"
    return text


def prompt_words(text: str, chars: Window = DEFAULT_WINDOW) -> tuple[str, list[str]]:
    """The text's head and tail windows lower-cased, and their words (runs of characters between spaces and ASCII
    punctuation), in order."""
    lowered = window(text, chars).lower()
    return lowered, lowered.translate(_PUNCTUATION_TO_SPACE).split()


def prompt_terms(text: str, chars: Window = DEFAULT_WINDOW) -> set[str | tuple[str, ...]]:
    """The distinct lower-case words (:func:`prompt_words`), adjacent word pairs and triples (as tuples) of the
    text's head and tail windows, and the punctuation marks they contain (:data:`MARKS`): what training counts. The
    request path looks the same terms up without making the tuples (:meth:`app.quality.QualityModel.text_columns`)."""
    lowered, words = prompt_words(text, chars)
    terms: set[str | tuple[str, ...]] = set(words)
    terms.update(zip(words, words[1:], strict=False))  # noqa: RUF007 (zip of slices is faster than pairwise)
    terms.update(zip(words, words[1:], words[2:], strict=False))
    terms.update(prompt_marks(lowered))
    return terms


def prompt_marks(lowered: str) -> Iterator[str]:
    """The punctuation marks (:data:`MARKS`) a window holds."""
    return filter(lowered.__contains__, MARKS)


def text_features(text: str, chars: Window = DEFAULT_WINDOW) -> tuple[float, float, float]:
    """Dense features of the text's head and tail windows, scaled to about [0, 2]: ``ln(1 + digits) / 3``
    (quantities to combine), ``ln(1 + sentence ends) / 3``, and ``min(question marks, 4) / 4``.

    Counted on the window's UTF-8 bytes (``bytes.translate`` and ``bytes.count`` are several times faster than
    ten ``str.count`` passes; an ASCII character or pair never occurs inside a multi-byte UTF-8 sequence, so the
    counts are those of the text)."""
    raw = window(text, chars).encode("utf-8", "surrogatepass")
    numbers = len(raw) - len(raw.translate(None, _DIGITS))
    sentences = raw.count(b". ") + raw.count(b"? ") + raw.count(b"! ") + raw.count(b"\n") + 1
    return math.log1p(numbers) / 3.0, math.log1p(sentences) / 3.0, min(raw.count(b"?"), 4) / 4.0
