"""What the last user message asks for: its intent window, the task type, multi-step wording, constraints, JSON.

The intent window is the last user message without its fenced code blocks (so words inside code, "error" or "fix",
do not steer the task type), cut to its first :data:`INTENT_HEAD_CHARS` and last :data:`INTENT_TAIL_CHARS`. It is
matched on a set of lower-cased words (one ``bytes.translate`` + ``split``, cut down to the known keywords of
:mod:`app.router.analysis.lexicon` with one set intersection) and on phrases (``bytes`` substring search, only when
one of the phrase's words is present).

Task type: the first matching rule in this order (see :data:`TASK_RULES_DOC`)::

    code_review       code present and review / fix / bug / debug / refactor / error / explain /
                      "what's wrong" / "doesn't work" wording
    code_generation   a verb (write, implement, create, generate, build, code, develop, make, add) with
                      a code object (function, class, script, program, query, API, regex, handler...) or a
                      programming language in the same sentence; without a language or code present, a creative form
                      (poem, story...) wins. Or: code present and write / add / convert / port /
                      complete / extend / rewrite / translate wording
    translation       (checked first when the first sentence asks to translate, without code or a programming
                      language) translate / translation..., "into|to <language>", "how do you say ... in
                      <language>"
    summarization     summarize / summarise / summary / tl;dr / recap / key points / "in one sentence"
    creative_writing  poem / story / haiku / lyrics / song / limerick / sonnet / fiction / fable...
    math_reasoning    solve / prove / equation / calculate / integral / derivative / probability...,
                      or a question with two numbers or more and quantity words (average, speed, percent, km ...),
                      or an arithmetic expression ("17 * 23", "3x + 5 =", "15% of 80"; "/" and "-"
                      only with spaces around them, so dates do not count)
    complex_analysis  prompt estimate >= LONG_PROMPT_TOKENS, or analyze / compare / evaluate /
                      trade-offs / pros and cons / recommend on a prompt >= SUBSTANTIAL_PROMPT_CHARS
    simple_qa         a short question (<= SHORT_QUESTION_CHARS, ends in "?" or starts with a wh-word)
    general           anything else

JSON output is asked for by wording such as "in JSON", "return JSON", "JSON only", "valid JSON" in the window or in
the system text.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

from app.router.analysis.lexicon import (
    ALL_KEYWORDS,
    ANALYSIS_PHRASES,
    ANALYSIS_WORDS,
    ARITH_OPERATORS,
    CODE_EDIT_VERBS,
    CODEGEN_OBJECTS,
    CODEGEN_VERBS,
    CONSTRAINT_PHRASES,
    CONSTRAINT_WORDS,
    CREATIVE_WORDS,
    DIGITS,
    JSON_PHRASES,
    LANGUAGE_WORDS,
    MATH_WORDS,
    MULTISTEP_PHRASES,
    OPERAND_ENDS,
    OPERAND_STARTS,
    PROGRAMMING_LANGUAGES,
    QUANTITY_WORDS,
    QUESTION_WORDS,
    REVIEW_PHRASES,
    REVIEW_WORDS,
    SEQUENCE_WORDS,
    SPLIT_TABLE,
    SUMMARY_PHRASES,
    SUMMARY_WORDS,
    TRANSLATE_WORDS,
)
from app.router.analysis.messages import head_and_tail, strip_fences
from app.tasks import TaskType

__all__ = [
    "INTENT_HEAD_CHARS",
    "INTENT_TAIL_CHARS",
    "LONG_PROMPT_TOKENS",
    "SHORT_QUESTION_CHARS",
    "SUBSTANTIAL_PROMPT_CHARS",
    "TASK_RULES_DOC",
    "Intent",
    "classify",
    "constraint_count",
    "is_multistep",
    "json_phrase",
]

#: Intent words are looked for in the first INTENT_HEAD_CHARS and last INTENT_TAIL_CHARS, chars.
INTENT_HEAD_CHARS: Final = 500
INTENT_TAIL_CHARS: Final = 250
#: Prompt estimate from which the task counts as complex analysis whatever its wording, tokens.
LONG_PROMPT_TOKENS: Final = 3000
#: Last-user-message length from which analyze/compare/evaluate wording counts as complex, chars.
SUBSTANTIAL_PROMPT_CHARS: Final = 150
#: Longest last user message that can be a simple question, chars.
SHORT_QUESTION_CHARS: Final = 200

TASK_RULES_DOC: Final = (
    "code_review > code_generation > translation > summarization > creative_writing > "
    "math_reasoning > complex_analysis > simple_qa > general"
)


class Intent(NamedTuple):
    """The lower-cased intent window of the last user message: text, keywords found, first word."""

    low: str
    data: bytes  # ``low`` as UTF-8 without apostrophes (phrases are matched here: bytes search is fast)
    words: frozenset[bytes]  # the window's words that are in ALL_KEYWORDS
    first_word: bytes
    digits: int

    @classmethod
    def of(cls, text: str, *, fenced: bool = True) -> Intent:
        """Intent of ``text``; ``fenced=False`` skips looking for fences to strip."""
        low = head_and_tail(strip_fences(text) if fenced else text, INTENT_HEAD_CHARS, INTENT_TAIL_CHARS).lower()
        data = low.encode("utf-8", "surrogatepass").replace(b"\xe2\x80\x99", b"'").translate(None, b"'")
        split = data.translate(SPLIT_TABLE).split()
        digits = len(data) - len(data.translate(None, DIGITS))
        return cls(low, data, ALL_KEYWORDS.intersection(split), split[0] if split else b"", digits)


def classify(intent: Intent, raw_user: str, has_code: bool, estimated_tokens: int) -> tuple[TaskType, str]:
    """Task type and its reason, by the first matching rule of the module doc (``raw_user``: the last user message;
    ``estimated_tokens``: the prompt estimate, tokens)."""
    words, data = intent.words, intent.data
    if has_code:
        found = words & REVIEW_WORDS
        phrase = _phrase(intent, REVIEW_PHRASES)
        if found or phrase is not None:
            what = _names(found) if found or phrase is None else f'"{phrase.decode()}"'
            return TaskType.CODE_REVIEW, f"code present and asks to review/fix ({what})"
    verbs, objects = words & CODEGEN_VERBS, words & CODEGEN_OBJECTS
    languages = words & PROGRAMMING_LANGUAGES
    if words & TRANSLATE_WORDS and not has_code and not languages:  # an instruction to translate prose comes first
        first = ALL_KEYWORDS.intersection(_SENTENCE_END.split(data, 1)[0].translate(SPLIT_TABLE).split())
        if (found := first & TRANSLATE_WORDS) and not (first & CODEGEN_VERBS and first & CODEGEN_OBJECTS):
            return TaskType.TRANSLATION, f"asks to translate ({_names(found)})"
    if (
        verbs
        and (objects or languages)
        and (languages or has_code or not words & CREATIVE_WORDS)
        and (found := _in_one_sentence(data, verbs, objects | languages))
    ):
        return TaskType.CODE_GENERATION, f"asks to write code ({_names(found, 4)})"
    if has_code and (found := words & CODE_EDIT_VERBS):
        return TaskType.CODE_GENERATION, f"code present and asks to {_names(found)} it"
    if found := words & TRANSLATE_WORDS:
        return TaskType.TRANSLATION, f"asks to translate ({_names(found)})"
    for language in words & LANGUAGE_WORDS:
        name = language.decode()
        if b"into " + language in data or b"to " + language in data or (b" say " in data and b"in " + language in data):
            return TaskType.TRANSLATION, f"asks for a version in {name}"
    if found := words & SUMMARY_WORDS:
        return TaskType.SUMMARIZATION, f"asks to summarize ({_names(found)})"
    if phrase := _phrase(intent, SUMMARY_PHRASES):
        return TaskType.SUMMARIZATION, f'asks to summarize ("{phrase.decode()}")'
    if found := words & CREATIVE_WORDS:
        return TaskType.CREATIVE_WRITING, f"creative form ({_names(found)})"
    if found := words & MATH_WORDS:
        return TaskType.MATH_REASONING, f"math wording ({_names(found)})"
    if intent.digits >= 2 and (expression := _arithmetic(intent.low)):
        return TaskType.MATH_REASONING, f'arithmetic expression ("{expression}")'
    if (
        intent.digits >= 2
        and (found := words & QUANTITY_WORDS)
        and raw_user.rstrip().endswith("?")
        and len(_NUMBER.findall(data)) >= 2
    ):
        return TaskType.MATH_REASONING, f"word problem with numbers ({_names(found)})"
    if estimated_tokens >= LONG_PROMPT_TOKENS:
        return TaskType.COMPLEX_ANALYSIS, f"long prompt: {estimated_tokens:,} tokens"
    if len(raw_user) >= SUBSTANTIAL_PROMPT_CHARS:
        found = words & ANALYSIS_WORDS
        phrase = _phrase(intent, ANALYSIS_PHRASES)
        if found or phrase is not None:
            what = _names(found) if found or phrase is None else f'"{phrase.decode()}"'
            return TaskType.COMPLEX_ANALYSIS, f"asks for analysis on a {len(raw_user):,}-char prompt ({what})"
    stripped = raw_user.strip()
    if 0 < len(stripped) <= SHORT_QUESTION_CHARS and (stripped.endswith("?") or intent.first_word in QUESTION_WORDS):
        return TaskType.SIMPLE_QA, f"short question ({len(stripped)} chars)"
    return TaskType.GENERAL, "no specific task pattern"


_SENTENCE_END: Final = re.compile(rb"[.!?;:]\s|\n")
_NUMBER: Final = re.compile(rb"\d+(?:[.,]\d+)*")


def _in_one_sentence(data: bytes, verbs: frozenset[bytes], objects: frozenset[bytes]) -> frozenset[bytes]:
    """The verbs and objects of the first sentence (or line) of ``data`` that has both, else an empty set: "write
    a function" asks for code; "build a timeline" followed by a pasted log mentioning an "api" does not."""
    for sentence in _SENTENCE_END.split(data):
        found = ALL_KEYWORDS.intersection(sentence.translate(SPLIT_TABLE).split())
        if found & verbs and found & objects:
            return (found & verbs) | (found & objects)
    return frozenset()


def _arithmetic(low: str) -> str | None:
    """The first ``operand operator operand`` with a digit in it (``3 * 4``, ``2x + 1 =``, ``15% of 80``).

    ``/`` and ``-`` need spaces around them (so dates like 5/6/2024 or 2024-05-06 do not count).
    """
    for op in ARITH_OPERATORS:
        pos = 0
        for _ in range(8):  # bounded number of occurrences per operator
            i = low.find(op, pos)
            if i < 0:
                break
            pos = i + 1
            if op == "%":
                if i and low[i - 1].isdigit() and low.startswith(" of ", i + 1) and low[i + 5 : i + 6].isdigit():
                    return low[max(0, i - 4) : i + 8].strip()
                continue
            if op in "/-" and not (low[i - 1 : i] == " " and low[i + 1 : i + 2] == " "):
                continue
            left = low[max(0, i - 3) : i].rstrip()
            right = low[i + 1 : i + 4].lstrip()
            if op != "-":
                right = right.lstrip("-")
            if not (left and right and left[-1] in OPERAND_ENDS and right[0] in OPERAND_STARTS):
                continue
            left_operand = low[max(0, i - 12) : i].split()[-1]
            right_operand = low[i + 1 : i + 13].split()[0]
            snippet = f"{left_operand} {op} {right_operand}"
            if any(c.isdigit() for c in snippet):
                return snippet
    return None


def _phrase(intent: Intent, table: tuple[tuple[bytes, bytes], ...]) -> bytes | None:
    """The first phrase of ``table`` in the intent window (checked only when its key word is there)."""
    words, data = intent.words, intent.data
    for key, phrase in table:
        if key in words and phrase in data:
            return phrase
    return None


_BULLET: Final = "\n• ".encode()


def is_multistep(intent: Intent) -> bool:
    """Whether the window gives instructions in steps ("step by step", a numbered or bulleted list, "first ...
    then")."""
    if _phrase(intent, MULTISTEP_PHRASES):
        return True
    data = intent.data
    if intent.digits >= 2 and (b"\n2." in data or b"\n2)" in data) and (b"1." in data or b"1)" in data):
        return True
    if b"\n" in data and data.count(b"\n- ") + data.count(b"\n* ") + data.count(_BULLET) >= 2:
        return True
    return b"first" in intent.words and not intent.words.isdisjoint(SEQUENCE_WORDS)


def constraint_count(intent: Intent) -> int:
    """Distinct constraint words and phrases in the window ("must", "never", "at least", "no more than", ...)."""
    words = intent.words
    constraints = len(words & CONSTRAINT_WORDS)
    for key, phrase in CONSTRAINT_PHRASES:
        if key in words and phrase in intent.data:
            constraints += 1
    return constraints


def json_phrase(intent: Intent, system_text: str) -> bytes | None:
    """The first phrase asking for JSON output in the window, else in ``system_text``; ``None`` when neither asks."""
    system_data = system_text.lower().encode("utf-8", "surrogatepass")
    for scope in (intent.data, system_data):
        if b"json" in scope and (phrase := next((p for p in JSON_PHRASES if p in scope), None)):
            return phrase
    return None


def _names(found: frozenset[bytes], limit: int = 3) -> str:
    return ", ".join(sorted(w.decode() for w in found)[:limit])
