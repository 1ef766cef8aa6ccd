"""Whether a text is code, and why: the code signals of a message's head and tail window.

Code detection (:func:`detect_code`): a fenced block (```` ``` ````, reported with its language tag),
or at least :data:`CODE_SIGNAL_THRESHOLD` distinct code signals in a window with some density of code
punctuation (``(){};=<>:#|&$*``). Signals are keywords on word boundaries *in a syntactic context* —
``def name(``, ``class Name:``/``{``/``(``, ``import x`` or ``from x import`` or ``return`` starting a
line, ``function name(``, ``const/let/var x =``, ``fn/func name(``, ``public/private ... name(``,
``SELECT ... FROM``, ``#include <``, ``namespace x {``, ``lambda x:``, ``elif``, ``nullptr``,
``print(``/``printf(``/``println!(``/``console.log(``, ``self.x``/``this.x =``, ``std::`` — and
syntax tokens: ``=>``, ``==``/``!=``/``&&``/``||``, ``::``, ``:=``, ``()``, ``();``/``){``/``};``/a line
ending in ``;``, ``</``/``/>``, ``${``, ``#!/``. So "different", "gift", "classic", "define", English
words like "return the form" or a lone "if" never count.

Speed: code keywords are found with ``str.find`` and their context validated with anchored precompiled regexes
(``.match`` at a position, no scanning); a window without some density of code punctuation is not searched at all.
"""

from __future__ import annotations

import re
from typing import Final

from app.router.analysis.messages import head_and_tail

__all__ = ["CODE_SIGNAL_THRESHOLD", "HEAD_CHARS", "TAIL_CHARS", "detect_code"]

#: Distinct code signals needed (without a fenced block) for ``has_code``.
CODE_SIGNAL_THRESHOLD: Final = 2
#: Code signals are looked for in the first HEAD_CHARS and last TAIL_CHARS of a message, chars.
HEAD_CHARS: Final = 1000
TAIL_CHARS: Final = 300

_MEMBER_TAIL: Final = re.compile(r"\s+(?:(?:static|final|async|abstract|readonly)\s+)*[\w<>\[\],]+\s+\w+\s*[(=;{:]")
#: Code keywords: (keyword, label, tail pattern that must follow it, must start a line). A keyword
#: counts only on a word boundary (no letter, digit or ``_`` before it; the tail or a non-word char after).
_CODE_KEYWORDS: Final[tuple[tuple[str, str, re.Pattern[str] | None, bool], ...]] = (
    ("def", "def", re.compile(r"\s+\w+\s*\("), False),
    ("class", "class", re.compile(r"\s+[A-Za-z_]\w*\s*(?:[:({<]|extends\b|implements\b)"), False),
    ("import", "import", re.compile(r"\s+[\w.{*]"), True),
    ("from", "import", re.compile(r"\s+[\w.]+\s+import\s"), True),
    ("return", "return", re.compile(r"\b"), True),
    ("function", "function", re.compile(r"\s*\*?\s*[\w$]*\s*\("), False),
    ("const", "const/let/var", re.compile(r"\s+[\w$\[\]{}, ]{1,40}?\s*(?::\s*[\w<>\[\]| ]+)?=[^=>]"), False),
    ("let", "const/let/var", re.compile(r"\s+(?:mut\s+)?[\w$\[\]{}, ]{1,40}?\s*(?::\s*[\w<>\[\]| ]+)?=[^=>]"), False),
    ("var", "const/let/var", re.compile(r"\s+[\w$]+\s*(?::\s*[\w<>\[\]| ]+)?=[^=>]"), False),
    ("fn", "fn/func", re.compile(r"\s+\w+\s*[(<]"), False),
    ("func", "fn/func", re.compile(r"\s+(?:\([^)]*\)\s*)?\w+\s*[(<]"), False),
    ("public", "public/private", _MEMBER_TAIL, False),
    ("private", "public/private", _MEMBER_TAIL, False),
    ("protected", "public/private", _MEMBER_TAIL, False),
    ("SELECT", "SELECT…FROM", re.compile(r"\s[^;]{0,200}?\bFROM\s"), False),
    ("select", "SELECT…FROM", re.compile(r"\s+(?:\*|\w+(?:\s*,\s*\w+)+)\s+from\s"), False),
    ("#include", "#include", re.compile(r"\s*[<\"]"), False),
    ("elif", "elif", None, False),
    ("lambda", "lambda", re.compile(r"\s*[\w, *]*:"), False),
    ("nullptr", "nullptr", None, False),
    ("typedef", "typedef", None, False),
    ("namespace", "namespace", re.compile(r"\s+[\w:]+\s*\{"), False),
    ("println", "print call", re.compile(r"!?\("), False),
    ("printf", "print call", re.compile(r"\("), False),
    ("print", "print call", re.compile(r"\((?!\))"), False),
    ("console.log", "print call", re.compile(r"\("), False),
    ("self.", "self./this.", re.compile(r"\w"), False),
    ("this.", "self./this.", re.compile(r"\w+\s*[=(.;]"), False),
    ("std::", "std::", None, False),
)
#: Keyword checks stop once this many distinct signals are found (enough to explain the verdict).
_MAX_CODE_SIGNALS: Final = 4
#: Code punctuation; a window needs some density of it before the keyword/syntax checks run.
_CODE_PUNCT: Final = b"(){};=<>:#|&$*"
#: Syntax tokens (plain substrings): (token, label).
_CODE_SYNTAX: Final = (
    ("=>", "=>"),
    ("==", "operators == != && ||"),
    ("!=", "operators == != && ||"),
    ("&&", "operators == != && ||"),
    ("||", "operators == != && ||"),
    ("::", "::"),
    (":=", ":="),
    ("()", "empty call ()"),
    ("();", "statement punctuation ; {}"),
    ("){", "statement punctuation ; {}"),
    (") {", "statement punctuation ; {}"),
    ("};", "statement punctuation ; {}"),
    (";\n", "statement punctuation ; {}"),
    ("#!/", "shebang"),
    ("</", "html/xml tag"),
    ("/>", "html/xml tag"),
    ("${", "${…}"),
)
_WORD_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def detect_code(text: str) -> tuple[str, ...]:
    """Code signals in ``text`` (head/tail window), or ``()`` when it does not look like code.

    ``("fenced code block (python)",)`` when the text has a ``` fence (tag when given); otherwise the
    distinct signal labels (e.g. ``("def", "return")``) when there are at least
    :data:`CODE_SIGNAL_THRESHOLD` of them (the search stops at :data:`_MAX_CODE_SIGNALS`). Keywords count
    only on word boundaries and in a syntactic context (``def name(``, not "define" or "def").
    """
    fence = text.find("```")
    if fence >= 0:  # code for sure; name the fence's language tag when there is one
        tag = text[fence + 3 : fence + 23].split("\n", 1)[0].strip()
        return (f"fenced code block ({tag})",) if tag.isidentifier() else ("fenced code block",)
    window = head_and_tail(text, HEAD_CHARS, TAIL_CHARS)
    data = window.encode("utf-8", "surrogatepass")
    punct = len(data) - len(data.translate(None, _CODE_PUNCT))
    labels: dict[str, None] = {}
    if punct >= 2 and (punct * 50 >= len(data) or punct >= 12):  # else: prose, nothing can match
        for token, label in _CODE_SYNTAX:
            if label not in labels and token in window:
                labels[label] = None
        word_chars = _WORD_CHARS
        for keyword, label, tail, line_start in _CODE_KEYWORDS:
            if len(labels) >= _MAX_CODE_SIGNALS:
                break
            if label in labels:
                continue
            pos = 0
            for _ in range(8):  # bounded number of occurrences per keyword
                i = window.find(keyword, pos)
                if i < 0:
                    break
                pos = i + len(keyword)
                if i and window[i - 1] in word_chars:
                    continue
                if line_start and window[window.rfind("\n", 0, i) + 1 : i].strip():
                    continue
                if tail is None:
                    if pos < len(window) and window[pos] in word_chars:
                        continue
                elif not tail.match(window, pos):
                    continue
                labels[label] = None
                break
    if len(labels) >= CODE_SIGNAL_THRESHOLD:
        return tuple(labels)
    return ()
