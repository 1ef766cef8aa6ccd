"""Offline, deterministic prompt token counting for routing decisions.

Three figures are available for a chat request (OpenAI-style ``messages`` plus optional ``tools`` and
``response_format``), all in **tokens**:

* **estimate** (:func:`estimate_tokens`) — a calibrated point estimate for ranking candidate models. A
  linear model with non-negative weights over cheap byte-class counts of each text (letters,
  digits/punctuation, spaces, newlines, 4-space indentation runs, non-ASCII characters, extra UTF-8
  bytes of wide characters), with separate weights for four groups of texts (:data:`TEXT_GROUPS`:
  ASCII prose, ASCII code/numbers, other alphabets, CJK-like), fitted against the real ``o200k_base``
  (GPT-4o family) and ``cl100k_base`` (GPT-4 / GPT-3.5) tokenizers. Plus the chat framing OpenAI
  documents: 3 tokens per message, the role (1 token), a name (its tokens + 1) and 3 tokens priming
  the reply; tool definitions, tool calls and a ``response_format`` schema count as their JSON text.
  Images get fixed allowances (:data:`ESTIMATE_IMAGE_TOKENS`, ...).
* **upper bound, mode "estimate"** (:func:`upper_bound_tokens`) — the estimate of each text times a
  safety margin plus a small per-text constant, capped by the strict bound. Calibrated so that it is
  ``>=`` the real count for at least 99% of realistic texts in every measured category (English prose,
  code, CJK, numbers/tables, mixed documents, accented/Cyrillic/Greek European text); see
  ``docs/token-estimates.md`` and ``bench/calibrate_tokens.py`` for figures and reproduction.
* **upper bound, mode "strict"** — a bound that holds for *any* text under byte-level BPE tokenizers
  (``cl100k_base``, ``o200k_base``, GPT-2/Llama-3-style): every token decodes to at least one byte and the
  decoded tokens concatenate to the UTF-8 encoding of the text, so ``tokens(text) <= len(text.encode())``.
  Summing that over every text in the request, and adding a generous allowance for the chat framing
  (``8 + bytes(role) + bytes(name)`` per message, ``+ 3`` for the reply priming, tool/format framing),
  bounds the prompt. The parts that are *not* text — images, the chat template, the provider's
  rendering of tool schemas — cannot be proven from the request alone; strict mode uses documented
  generous allowances for them (:data:`STRICT_IMAGE_TOKENS`, :data:`STRICT_MESSAGE_OVERHEAD_TOKENS`,
  ...), which are assumptions, not proofs (``docs/token-estimates.md`` lists them).

All functions are pure, perform no I/O and are deterministic. Messages may be dicts or objects exposing
the same attributes (e.g. pydantic models); content may be a string or a list of parts
(``{"type": "text", "text": ...}``, ``{"type": "image_url", ...}``, ...).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

__all__ = [
    "CALIBRATIONS",
    "ENCODINGS",
    "ESTIMATE_IMAGE_TOKENS",
    "FEATURE_NAMES",
    "LOW_DETAIL_IMAGE_TOKENS",
    "STRICT_IMAGE_TOKENS",
    "TEXT_GROUPS",
    "UPPER_IMAGE_TOKENS",
    "BoundMode",
    "Calibration",
    "EncodingName",
    "GroupFeatures",
    "TokenCounts",
    "count_prompt_tokens",
    "estimate_text_tokens",
    "estimate_tokens",
    "strict_text_tokens",
    "text_estimates",
    "text_features",
    "text_group",
    "upper_bound_text_tokens",
    "upper_bound_tokens",
]

BoundMode = Literal["estimate", "strict"]
EncodingName = Literal["o200k_base", "cl100k_base"]

# ------------------------------------------------------------------------------------------ constants

#: Chat framing per message in the OpenAI accounting (``<|start|>{role}\n{content}<|end|>\n``), tokens.
MESSAGE_OVERHEAD_TOKENS: Final = 3
#: Tokens for a standard role name (``system``, ``user``, ... are one token each).
ROLE_TOKENS: Final = 1
#: Extra tokens when a message carries ``name``.
NAME_OVERHEAD_TOKENS: Final = 1
#: Every reply is primed with ``<|start|>assistant<|message|>``, tokens.
REPLY_PRIMING_TOKENS: Final = 3
#: Tool definitions block framing (OpenAI adds 9 + the ``namespace functions {...}`` wrapper), tokens.
TOOLS_OVERHEAD_TOKENS: Final = 12
#: Point estimate of tool definitions = this x the estimate of their JSON text: OpenAI renders them in a
#: terser TypeScript-like form (measured ~0.42-0.55 against LiteLLM's rendering of it). The upper
#: estimate keeps the full JSON text (other providers render tools as JSON).
TOOLS_JSON_ESTIMATE_SCALE: Final = 0.5
#: Framing around each tool call in an assistant message (call id, type, name delimiters), tokens.
TOOL_CALL_OVERHEAD_TOKENS: Final = 6
#: Extra tokens per ``\uXXXX`` escape in tool-call arguments, on top of the byte-class estimate.
JSON_ESCAPE_EXTRA_TOKENS: Final = 2
#: Framing around a ``response_format`` JSON schema, tokens.
RESPONSE_FORMAT_OVERHEAD_TOKENS: Final = 10

#: Strict-mode per-message framing allowance (in addition to the role's and name's UTF-8 bytes), tokens.
STRICT_MESSAGE_OVERHEAD_TOKENS: Final = 8
#: Strict-mode allowance for the tools block framing, plus per tool on top of its JSON bytes, tokens.
STRICT_TOOLS_OVERHEAD_TOKENS: Final = 64
STRICT_PER_TOOL_OVERHEAD_TOKENS: Final = 16
#: Strict-mode allowance per tool call on top of its JSON bytes, tokens.
STRICT_TOOL_CALL_OVERHEAD_TOKENS: Final = 8
#: Strict-mode allowance for the ``response_format`` framing on top of the schema's JSON bytes, tokens.
STRICT_RESPONSE_FORMAT_OVERHEAD_TOKENS: Final = 32

#: Image with ``detail: "low"``: OpenAI's fixed 85 tokens.
LOW_DETAIL_IMAGE_TOKENS: Final = 85
#: Point estimate per image (any other detail): 4 tiles of 512 px, 85 + 4 x 170 (a 1024x1024 photo).
ESTIMATE_IMAGE_TOKENS: Final = 765
#: Upper estimate per image: 6 tiles, 85 + 6 x 170 (e.g. 2048x1024 scaled to 1536x768).
UPPER_IMAGE_TOKENS: Final = 1105
#: Strict allowance per image, whatever its detail. ASSUMPTION, not a proof: the GPT-4o/4.1/o-series tile
#: formula tops out at 85 + 8 x 170 = 1445; patch-based models cap an image at 1,536 patches; Claude
#: downsizes to about 1.15 MP, about 1,600 tokens. Models that *bill* images with inflated multipliers
#: (gpt-4o-mini: 2,833 + 5,667 per tile) are not covered and must be priced per model.
STRICT_IMAGE_TOKENS: Final = 1600

#: Names of the per-text features, in the order of :func:`text_features` and of the weight tables. The
#: basis is chosen so that every weight is >= 0: estimates are >= 0 and monotone in added texts.
FEATURE_NAMES: Final = (
    "letters",  # ASCII bytes that are not digits, punctuation, spaces or newlines (incl. tabs)
    "symbols",  # ASCII digits and punctuation
    "spaces",  # b" " outside counted runs of four
    "newlines",  # b"\n"
    "indent_runs",  # non-overlapping b"    " (four spaces), counted only in texts with a newline
    "nonascii_chars",  # characters >= U+0080
    "wide_bytes",  # UTF-8 bytes beyond two per non-ASCII character (1 per CJK char, 2 per emoji)
    "texts",  # constant term: 1 per non-empty text
)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Weights (tokens per feature unit) and upper-bound margins of one tokenizer (an encoding or a token family's
    prior)."""

    weights: tuple[tuple[float, ...], ...]  # per text group (TEXT_GROUPS order), per feature
    margins: tuple[float, ...]  # per text group, multiplicative, >= 1
    per_text_slack: float  # additive tokens per text in the upper bound, >= 0


#: Text groups with their own weights and margin: pure ASCII with few digits/punctuation (prose); pure
#: ASCII with many (code, numbers, logs); other non-ASCII text (accented Latin, Cyrillic, Greek, a few
#: symbols or emoji); text dominated by 3/4-byte characters (CJK, ...). See :func:`text_group`.
TEXT_GROUPS: Final = ("ascii_text", "ascii_symbolic", "latin", "wide")

# Fitted by ``python bench/calibrate_tokens.py --fit`` (weighted least squares on relative error over a
# training corpus of other seeds); margins chosen from the held-out quantiles; see the doc.
_CALIBRATIONS: Final[dict[str, Calibration]] = {
    "o200k_base": Calibration(
        weights=(
            (0.0275, 0.5481, 0.8956, 1.0405, 1.1018, 0.0, 0.0, 1.3278),
            (0.1159, 0.5989, 0.5660, 0.5997, 0.3365, 0.0, 0.0, 0.6703),
            (0.1179, 0.6484, 0.5793, 0.7547, 0.0, 0.2128, 0.0, 0.9879),
            (0.2029, 0.6927, 0.0112, 1.2848, 0.0, 0.6801, 0.0, 0.1347),
        ),
        margins=(1.12, 1.28, 1.35, 1.18),
        per_text_slack=2.0,
    ),
    "cl100k_base": Calibration(
        weights=(
            (0.0421, 0.6707, 0.8141, 0.8819, 0.6461, 0.0, 0.0, 1.3560),
            (0.1117, 0.5958, 0.6009, 0.5782, 0.2722, 0.0, 0.0, 0.7385),
            (0.1551, 0.6707, 0.4956, 2.7015, 0.0, 0.5355, 0.0, 2.5332),
            (0.1117, 0.9024, 0.5625, 2.1302, 0.0, 0.0, 1.0320, 0.0),
        ),
        margins=(1.26, 1.28, 1.62, 1.31),
        per_text_slack=2.0,
    ),
}
#: Encodings with calibrated weights.
ENCODINGS: Final = tuple(_CALIBRATIONS)
#: The calibration of each encoding (read-only use).
CALIBRATIONS: Final[Mapping[str, Calibration]] = _CALIBRATIONS

_SYMBOL_BYTES: Final = b"0123456789!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_HIGH_BYTES: Final = bytes(range(0x80, 0x100))
_STANDARD_ROLES: Final = frozenset({"system", "user", "assistant", "tool", "developer", "function"})
_IMAGE_PART_TYPES: Final = frozenset({"image_url", "image", "input_image"})

# ------------------------------------------------------------------------------------------- features


def text_features(text: str) -> tuple[int, int, int, int, int, int, int, int]:
    """Byte-class counts of ``text`` in :data:`FEATURE_NAMES` order (counts, not tokens).

    Costs a handful of C-level passes over the UTF-8 bytes (no regex, no Python-level loop).
    """
    if not text:
        return (0, 0, 0, 0, 0, 0, 0, 0)
    data = text.encode("utf-8", "surrogatepass")
    size = len(data)
    symbols = size - len(data.translate(None, _SYMBOL_BYTES))
    spaces = data.count(b" ")
    newlines = data.count(b"\n")
    indents = data.count(b"    ") if newlines else 0  # indentation needs lines
    if size == len(text):  # pure ASCII
        return (size - symbols - spaces - newlines, symbols, spaces - 4 * indents, newlines, indents, 0, 0, 1)
    high = size - len(data.translate(None, _HIGH_BYTES))
    nonascii = len(text) - (size - high)
    letters = size - high - symbols - spaces - newlines
    return (letters, symbols, spaces - 4 * indents, newlines, indents, nonascii, high - 2 * nonascii, 1)


def text_group(features: Sequence[int]) -> int:
    """Index into :data:`TEXT_GROUPS` for a :func:`text_features` tuple."""
    f = features
    nonascii = f[5]
    if nonascii == 0:
        # symbolic: >= 1/12 of the bytes are digits/punctuation (code, tables, logs, ...)
        return 1 if 12 * f[1] >= f[0] + f[1] + f[2] + f[3] + 4 * f[4] else 0
    chars = f[0] + f[1] + f[2] + f[3] + 4 * f[4] + nonascii
    # wide: >= 1/4 of the characters are non-ASCII and they average >= 2.5 UTF-8 bytes (CJK, Thai, ...)
    return 3 if 2 * f[6] >= nonascii and 4 * nonascii >= chars else 2


def _dot(weights: tuple[float, ...], features: Sequence[int]) -> float:
    w = weights
    f = features
    return w[0] * f[0] + w[1] * f[1] + w[2] * f[2] + w[3] * f[3] + w[4] * f[4] + w[5] * f[5] + w[6] * f[6] + w[7] * f[7]


def _calibration(encoding: str) -> Calibration:
    try:
        return _CALIBRATIONS[encoding]
    except KeyError:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}") from None


def _utf8_size(features: Sequence[int]) -> int:
    """UTF-8 length of the text the features were taken from, bytes."""
    f = features
    return f[0] + f[1] + f[2] + f[3] + 4 * f[4] + 2 * f[5] + f[6]


def estimate_text_tokens(text: str, *, encoding: EncodingName = "o200k_base") -> int:
    """Calibrated estimate of the tokens in ``text`` alone (no chat framing), never above its bytes."""
    if not text:
        return 0
    cal = _calibration(encoding)
    feats = text_features(text)
    raw = _dot(cal.weights[text_group(feats)], feats)
    return min(round(max(raw, 0.0)), _utf8_size(feats))


def upper_bound_text_tokens(text: str, mode: BoundMode, *, encoding: EncodingName = "o200k_base") -> int:
    """Upper bound on the tokens in ``text`` alone (no chat framing); see the module doc for ``mode``."""
    if mode == "strict":
        return strict_text_tokens(text)
    if mode != "estimate":
        raise ValueError(f"unknown mode {mode!r}; expected 'estimate' or 'strict'")
    if not text:
        return 0
    cal = _calibration(encoding)
    feats = text_features(text)
    group = text_group(feats)
    upper = max(_dot(cal.weights[group], feats), 0.0) * cal.margins[group] + cal.per_text_slack
    return min(math.ceil(upper), _utf8_size(feats))


def strict_text_tokens(text: str) -> int:
    """Provable bound for byte-level BPE: the UTF-8 length of ``text`` (each token covers >= 1 byte)."""
    return len(text.encode("utf-8", "surrogatepass"))


# ------------------------------------------------------------------------------------------- messages


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, else ``getattr(obj, key, None)``."""
    if type(obj) is dict or isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _plain(obj: Any) -> Any:
    """JSON-compatible form of ``obj`` (pydantic models via ``model_dump``), recursively."""
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _json_text(obj: Any) -> str:
    """Deterministic JSON text of ``obj`` (``", "``/``": "`` separators, UTF-8, unknown types via str)."""
    return json.dumps(_plain(obj), ensure_ascii=False, sort_keys=True, default=str)


#: Per-group feature sums of a request: for each of :data:`TEXT_GROUPS`, the :func:`text_features` of its texts added
#: up (``[group][feature]``). The estimates are linear in the features, so any calibration's estimate of the request
#: is the dot product of its weights with these sums: one pass over the texts serves every token family.
GroupFeatures = Sequence[Sequence[int]]
_NO_FEATURES: Final[GroupFeatures] = ((0,) * 8,) * 4


class TokenCounts(NamedTuple):
    """The three prompt-token figures for one request, in tokens (see the module doc); a named tuple (one per
    request: the cheapest immutable record).

    Beyond the figures, what a token family's bounds are computed from (:mod:`app.tokens.families`):
    ``group_features`` (every counted text, full weight), ``discounted_features`` (the texts whose point estimate
    counts only :data:`TOOLS_JSON_ESTIMATE_SCALE` of them: tool definitions; ``None`` without tools),
    ``framing_tokens`` (OpenAI's chat framing, reply priming included, tokens), ``high_detail_images`` /
    ``low_detail_images``, ``text_count`` (texts counted), ``dominant_group`` (the index in :data:`TEXT_GROUPS`
    of the group with the largest point estimate: the request's text group) and ``active_groups`` (the groups with
    texts).
    """

    estimate_tokens: int
    upper_estimate_tokens: int
    strict_tokens: int
    message_count: int
    image_count: int
    group_features: GroupFeatures = _NO_FEATURES
    discounted_features: GroupFeatures | None = None
    framing_tokens: int = 0
    high_detail_images: int = 0
    low_detail_images: int = 0
    text_count: int = 0
    dominant_group: int = 0
    active_groups: tuple[int, ...] = ()


class _Accumulator:
    """Sums the features of every text of a request per text group, and the framing: one pass, a few calls per
    message. The estimates are taken from the sums at the end (they are linear in the features)."""

    __slots__ = (
        "discounted",
        "framing_estimate",
        "framing_strict",
        "images",
        "images_low",
        "strict_bytes",
        "sums",
    )

    def __init__(self) -> None:
        self.sums = [[0] * 8 for _ in TEXT_GROUPS]  # per group, summed text_features (full weight)
        self.discounted: list[list[int]] | None = None  # per group, features of texts scaled in the point estimate
        self.strict_bytes = 0  # UTF-8 bytes of every counted text (= their strict tokens)
        self.framing_estimate = 0  # framing tokens (estimate and upper-estimate modes)
        self.framing_strict = 0  # strict framing allowance, tokens
        self.images = 0
        self.images_low = 0

    def add_text(self, text: str, *, strict: bool = True, discounted: bool = False) -> None:
        """Adds ``text`` to the feature sums, and its bytes to the strict count unless ``strict=False``.

        ``discounted`` texts count :data:`TOOLS_JSON_ESTIMATE_SCALE` of their point estimate (the upper estimate
        keeps the full text).
        """
        if not text:
            return
        f = text_features(text)
        s = self.sums[text_group(f)]
        s[0] += f[0]
        s[1] += f[1]
        s[2] += f[2]
        s[3] += f[3]
        s[4] += f[4]
        s[5] += f[5]
        s[6] += f[6]
        s[7] += f[7]
        if discounted:
            if self.discounted is None:
                self.discounted = [[0] * 8 for _ in TEXT_GROUPS]
            d = self.discounted[text_group(f)]
            for index, value in enumerate(f):
                d[index] += value
        if strict:
            self.strict_bytes += f[0] + f[1] + f[2] + f[3] + 4 * f[4] + 2 * f[5] + f[6]

    def add_content(self, content: Any) -> None:
        if content is None:
            return
        if type(content) is str:
            self.add_text(content)
            return
        if isinstance(content, str):
            self.add_text(str(content))
            return
        if not isinstance(content, Iterable) or isinstance(content, (bytes, Mapping)):
            self.add_text(_json_text(content))
            return
        for part in content:
            if isinstance(part, str):
                self.add_text(part)
                continue
            text = _get(part, "text")
            if isinstance(text, str):
                self.add_text(text)
            elif _get(part, "type") in _IMAGE_PART_TYPES:
                image = _get(part, "image_url")
                self.images += 1
                if image is not None and not isinstance(image, str) and _get(image, "detail") == "low":
                    self.images_low += 1
            else:  # audio, files, refusals, ...: their JSON text as a conservative stand-in
                self.add_text(_json_text(part))

    def add_message(self, message: Any) -> None:
        if type(message) is dict:
            role, name = message.get("role"), message.get("name")
            content, tool_calls = message.get("content"), message.get("tool_calls")
            function_call = message.get("function_call")
        else:
            role, name = _get(message, "role"), _get(message, "name")
            content, tool_calls = _get(message, "content"), _get(message, "tool_calls")
            function_call = _get(message, "function_call")
        if type(role) is not str:
            role = str(getattr(role, "value", role) or "")  # an Enum's value, or None
        if role in _STANDARD_ROLES:
            self.framing_estimate += MESSAGE_OVERHEAD_TOKENS + ROLE_TOKENS
        else:
            self.framing_estimate += MESSAGE_OVERHEAD_TOKENS + ROLE_TOKENS + estimate_text_tokens(role)
        self.framing_strict += STRICT_MESSAGE_OVERHEAD_TOKENS + len(role.encode())
        if name and isinstance(name, str):
            self.framing_estimate += estimate_text_tokens(name) + NAME_OVERHEAD_TOKENS
            self.framing_strict += len(name.encode()) + NAME_OVERHEAD_TOKENS
        if content is not None:
            self.add_content(content)
        if tool_calls:
            for call in tool_calls:
                self._add_tool_call(call)
        if function_call:
            self._add_tool_call({"function": function_call})

    def _add_tool_call(self, call: Any) -> None:
        function = _get(call, "function")
        name = _get(function, "name") if function is not None else None
        arguments = _get(function, "arguments") if function is not None else None
        # Estimate: the name and the arguments text as the model sees them; strict: the whole call's JSON.
        args = arguments if isinstance(arguments, str) else _json_text(arguments)
        self.add_text(f"{name or ''} {args}", strict=False)
        # ``\uXXXX`` escapes (json.dumps' default for non-ASCII) cost ~3.5 tokens; the byte-class model
        # sees ~1.5 of them.
        self.framing_estimate += TOOL_CALL_OVERHEAD_TOKENS + JSON_ESCAPE_EXTRA_TOKENS * args.count("\\u")
        self.framing_strict += len(_json_text(call).encode()) + STRICT_TOOL_CALL_OVERHEAD_TOKENS

    def add_tools(self, tools: Sequence[Any]) -> None:
        text = _json_text(tools)
        self.add_text(text, strict=False, discounted=True)
        self.framing_estimate += TOOLS_OVERHEAD_TOKENS
        self.framing_strict += (
            len(text.encode()) + STRICT_TOOLS_OVERHEAD_TOKENS + STRICT_PER_TOOL_OVERHEAD_TOKENS * len(tools)
        )

    def add_response_format(self, response_format: Any) -> None:
        plain = _plain(response_format)
        if isinstance(plain, Mapping) and plain.get("type") in ("text", "json_object", None) and len(plain) <= 1:
            return  # no schema is sent to the model: nothing to count
        text = _json_text(plain)
        self.add_text(text, strict=False)
        self.framing_estimate += RESPONSE_FORMAT_OVERHEAD_TOKENS
        self.framing_strict += len(text.encode()) + STRICT_RESPONSE_FORMAT_OVERHEAD_TOKENS


def count_prompt_tokens(
    messages: Iterable[Any],
    *,
    tools: Sequence[Any] | None = None,
    response_format: Any = None,
    encoding: EncodingName = "o200k_base",
) -> TokenCounts:
    """All three prompt-token figures for a request in one pass (tokens).

    Guarantees ``estimate_tokens <= upper_estimate_tokens <= strict_tokens``; each figure is monotone
    (non-decreasing) in added messages, content parts, tools and schema.
    """
    cal = _calibration(encoding)
    acc = _Accumulator()
    count = 0
    for message in messages:
        acc.add_message(message)
        count += 1
    if tools:
        acc.add_tools(tools)
    if response_format is not None:
        acc.add_response_format(response_format)

    sums = acc.sums  # read-only from here on (a tuple of each would cost a copy per request)
    discounted = acc.discounted
    estimate_text, upper_text, dominant = text_estimates(cal, sums, discounted)
    high_images = acc.images - acc.images_low
    low_images = LOW_DETAIL_IMAGE_TOKENS * acc.images_low
    framing = acc.framing_estimate + REPLY_PRIMING_TOKENS
    strict = acc.strict_bytes + acc.framing_strict + REPLY_PRIMING_TOKENS + STRICT_IMAGE_TOKENS * acc.images
    upper = min(math.ceil(upper_text) + framing + UPPER_IMAGE_TOKENS * high_images + low_images, strict)
    estimate = min(round(estimate_text) + framing + ESTIMATE_IMAGE_TOKENS * high_images + low_images, upper)
    active = tuple(group for group in range(4) if sums[group][7])
    return _new_counts(
        TokenCounts,
        (
            estimate,
            upper,
            strict,
            count,
            acc.images,
            sums,
            discounted,
            framing,
            high_images,
            acc.images_low,
            sums[0][7] + sums[1][7] + sums[2][7] + sums[3][7],
            dominant,
            active,
        ),
    )


#: Builds a TokenCounts from its field values without the named tuple's Python-level ``__new__`` (once per request).
_new_counts: Final = tuple.__new__


def text_estimates(
    cal: Calibration, sums: GroupFeatures, discounted: GroupFeatures | None = None
) -> tuple[float, float, int]:
    """``(point estimate, upper estimate, dominant group)`` of the texts whose per-group feature sums are ``sums``
    under calibration ``cal`` (tokens, framing excluded): the point estimate is ``Σ weights·features`` less the
    discount of ``discounted`` texts; the upper one ``Σ margin × weights·features + slack × texts``."""
    estimate = upper = best = 0.0
    dominant = 0
    weights, margins = cal.weights, cal.margins
    for group in range(4):
        f = sums[group]
        if not f[7]:
            continue
        est = _dot(weights[group], f)
        estimate += est
        upper += est * margins[group] + cal.per_text_slack * f[7]
        if est > best:
            best, dominant = est, group
    if discounted is not None:
        for group in range(4):
            if discounted[group][7]:
                estimate -= (1.0 - TOOLS_JSON_ESTIMATE_SCALE) * _dot(weights[group], discounted[group])
    return estimate, upper, dominant


def estimate_tokens(
    messages: Iterable[Any],
    *,
    tools: Sequence[Any] | None = None,
    response_format: Any = None,
    encoding: EncodingName = "o200k_base",
) -> int:
    """Calibrated point estimate of the prompt tokens of a chat request (framing included), tokens."""
    return count_prompt_tokens(
        messages, tools=tools, response_format=response_format, encoding=encoding
    ).estimate_tokens


def upper_bound_tokens(
    messages: Iterable[Any],
    mode: BoundMode,
    *,
    tools: Sequence[Any] | None = None,
    response_format: Any = None,
    encoding: EncodingName = "o200k_base",
) -> int:
    """Upper bound on the prompt tokens of a chat request, tokens.

    ``mode="estimate"``: calibrated estimate x safety margin (+2 tokens per text), capped by the strict
    bound; ``>=`` the real count for >= 99% of realistic prompts (measured per category).
    ``mode="strict"``: UTF-8 bytes of every text + framing allowances; provable for the text of
    byte-level BPE tokenizers, with documented assumptions for images and tool-schema rendering.
    """
    counts = count_prompt_tokens(messages, tools=tools, response_format=response_format, encoding=encoding)
    if mode == "strict":
        return counts.strict_tokens
    if mode == "estimate":
        return counts.upper_estimate_tokens
    raise ValueError(f"unknown mode {mode!r}; expected 'estimate' or 'strict'")
