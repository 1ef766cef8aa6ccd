"""Fast, pure, deterministic prompt analysis for routing.

:func:`analyze` looks at a chat request (OpenAI-style ``messages`` as dicts or attribute objects, plus
optional ``tools``, ``response_format`` and ``max_tokens``) and returns a :class:`PromptAnalysis`: token
figures, whether code is present, the task type, a complexity score in [0, 1] and the capabilities the
request needs (tools, JSON output, vision), each with a human-readable reason.

What is read, to stay fast (no I/O; bounded work per request whatever the prompt's length):

* token figures: every message, tool and schema, via :func:`app.tokens.count_prompt_tokens`;
* intent and code signals: only the **last user message** and the **system/developer** messages (their
  first :data:`SYSTEM_CHARS`); of a long user message only a head and a tail window (code:
  :data:`HEAD_CHARS` + :data:`TAIL_CHARS`; intent: :data:`INTENT_HEAD_CHARS` + :data:`INTENT_TAIL_CHARS`),
  since instructions sit at the start or the end of a prompt. Fenced code blocks are removed before
  intent words are matched, so words inside code ("error", "fix") do not steer the task type.
* intent is matched on a set of lower-cased words (one ``bytes.translate`` + ``split`` of the window,
  cut down to the known keywords with one set intersection) and on phrases (``bytes`` substring search,
  only when one of the phrase's words is present); code keywords are located with ``str.find`` and
  their context checked with anchored precompiled regexes (``.match`` at one position, no scanning).

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

JSON output is needed when ``response_format`` is ``json_object``/``json_schema`` or the user or system
text asks for it ("in JSON", "return JSON", "JSON only", "valid JSON"...); tools when tool definitions
are given or the conversation has tool calls/results; vision when any message has an image part.

Complexity (:func:`complexity_score`): a weighted sum, clamped to [0, 1] and rounded to 3 decimals::

    0.30 * length      log-scaled prompt estimate: 0 at <= 50 tokens, 1 at >= 8,000 tokens
    0.35 * task        per task type (TASK_COMPLEXITY: simple_qa 0 ... complex_analysis 1)
    0.10 * code        code present
    0.15 * multi-step  "step by step", numbered/bulleted instructions, "first ... then", "show your work"
    0.10 * constraints min(distinct constraint phrases, 4) / 4 ("must", "at least", "no more than", ...)
    +0.05 each         tools needed, JSON output needed
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from app.catalog.reasoning import ReasoningRequest
from app.tasks import TaskType
from app.tokens import EncodingName, TokenCounts, count_prompt_tokens

__all__ = [
    "CODE_SIGNAL_THRESHOLD",
    "DEFAULT_OUTPUT_TOKENS",
    "PromptAnalysis",
    "TaskType",
    "analyze",
    "complexity_score",
    "detect_code",
]


class PromptAnalysis(NamedTuple):
    """Routing-relevant features of one chat request; every token figure is in tokens.

    An immutable named tuple: one is made per routed request, and a tuple is the cheapest record Python builds
    (a frozen dataclass sets each field through ``object.__setattr__``)."""

    estimated_tokens: int  # calibrated prompt estimate (o200k unless told otherwise)
    upper_estimate_tokens: int  # prompt upper bound, "estimate" mode (>= real for >= 99% of prompts)
    strict_tokens: int  # prompt upper bound, "strict" mode (UTF-8 bytes + framing allowances)
    message_count: int
    has_code: bool
    code_signals: tuple[str, ...]  # why has_code: "fenced code block (python)", or "def", "=>", ...
    task_type: TaskType
    complexity: float  # in [0, 1], see complexity_score
    needs_tools: bool
    needs_json: bool
    needs_vision: bool
    requested_output_tokens: int  # max_tokens, or DEFAULT_OUTPUT_TOKENS when not given
    required_context_tokens: int  # upper_estimate_tokens + requested_output_tokens
    reasons: tuple[str, ...]  # one plain-words line per feature
    reasoning: ReasoningRequest | None = None  # reasoning_effort / thinking budget the request asks of reasoning models
    token_counts: TokenCounts | None = None  # the counts behind the token figures (per-family bounds start here)


# ------------------------------------------------------------------------------------------ constants

#: Distinct code signals needed (without a fenced block) for ``has_code``.
CODE_SIGNAL_THRESHOLD: Final = 2
#: Output tokens assumed for ``required_context_tokens`` when the request sets no ``max_tokens``.
DEFAULT_OUTPUT_TOKENS: Final = 1024
#: Code signals are looked for in the first HEAD_CHARS and last TAIL_CHARS of a message, chars.
HEAD_CHARS: Final = 1000
TAIL_CHARS: Final = 300
#: Intent words are looked for in the first INTENT_HEAD_CHARS and last INTENT_TAIL_CHARS, chars.
INTENT_HEAD_CHARS: Final = 500
INTENT_TAIL_CHARS: Final = 250
#: System/developer text scanned for intent and code signals, chars.
SYSTEM_CHARS: Final = 600
#: Prompt estimate from which the task counts as complex analysis whatever its wording, tokens.
LONG_PROMPT_TOKENS: Final = 3000
#: Prompt estimate from which "long prompt" is reported as a reason, tokens.
LONG_PROMPT_REASON_TOKENS: Final = 1500
#: Last-user-message length from which analyze/compare/evaluate wording counts as complex, chars.
SUBSTANTIAL_PROMPT_CHARS: Final = 150
#: Longest last user message that can be a simple question, chars.
SHORT_QUESTION_CHARS: Final = 200

#: Task weight in the complexity score (0 = trivial, 1 = hardest), per task type.
TASK_COMPLEXITY: Final[Mapping[TaskType, float]] = {
    TaskType.SIMPLE_QA: 0.0,
    TaskType.GENERAL: 0.15,
    TaskType.TRANSLATION: 0.25,
    TaskType.SUMMARIZATION: 0.3,
    TaskType.CREATIVE_WRITING: 0.35,
    TaskType.CODE_GENERATION: 0.65,
    TaskType.CODE_REVIEW: 0.65,
    TaskType.MATH_REASONING: 0.75,
    TaskType.COMPLEX_ANALYSIS: 1.0,
}
_W_LENGTH: Final = 0.30
_W_TASK: Final = 0.35
_W_CODE: Final = 0.10
_W_MULTISTEP: Final = 0.15
_W_CONSTRAINTS: Final = 0.10
_W_CAPABILITY: Final = 0.05
_LENGTH_FLOOR_TOKENS: Final = 50
_LENGTH_CEIL_TOKENS: Final = 8000
_LENGTH_LOG_SPAN: Final = math.log(_LENGTH_CEIL_TOKENS / _LENGTH_FLOOR_TOKENS)

TASK_RULES_DOC: Final = (
    "code_review > code_generation > translation > summarization > creative_writing > "
    "math_reasoning > complex_analysis > simple_qa > general"
)

# ------------------------------------------------------------------------------------------- patterns
# Speed: intent is matched on a set of lower-cased words (one C-level translate + split of a bounded
# window, then frozenset lookups), phrases with ``in``; code keywords are found with ``str.find`` and
# their context validated with anchored precompiled regexes (``.match`` at a position, no scanning).

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

#: Lower-casing is done on the str; this maps ASCII punctuation/whitespace to spaces for word splitting
#: (``_`` and ``#`` and ``+`` stay in words; apostrophes are deleted: "don't" -> "dont").
_SPLIT_TABLE: Final = bytes.maketrans(b'!"$%&()*,-./:;<=>?@[\\]^`{|}~\t\r\n\x0b\x0c', b" " * 33)
_DIGITS: Final = b"0123456789"


def _words(*items: str) -> frozenset[bytes]:
    return frozenset(w.encode() for item in items for w in item.split())


_REVIEW_WORDS: Final = _words(
    "review reviewing bug bugs buggy fix fixes fixing debug debugging refactor refactoring wrong error errors",
    "crash crashes crashing fail fails failing broken traceback exception exceptions optimize optimise",
    "improve cleanup lint whats explain raise raises raising keyerror typeerror valueerror indexerror",
)
#: Phrase tables: (a word of the phrase, phrase). A phrase is looked for only when its word is in the
#: window's word set, so absent phrases cost nothing (a substring search is a pass over the window).
_REVIEW_PHRASES: Final = (
    (b"work", b"doesnt work"),
    (b"work", b"does not work"),
    (b"working", b"not working"),
    (b"smell", b"code smell"),
    (b"compile", b"wont compile"),
)
_CODEGEN_VERBS: Final = _words("write implement create generate build code develop make add")
_CODEGEN_OBJECTS: Final = _words(
    "function functions method methods class classes script scripts program programs snippet api endpoint",
    "endpoints module algorithm regex query sql cli dockerfile makefile implementation unittest unittests",
    "decorator subclass struct interface handler handlers middleware",
)
_PROGRAMMING_LANGUAGES: Final = _words(
    "python javascript typescript java golang rust c++ c# ruby php kotlin swift bash sql haskell scala",
    "powershell perl lua dart elixir",
)
_CODE_EDIT_VERBS: Final = _words("write add convert port complete extend rewrite implement translate")
_TRANSLATE_WORDS: Final = _words("translate translates translated translating translation translations translator")
_LANGUAGE_WORDS: Final = _words(
    "english french german spanish italian portuguese dutch russian ukrainian polish czech swedish norwegian",
    "danish finnish greek turkish arabic hebrew persian farsi hindi bengali urdu chinese mandarin cantonese",
    "japanese korean vietnamese thai indonesian malay tagalog swahili latin romanian hungarian catalan",
)
_SUMMARY_WORDS: Final = _words(
    "summarize summarise summarized summarised summarizing summarising summary summaries summarization",
    "summarisation tldr recap condense gist",
)
_SUMMARY_PHRASES: Final = (
    (b"dr", b"tl;dr"),
    (b"key", b"key points"),
    (b"key", b"key takeaways"),
    (b"sentence", b"in one sentence"),
    (b"sentences", b"in a few sentences"),
)
_CREATIVE_WORDS: Final = _words(
    "poem poems poetry story stories haiku haikus lyrics song songs limerick limericks sonnet sonnets",
    "fairytale fiction screenplay fable verse verses rap ballad",
)
_MATH_WORDS: Final = _words(
    "solve prove proof equation equations calculate calculation integral integrate derivative differentiate",
    "probability theorem lemma simplify factorize factorise eigenvalue eigenvalues eigenvector polynomial",
    "arithmetic algebra geometry calculus logarithm sqrt",
)
#: With at least two numbers in the text, these words make a word problem (``120 km in 1.5 hours: average speed?``).
_QUANTITY_WORDS: Final = _words(
    "average mean median total speed rate percent percentage ratio interest sum product remainder",
    "km miles hours minutes kg liters litres dollars",
)
_ARITH_OPERATORS: Final = "+*^×÷=/-%"
_OPERAND_ENDS: Final = frozenset("0123456789)xyzn")
_OPERAND_STARTS: Final = frozenset("0123456789(xyzn")
_ANALYSIS_WORDS: Final = _words(
    "analyze analyse analysis analyzing analysing compare comparison comparing contrast evaluate evaluation",
    "evaluating assess assessment tradeoff tradeoffs critique implications versus vs recommend",
    "recommendation recommendations strategy strategic",
)
_ANALYSIS_PHRASES: Final = (
    (b"trade", b"trade-off"),
    (b"pros", b"pros and cons"),
    (b"depth", b"in depth"),
    (b"depth", b"in-depth"),
    (b"cause", b"root cause"),
)
_QUESTION_WORDS: Final = _words(
    "what who whom whose when where which why how is are was were can could does do did will would should",
    "define name",
)
_CONSTRAINT_WORDS: Final = _words(
    "must should exactly without ensure never only avoid strictly maximum minimum dont limit",
)
#: Constraint phrases, each with a word that must be in the word set before the phrase is looked for.
_CONSTRAINT_PHRASES: Final = (
    (b"least", b"at least"),
    (b"most", b"at most"),
    (b"than", b"no more than"),
    (b"than", b"no less than"),
    (b"fewer", b"fewer than"),
    (b"sure", b"make sure"),
)
_MULTISTEP_PHRASES: Final = (
    (b"step", b"step by step"),
    (b"step", b"step-by-step"),
    (b"show", b"show your work"),
    (b"show", b"show the steps"),
    (b"reasoning", b"explain your reasoning"),
)
_SEQUENCE_WORDS: Final = _words("then next finally afterwards second secondly")
_JSON_PHRASES: Final = (
    b"in json",
    b"as json",
    b"json format",
    b"json object",
    b"valid json",
    b"return json",
    b"output json",
    b"json only",
    b"json schema",
    b"as a json",
    b"in a json",
    b"with json",
    b"json response",
)
#: Every word any rule looks up: the window's words are cut down to these once (one C-level set
#: intersection), so each rule then intersects a handful of words.
_PHRASE_TABLES: Final = (
    _REVIEW_PHRASES,
    _SUMMARY_PHRASES,
    _ANALYSIS_PHRASES,
    _MULTISTEP_PHRASES,
    _CONSTRAINT_PHRASES,
)
_ALL_KEYWORDS: Final[frozenset[bytes]] = frozenset().union(
    _REVIEW_WORDS,
    _CODEGEN_VERBS,
    _CODEGEN_OBJECTS,
    _PROGRAMMING_LANGUAGES,
    _CODE_EDIT_VERBS,
    _TRANSLATE_WORDS,
    _LANGUAGE_WORDS,
    _SUMMARY_WORDS,
    _CREATIVE_WORDS,
    _MATH_WORDS,
    _QUANTITY_WORDS,
    _ANALYSIS_WORDS,
    _CONSTRAINT_WORDS,
    _SEQUENCE_WORDS,
    (b"first", b"json"),
    (key for table in _PHRASE_TABLES for key, _ in table),
)

# --------------------------------------------------------------------------------------------- helpers


def _get(obj: Any, key: str) -> Any:
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _role(message: Any) -> str:
    role = _get(message, "role")
    return role if type(role) is str else str(getattr(role, "value", role) or "")


def _text_of(content: Any) -> str:
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
                text = _get(part, "text")
                if isinstance(text, str):
                    texts.append(text)
        return "\n".join(texts)
    return ""


def _window(text: str, head: int, tail: int) -> str:
    """The whole text, or its first ``head`` and last ``tail`` characters when longer."""
    if len(text) <= head + tail:
        return text
    return f"{text[:head]}\n{text[-tail:]}"


def _strip_fences(text: str) -> str:
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


def _names(found: frozenset[bytes], limit: int = 3) -> str:
    return ", ".join(sorted(w.decode() for w in found)[:limit])


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
    window = _window(text, HEAD_CHARS, TAIL_CHARS)
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


def complexity_score(
    *,
    estimated_tokens: int,
    task_type: TaskType,
    has_code: bool,
    multistep: bool,
    constraints: int,
    needs_tools: bool = False,
    needs_json: bool = False,
) -> float:
    """Weighted complexity in [0, 1] (module doc); deterministic, rounded to 3 decimals."""
    length = math.log(max(estimated_tokens, _LENGTH_FLOOR_TOKENS) / _LENGTH_FLOOR_TOKENS) / _LENGTH_LOG_SPAN
    score = (
        _W_LENGTH * min(length, 1.0)
        + _W_TASK * TASK_COMPLEXITY[task_type]
        + _W_CODE * has_code
        + _W_MULTISTEP * multistep
        + _W_CONSTRAINTS * min(constraints, 4) / 4
        + _W_CAPABILITY * (needs_tools + needs_json)
    )
    return round(min(max(score, 0.0), 1.0), 3)


class _Intent(NamedTuple):
    """The lower-cased intent window of the last user message: text, keywords found, first word."""

    low: str
    data: bytes  # ``low`` as UTF-8 without apostrophes (phrases are matched here: bytes search is fast)
    words: frozenset[bytes]  # the window's words that are in _ALL_KEYWORDS
    first_word: bytes
    digits: int

    @classmethod
    def of(cls, text: str, *, fenced: bool = True) -> _Intent:
        """Intent of ``text``; ``fenced=False`` skips looking for fences to strip."""
        low = _window(_strip_fences(text) if fenced else text, INTENT_HEAD_CHARS, INTENT_TAIL_CHARS).lower()
        data = low.encode("utf-8", "surrogatepass").replace(b"\xe2\x80\x99", b"'").translate(None, b"'")
        split = data.translate(_SPLIT_TABLE).split()
        digits = len(data) - len(data.translate(None, _DIGITS))
        return cls(low, data, _ALL_KEYWORDS.intersection(split), split[0] if split else b"", digits)


def _classify(intent: _Intent, raw_user: str, has_code: bool, estimated_tokens: int) -> tuple[TaskType, str]:
    """Task type and its reason, by the first matching rule of the module doc."""
    words, data = intent.words, intent.data
    if has_code:
        found = words & _REVIEW_WORDS
        phrase = _phrase(intent, _REVIEW_PHRASES)
        if found or phrase is not None:
            what = _names(found) if found or phrase is None else f'"{phrase.decode()}"'
            return TaskType.CODE_REVIEW, f"code present and asks to review/fix ({what})"
    verbs, objects = words & _CODEGEN_VERBS, words & _CODEGEN_OBJECTS
    languages = words & _PROGRAMMING_LANGUAGES
    if words & _TRANSLATE_WORDS and not has_code and not languages:  # an instruction to translate prose comes first
        first = _ALL_KEYWORDS.intersection(_SENTENCE_END.split(data, 1)[0].translate(_SPLIT_TABLE).split())
        if (found := first & _TRANSLATE_WORDS) and not (first & _CODEGEN_VERBS and first & _CODEGEN_OBJECTS):
            return TaskType.TRANSLATION, f"asks to translate ({_names(found)})"
    if (
        verbs
        and (objects or languages)
        and (languages or has_code or not words & _CREATIVE_WORDS)
        and (found := _in_one_sentence(data, verbs, objects | languages))
    ):
        return TaskType.CODE_GENERATION, f"asks to write code ({_names(found, 4)})"
    if has_code and (found := words & _CODE_EDIT_VERBS):
        return TaskType.CODE_GENERATION, f"code present and asks to {_names(found)} it"
    if found := words & _TRANSLATE_WORDS:
        return TaskType.TRANSLATION, f"asks to translate ({_names(found)})"
    for language in words & _LANGUAGE_WORDS:
        name = language.decode()
        if b"into " + language in data or b"to " + language in data or (b" say " in data and b"in " + language in data):
            return TaskType.TRANSLATION, f"asks for a version in {name}"
    if found := words & _SUMMARY_WORDS:
        return TaskType.SUMMARIZATION, f"asks to summarize ({_names(found)})"
    if phrase := _phrase(intent, _SUMMARY_PHRASES):
        return TaskType.SUMMARIZATION, f'asks to summarize ("{phrase.decode()}")'
    if found := words & _CREATIVE_WORDS:
        return TaskType.CREATIVE_WRITING, f"creative form ({_names(found)})"
    if found := words & _MATH_WORDS:
        return TaskType.MATH_REASONING, f"math wording ({_names(found)})"
    if intent.digits >= 2 and (expression := _arithmetic(intent.low)):
        return TaskType.MATH_REASONING, f'arithmetic expression ("{expression}")'
    if (
        intent.digits >= 2
        and (found := words & _QUANTITY_WORDS)
        and raw_user.rstrip().endswith("?")
        and len(_NUMBER.findall(data)) >= 2
    ):
        return TaskType.MATH_REASONING, f"word problem with numbers ({_names(found)})"
    if estimated_tokens >= LONG_PROMPT_TOKENS:
        return TaskType.COMPLEX_ANALYSIS, f"long prompt: {estimated_tokens:,} tokens"
    if len(raw_user) >= SUBSTANTIAL_PROMPT_CHARS:
        found = words & _ANALYSIS_WORDS
        phrase = _phrase(intent, _ANALYSIS_PHRASES)
        if found or phrase is not None:
            what = _names(found) if found or phrase is None else f'"{phrase.decode()}"'
            return TaskType.COMPLEX_ANALYSIS, f"asks for analysis on a {len(raw_user):,}-char prompt ({what})"
    stripped = raw_user.strip()
    if 0 < len(stripped) <= SHORT_QUESTION_CHARS and (stripped.endswith("?") or intent.first_word in _QUESTION_WORDS):
        return TaskType.SIMPLE_QA, f"short question ({len(stripped)} chars)"
    return TaskType.GENERAL, "no specific task pattern"


_SENTENCE_END: Final = re.compile(rb"[.!?;:]\s|\n")
_NUMBER: Final = re.compile(rb"\d+(?:[.,]\d+)*")


def _in_one_sentence(data: bytes, verbs: frozenset[bytes], objects: frozenset[bytes]) -> frozenset[bytes]:
    """The verbs and objects of the first sentence (or line) of ``data`` that has both, else an empty set: "write
    a function" asks for code; "build a timeline" followed by a pasted log mentioning an "api" does not."""
    for sentence in _SENTENCE_END.split(data):
        found = _ALL_KEYWORDS.intersection(sentence.translate(_SPLIT_TABLE).split())
        if found & verbs and found & objects:
            return (found & verbs) | (found & objects)
    return frozenset()


def _arithmetic(low: str) -> str | None:
    """The first ``operand operator operand`` with a digit in it (``3 * 4``, ``2x + 1 =``, ``15% of 80``).

    ``/`` and ``-`` need spaces around them (so dates like 5/6/2024 or 2024-05-06 do not count).
    """
    for op in _ARITH_OPERATORS:
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
            if not (left and right and left[-1] in _OPERAND_ENDS and right[0] in _OPERAND_STARTS):
                continue
            left_operand = low[max(0, i - 12) : i].split()[-1]
            right_operand = low[i + 1 : i + 13].split()[0]
            snippet = f"{left_operand} {op} {right_operand}"
            if any(c.isdigit() for c in snippet):
                return snippet
    return None


def _phrase(intent: _Intent, table: tuple[tuple[bytes, bytes], ...]) -> bytes | None:
    """The first phrase of ``table`` in the intent window (checked only when its key word is there)."""
    words, data = intent.words, intent.data
    for key, phrase in table:
        if key in words and phrase in data:
            return phrase
    return None


_BULLET: Final = "\n• ".encode()


def _is_multistep(intent: _Intent) -> bool:
    if _phrase(intent, _MULTISTEP_PHRASES):
        return True
    data = intent.data
    if intent.digits >= 2 and (b"\n2." in data or b"\n2)" in data) and (b"1." in data or b"1)" in data):
        return True
    if b"\n" in data and data.count(b"\n- ") + data.count(b"\n* ") + data.count(_BULLET) >= 2:
        return True
    return b"first" in intent.words and not intent.words.isdisjoint(_SEQUENCE_WORDS)


def _response_format_type(response_format: Any) -> str | None:
    if response_format is None:
        return None
    kind = _get(response_format, "type")
    kind = getattr(kind, "value", kind)
    return kind if isinstance(kind, str) else None


# ---------------------------------------------------------------------------------------------- public


def analyze(
    messages: Sequence[Any],
    *,
    tools: Sequence[Any] | None = None,
    response_format: Any = None,
    max_tokens: int | None = None,
    encoding: EncodingName = "o200k_base",
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    reasoning: ReasoningRequest | None = None,
) -> PromptAnalysis:
    """Analyse one chat request; pure and deterministic (see the module doc for every rule).

    ``max_tokens`` is the requested output budget (tokens); when ``None``, ``default_output_tokens`` is
    used for ``required_context_tokens``. ``encoding`` selects the token calibration.
    """
    counts = count_prompt_tokens(messages, tools=tools, response_format=response_format, encoding=encoding)
    reasons: list[str] = []

    user_text = ""
    system_parts: list[str] = []
    has_tool_messages = False
    for message in messages:
        role = _role(message)
        if role == "user":
            user_text = _text_of(_get(message, "content"))
        elif role in ("system", "developer"):
            system_parts.append(_text_of(_get(message, "content"))[:SYSTEM_CHARS])
        elif role in ("tool", "function") or _get(message, "tool_calls") or _get(message, "function_call"):
            has_tool_messages = True
    system_text = "\n".join(system_parts)

    # Code: last user message, else the system text.
    code_signals = detect_code(user_text)
    if not code_signals and system_text:
        code_signals = detect_code(system_text)
    has_code = bool(code_signals)
    if has_code:
        reasons.append(f"code: {', '.join(code_signals)}")

    intent = _Intent.of(user_text, fenced=bool(code_signals) and code_signals[0].startswith("fenced"))
    task_type, task_reason = _classify(intent, user_text, has_code, counts.estimate_tokens)
    reasons.append(f"task {task_type}: {task_reason}")  # a StrEnum formats as its value

    needs_tools = bool(tools) or has_tool_messages
    if tools:
        reasons.append(f"tools: {len(tools)} definition{'s' if len(tools) != 1 else ''}")
    elif has_tool_messages:
        reasons.append("conversation contains tool calls/results")
    rf_type = _response_format_type(response_format)
    needs_json = rf_type in ("json_object", "json_schema")
    if needs_json:
        reasons.append(f"response_format: {rf_type}")
    else:
        system_data = system_text.lower().encode("utf-8", "surrogatepass")
        for scope in (intent.data, system_data):
            if b"json" in scope and (phrase := next((p for p in _JSON_PHRASES if p in scope), None)):
                needs_json = True
                reasons.append(f'asks for JSON output ("{phrase.decode()}")')
                break
    needs_vision = counts.image_count > 0
    if needs_vision:
        reasons.append(f"{counts.image_count} image{'s' if counts.image_count != 1 else ''} attached")

    multistep = _is_multistep(intent)
    words = intent.words
    constraints = len(words & _CONSTRAINT_WORDS)
    for key, phrase in _CONSTRAINT_PHRASES:
        if key in words and phrase in intent.data:
            constraints += 1
    if multistep:
        reasons.append("multi-step instructions")
    if constraints:
        reasons.append(f"{constraints} constraint phrase{'s' if constraints != 1 else ''}")
    if counts.estimate_tokens >= LONG_PROMPT_REASON_TOKENS:
        reasons.append(f"long prompt: {counts.estimate_tokens:,} tokens")
    complexity = complexity_score(
        estimated_tokens=counts.estimate_tokens,
        task_type=task_type,
        has_code=has_code,
        multistep=multistep,
        constraints=constraints,
        needs_tools=needs_tools,
        needs_json=needs_json,
    )

    output_tokens = max(int(max_tokens), 0) if max_tokens is not None else default_output_tokens
    required = counts.upper_estimate_tokens + output_tokens
    reasons.append(
        f"prompt ≈ {counts.estimate_tokens:,} tokens (upper {counts.upper_estimate_tokens:,}, strict "
        f"{counts.strict_tokens:,}) + {output_tokens:,} output = {required:,} context tokens"
    )
    return PromptAnalysis(
        estimated_tokens=counts.estimate_tokens,
        upper_estimate_tokens=counts.upper_estimate_tokens,
        strict_tokens=counts.strict_tokens,
        message_count=counts.message_count,
        has_code=has_code,
        code_signals=code_signals,
        task_type=task_type,
        complexity=complexity,
        needs_tools=needs_tools,
        needs_json=needs_json,
        needs_vision=needs_vision,
        requested_output_tokens=output_tokens,
        required_context_tokens=required,
        reasons=tuple(reasons),
        reasoning=reasoning,
        token_counts=counts,
    )
