"""The words and phrases the intent rules look for (:mod:`app.router.analysis.intent`), as lower-cased UTF-8 bytes.

Words are matched as a set: a window's words are cut down to :data:`ALL_KEYWORDS` once (one C-level set
intersection), so each rule then intersects a handful of words. Phrases are looked for (a ``bytes`` substring
search) only when one of their words is present, so absent phrases cost nothing.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALL_KEYWORDS",
    "ANALYSIS_PHRASES",
    "ANALYSIS_WORDS",
    "ARITH_OPERATORS",
    "CODEGEN_OBJECTS",
    "CODEGEN_VERBS",
    "CODE_EDIT_VERBS",
    "CONSTRAINT_PHRASES",
    "CONSTRAINT_WORDS",
    "CREATIVE_WORDS",
    "DIGITS",
    "JSON_PHRASES",
    "LANGUAGE_WORDS",
    "MATH_WORDS",
    "MULTISTEP_PHRASES",
    "OPERAND_ENDS",
    "OPERAND_STARTS",
    "PHRASE_TABLES",
    "PROGRAMMING_LANGUAGES",
    "QUANTITY_WORDS",
    "QUESTION_WORDS",
    "REVIEW_PHRASES",
    "REVIEW_WORDS",
    "SEQUENCE_WORDS",
    "SPLIT_TABLE",
    "SUMMARY_PHRASES",
    "SUMMARY_WORDS",
    "TRANSLATE_WORDS",
]

#: Lower-casing is done on the str; this maps ASCII punctuation/whitespace to spaces for word splitting
#: (``_`` and ``#`` and ``+`` stay in words; apostrophes are deleted: "don't" -> "dont").
SPLIT_TABLE: Final = bytes.maketrans(b'!"$%&()*,-./:;<=>?@[\\]^`{|}~\t\r\n\x0b\x0c', b" " * 33)
DIGITS: Final = b"0123456789"


def _words(*items: str) -> frozenset[bytes]:
    return frozenset(w.encode() for item in items for w in item.split())


REVIEW_WORDS: Final = _words(
    "review reviewing bug bugs buggy fix fixes fixing debug debugging refactor refactoring wrong error errors",
    "crash crashes crashing fail fails failing broken traceback exception exceptions optimize optimise",
    "improve cleanup lint whats explain raise raises raising keyerror typeerror valueerror indexerror",
)
#: Phrase tables: (a word of the phrase, phrase). A phrase is looked for only when its word is in the
#: window's word set, so absent phrases cost nothing (a substring search is a pass over the window).
REVIEW_PHRASES: Final = (
    (b"work", b"doesnt work"),
    (b"work", b"does not work"),
    (b"working", b"not working"),
    (b"smell", b"code smell"),
    (b"compile", b"wont compile"),
)
CODEGEN_VERBS: Final = _words("write implement create generate build code develop make add")
CODEGEN_OBJECTS: Final = _words(
    "function functions method methods class classes script scripts program programs snippet api endpoint",
    "endpoints module algorithm regex query sql cli dockerfile makefile implementation unittest unittests",
    "decorator subclass struct interface handler handlers middleware",
)
PROGRAMMING_LANGUAGES: Final = _words(
    "python javascript typescript java golang rust c++ c# ruby php kotlin swift bash sql haskell scala",
    "powershell perl lua dart elixir",
)
CODE_EDIT_VERBS: Final = _words("write add convert port complete extend rewrite implement translate")
TRANSLATE_WORDS: Final = _words("translate translates translated translating translation translations translator")
LANGUAGE_WORDS: Final = _words(
    "english french german spanish italian portuguese dutch russian ukrainian polish czech swedish norwegian",
    "danish finnish greek turkish arabic hebrew persian farsi hindi bengali urdu chinese mandarin cantonese",
    "japanese korean vietnamese thai indonesian malay tagalog swahili latin romanian hungarian catalan",
)
SUMMARY_WORDS: Final = _words(
    "summarize summarise summarized summarised summarizing summarising summary summaries summarization",
    "summarisation tldr recap condense gist",
)
SUMMARY_PHRASES: Final = (
    (b"dr", b"tl;dr"),
    (b"key", b"key points"),
    (b"key", b"key takeaways"),
    (b"sentence", b"in one sentence"),
    (b"sentences", b"in a few sentences"),
)
CREATIVE_WORDS: Final = _words(
    "poem poems poetry story stories haiku haikus lyrics song songs limerick limericks sonnet sonnets",
    "fairytale fiction screenplay fable verse verses rap ballad",
)
MATH_WORDS: Final = _words(
    "solve prove proof equation equations calculate calculation integral integrate derivative differentiate",
    "probability theorem lemma simplify factorize factorise eigenvalue eigenvalues eigenvector polynomial",
    "arithmetic algebra geometry calculus logarithm sqrt",
)
#: With at least two numbers in the text, these words make a word problem (``120 km in 1.5 hours: average speed?``).
QUANTITY_WORDS: Final = _words(
    "average mean median total speed rate percent percentage ratio interest sum product remainder",
    "km miles hours minutes kg liters litres dollars",
)
ARITH_OPERATORS: Final = "+*^×÷=/-%"
OPERAND_ENDS: Final = frozenset("0123456789)xyzn")
OPERAND_STARTS: Final = frozenset("0123456789(xyzn")
ANALYSIS_WORDS: Final = _words(
    "analyze analyse analysis analyzing analysing compare comparison comparing contrast evaluate evaluation",
    "evaluating assess assessment tradeoff tradeoffs critique implications versus vs recommend",
    "recommendation recommendations strategy strategic",
)
ANALYSIS_PHRASES: Final = (
    (b"trade", b"trade-off"),
    (b"pros", b"pros and cons"),
    (b"depth", b"in depth"),
    (b"depth", b"in-depth"),
    (b"cause", b"root cause"),
)
QUESTION_WORDS: Final = _words(
    "what who whom whose when where which why how is are was were can could does do did will would should",
    "define name",
)
CONSTRAINT_WORDS: Final = _words(
    "must should exactly without ensure never only avoid strictly maximum minimum dont limit",
)
#: Constraint phrases, each with a word that must be in the word set before the phrase is looked for.
CONSTRAINT_PHRASES: Final = (
    (b"least", b"at least"),
    (b"most", b"at most"),
    (b"than", b"no more than"),
    (b"than", b"no less than"),
    (b"fewer", b"fewer than"),
    (b"sure", b"make sure"),
)
MULTISTEP_PHRASES: Final = (
    (b"step", b"step by step"),
    (b"step", b"step-by-step"),
    (b"show", b"show your work"),
    (b"show", b"show the steps"),
    (b"reasoning", b"explain your reasoning"),
)
SEQUENCE_WORDS: Final = _words("then next finally afterwards second secondly")
JSON_PHRASES: Final = (
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
PHRASE_TABLES: Final = (
    REVIEW_PHRASES,
    SUMMARY_PHRASES,
    ANALYSIS_PHRASES,
    MULTISTEP_PHRASES,
    CONSTRAINT_PHRASES,
)
ALL_KEYWORDS: Final[frozenset[bytes]] = frozenset().union(
    REVIEW_WORDS,
    CODEGEN_VERBS,
    CODEGEN_OBJECTS,
    PROGRAMMING_LANGUAGES,
    CODE_EDIT_VERBS,
    TRANSLATE_WORDS,
    LANGUAGE_WORDS,
    SUMMARY_WORDS,
    CREATIVE_WORDS,
    MATH_WORDS,
    QUANTITY_WORDS,
    ANALYSIS_WORDS,
    CONSTRAINT_WORDS,
    SEQUENCE_WORDS,
    (b"first", b"json"),
    (key for table in PHRASE_TABLES for key, _ in table),
)
