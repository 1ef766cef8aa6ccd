"""Every chat-mode name of LiteLLM 1.106.2's price map through the resolver (vendored: tests/catalog/data).

Two checks that do not reuse the resolver's own rules:

- **family signature**: the version numbers and tier words (mini, nano, flash, lite, pro, opus, ...) of the name
  equal those of the entry's name or one of its aliases, so ``gpt-5-nano`` can never land on ``gpt-5`` nor
  ``claude-3-5-sonnet`` on ``claude-3-7-sonnet``;
- **price class**: where the catalog's price applies to the name (its own route, not regional), LiteLLM lists the same
  price within 1%, except the documented exceptions below.

Coverage of the families the catalog covers is asserted and printed (``pytest -s``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.catalog import CatalogMatch, default_catalog

DATA = Path(__file__).parent / "data" / "litellm-1.106.2-chat-models.json"

#: Names of the covered families: the model versions the catalog had entries for in 2025-12 (regular expressions on
#: the lower-cased last segment of the name), kept as a regression check. This measure is circular (it only counts
#: versions the catalog covers); the coverage of ALL names of the families is measured in test_family_coverage.py.
COVERED_FAMILIES = [
    r"gpt-4\.1(-mini|-nano)?(-20\d\d-\d\d-\d\d)?",
    r"gpt-5(\.1)?(-mini|-nano|-codex|-codex-mini)?(-20\d\d-\d\d-\d\d)?",
    r"o3(-mini)?(-20\d\d-\d\d-\d\d)?|o4-mini(-20\d\d-\d\d-\d\d)?",
    r"gpt-4o(-mini)?(-20\d\d-\d\d-\d\d)?|gpt-4-turbo(-20\d\d-\d\d-\d\d)?|gpt-4-(1106|0125)-preview",
    r"(.*anthropic[.-])?claude-(3-5-sonnet|3-7-sonnet|3-5-haiku|3-opus|3-haiku|3\.5-sonnet|3\.7-sonnet|3\.5-haiku"
    r"|sonnet-4|opus-4|4-sonnet|4-opus|opus-4-1|sonnet-4-5|haiku-4-5|opus-4-5|opus-4\.1|sonnet-4\.5|haiku-4\.5"
    r"|opus-4\.5|4\.5-sonnet|4\.5-haiku)(?![-.][6-9])([-@].*)?",
    r"(.*google[.-])?gemini-(2\.5|2-5|3)-(pro|flash|flash-lite)(-preview)?(-\d\d-20\d\d)?",
    r".*llama-?4-(scout|maverick).*",
    r"(.*mistral[.-])?mistral-medium-(3|2505)(@\d+)?",
    r"deepseek-(chat|reasoner|v3|v3\.1|v3\.2|r1)|(.*\.)?deepseek\.(v3|v3\.1|v3\.2|r1)(-v1:0)?|deepseek-v3p[12]",
    r"qwen3-(235b-a22b(-instruct-2507|-thinking-2507|-2507)?|32b|coder-480b-a35b(-instruct)?)(-fp8|-tput|-v1:0)?",
    r"(xai\.)?grok-(3|3-mini|4|4-fast|4-fast-reasoning|4-fast-non-reasoning|4-0709|4-latest|3-latest)",
    r"(.*moonshotai\.)?kimi-k2(-instruct)?(-0905|-0711-preview|-thinking)?",
    r"glm-4(\.5|\.6|p5|p6)(-air)?(-fp8)?",
]
_FAMILY = re.compile("|".join(f"(?:{pattern})" for pattern in COVERED_FAMILIES))

#: Where the catalog's price applies but LiteLLM lists another one, and why.
PRICE_EXCEPTIONS = {
    # a LiteLLM key with Claude 3.7's name and a June 2024 date, priced like a us-gov region; not a real model id
    "anthropic.claude-3-7-sonnet-20240620-v1:0",
    # DeepSeek lists $0.42 output for V3.2 (deepseek-chat); LiteLLM's deepseek-v3.2 key says $0.40 (catalog higher)
    "deepseek/deepseek-v3.2",
}

_TIERS = frozenset(
    {
        "mini", "nano", "lite", "flash", "pro", "max", "turbo", "air", "fast", "thinking", "reasoner", "reasoning",
        "non", "coder", "codex", "chat", "audio", "search", "realtime", "scout", "maverick", "haiku", "sonnet", "opus",
        "medium", "large", "small", "tiny",
    }
)  # fmt: skip


@cache
def litellm_models() -> dict[str, list[Any]]:
    data: dict[str, list[Any]] = json.loads(DATA.read_text(encoding="utf-8"))["models"]
    return data


def _last(name: str) -> str:
    last = name.lower().rsplit("/", 1)[-1]
    return re.sub(
        r"^(?:(?:us|eu|apac|jp|au|us-gov|global)\.)?(?:anthropic|meta|mistral|deepseek|qwen|moonshotai|xai)\.", "", last
    )


def signature(name: str) -> tuple[tuple[str, ...], frozenset[str], frozenset[str]]:
    """Version numbers (dates, snapshot numbers and Bedrock versions dropped), sizes (``70b``, ``a22b``, ``128e``)
    and tier words of a name."""
    last = _last(name)
    while True:
        shorter = re.sub(
            r"-v\d+:\d+$|-v1$|@.*$|-(20\d\d-?\d\d-?\d\d|\d\d-20\d\d)$|-\d{4}(?=$|-preview)|-preview$|-latest$"
            r"|-maas$|-fp8$|-fp4$|-instruct$|-tput$",
            "",
            last,
        )
        if shorter == last:
            break
        last = shorter
    last = re.sub(r"(?<=\d)p(?=\d)", ".", last)
    last = re.sub(r"(?<=[a-z]{2})(?=\d)", "-", last)  # llama4 -> llama-4, qwen3 -> qwen-3
    words = re.split(r"[-_.]", last)
    sizes = frozenset(w for w in words if re.fullmatch(r"a?\d+[bek]|\d+x\d+b", w))
    numbers = tuple(re.sub(r"[a-z]", "", w) for w in words if re.fullmatch(r"[a-z]?\d+[a-z]?", w) and w not in sizes)
    tiers = frozenset(w for w in words if w in _TIERS)
    return tuple(n for n in numbers if n), sizes, tiers


def _same_family(name: str, match: CatalogMatch) -> bool:
    numbers, sizes, tiers = signature(name)
    for label in (match.entry.name, *match.entry.aliases):
        their_numbers, their_sizes, their_tiers = signature(label)
        if numbers == their_numbers and tiers == their_tiers and (not their_sizes or sizes <= their_sizes):
            return True
    return False


def resolved() -> Iterator[tuple[str, CatalogMatch]]:
    catalog = default_catalog()
    for name in litellm_models():
        match = catalog.resolve(name)
        if match is not None:
            yield name, match


def test_every_resolved_name_has_the_family_signature_of_its_entry() -> None:
    wrong = [f"{name} -> {match.entry.name}" for name, match in resolved() if not _same_family(name, match)]
    assert not wrong, "\n".join(wrong)


def test_where_the_catalog_price_applies_litellm_lists_the_same_price() -> None:
    wrong = []
    for name, match in resolved():
        _, input_cost, output_cost, *_ = litellm_models()[name]
        if not match.price_applies or input_cost is None or output_cost is None or name in PRICE_EXCEPTIONS:
            continue
        ours = match.entry.pricing
        for side, our, their in (
            ("input", float(ours.input_usd_per_token), input_cost),
            ("output", float(ours.output_usd_per_token), output_cost),
        ):
            if abs(our - their) > 0.01 * their:
                wrong.append(f"{name} -> {match.entry.name}: {side} catalog {our} vs LiteLLM {their}")
    assert not wrong, "\n".join(wrong)


def test_regional_and_host_routes_never_take_the_catalog_price() -> None:
    catalog = default_catalog()
    for name in [
        "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",  # +10% in US inference profiles
        "eu.anthropic.claude-opus-4-5-20251101-v1:0",
        "azure/eu/gpt-5.1-codex",
        "bedrock/us-east-1/deepseek.v3.2",
        "groq/llama-3.1-8b-instant",
        "fireworks_ai/accounts/fireworks/models/deepseek-v3p2",
        "hosted_vllm/meta-llama/Llama-4-Scout-17B-16E-Instruct",
        "pinstripes/ps/glm-4.5-air",
    ]:
        match = catalog.resolve(name)
        assert match is not None and not match.price_applies, name
    for name in [
        "gpt-5",
        "openai/gpt-5-mini",
        "azure/gpt-4.1",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "vertex_ai/claude-opus-4-1@20250805",
        "gemini/gemini-2.5-flash",
        "deepseek/deepseek-chat",
        "together_ai/meta-llama/Llama-4-Scout-17B-16E-Instruct",
    ]:
        match = catalog.resolve(name)
        assert match is not None and match.price_applies, name


def coverage() -> tuple[int, list[str], list[str]]:
    """(names of covered families, those resolved to an entry of the same family, those left unknown)."""
    catalog = default_catalog()
    family = [name for name in litellm_models() if _FAMILY.fullmatch(name.lower().rsplit("/", 1)[-1])]
    right, unknown = [], []
    for name in family:
        match = catalog.resolve(name)
        if match is None:
            unknown.append(name)
        elif _same_family(name, match):
            right.append(name)
    return len(family), right, unknown


def test_at_least_90_percent_of_the_covered_families_resolve_to_the_right_entry() -> None:
    total, right, unknown = coverage()
    share = len(right) / total
    print(
        f"\nLiteLLM 1.106.2 chat names of the covered families: {total}; resolved to the right entry: "
        f"{len(right)} ({share:.1%}); unknown: {len(unknown)}"
    )
    for name in unknown:
        print(f"  unknown: {name}")
    assert total >= 250
    assert share >= 0.90, unknown


def test_all_chat_names_are_counted() -> None:
    catalog = default_catalog()
    names = litellm_models()
    found = sum(1 for name in names if catalog.resolve(name) is not None)
    print(f"\nLiteLLM 1.106.2 chat names: {len(names)}; resolved: {found}; unknown: {len(names) - found}")
    assert len(names) == 3014
    assert found >= 600


@pytest.mark.parametrize(
    ("name", "entry"),
    [
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-5-nano-2025-08-07", "gpt-5-nano"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("gemini-2.5-flash-lite-preview-09-2025", "gemini-2.5-flash-lite"),
    ],
)
def test_similar_names_keep_their_own_entries(name: str, entry: str) -> None:
    match = default_catalog().resolve(name)
    assert match is not None and match.entry.name == entry
