"""Coverage of ALL chat names of the issue's model families in LiteLLM 1.106.2's map, not only of covered versions.

The population: every chat-mode key of the vendored map (tests/catalog/data) whose model belongs to one of the
families users route between (GPT / o-series / ChatGPT, Claude, Gemini, Llama, Mistral and its siblings, DeepSeek,
Qwen, Grok, Kimi / Moonshot, GLM) and whose LiteLLM provider is the vendor's own API or a major cloud that resells
it (:data:`ROUTES`). Documented exclusions (:data:`EXCLUDED`) are names that are not general chat models. Each name
of the population is classified:

- **right**: it resolves to an entry with the same family signature (versions, sizes, tier words; see
  ``test_litellm_names.signature``), so ``gpt-5.4-mini`` on ``gpt-5.4`` would count as wrong;
- **wrong**: it resolves to an entry of another signature (must be none);
- **unknown**: it does not resolve (the router gives it a price-based prior).

``pytest -s tests/catalog/test_family_coverage.py`` prints the figures and the largest groups of unknown names;
docs/catalog.md quotes them (a test checks the quote).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from app.catalog import default_catalog
from app.catalog.names import parse_name

from .test_litellm_names import _same_family, litellm_models

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"

#: The families of the issue, on the last name segment (a Bedrock vendor prefix such as ``us.anthropic.`` allowed).
FAMILY = re.compile(
    r"^(?:[a-z-]+\.)*(?:gpt-|o1|o3|o4|chatgpt-|claude|gemini-|llama|meta-llama|mistral|mixtral|magistral|codestral"
    r"|ministral|devstral|pixtral|deepseek|qwen|qwq|grok|kimi|moonshot|glm)"
)

#: LiteLLM providers (the vendored ``litellm_provider``) that count: each vendor's own API, and the clouds that
#: resell the families at list or near-list prices. Open-weight hosts (Fireworks, Together, DeepInfra, Groq, ...)
#: and aggregators are not in the population: each has its own build names and prices.
ROUTES = frozenset(
    {
        "openai", "azure", "azure_ai", "anthropic", "gemini", "vertex_ai", "vertex_ai-language-models",
        "vertex_ai-anthropic_models", "vertex_ai-mistral_models", "vertex_ai-llama_models",
        "vertex_ai-deepseek_models", "vertex_ai-qwen_models", "vertex_ai-zai_models", "vertex_ai-openai_models",
        "vertex_ai-moonshot_models", "bedrock", "bedrock_converse", "bedrock_mantle", "mistral", "codestral",
        "deepseek", "xai", "moonshot", "zai", "dashscope",
    }
)  # fmt: skip

#: Names that are not general chat models, with the reason (the name's last segment is matched).
EXCLUDED = {
    "fine-tune ids": re.compile(r"^ft:"),
    "audio, speech, realtime and image models": re.compile(r"audio|realtime|tts|transcri|image|voxtral"),
    "tool-bound or special-purpose variants (web search, deep research, computer use, robotics, security-tuned,"
    " safety classifiers)": re.compile(r"search|deep-research|computer-use|robotics|cyber|safeguard"),
    "Gemma served under the Gemini API (not the Gemini family)": re.compile(r"gemini-gemma"),
}


@dataclass(frozen=True)
class Coverage:
    right: tuple[str, ...]
    unknown: tuple[str, ...]
    wrong: tuple[str, ...]
    excluded: dict[str, int]

    @property
    def total(self) -> int:
        return len(self.right) + len(self.unknown) + len(self.wrong)

    @property
    def share_right(self) -> float:
        return len(self.right) / self.total

    def unknown_groups(self) -> list[tuple[str, int]]:
        """Unknown names grouped by their canonical form, largest first."""
        groups = Counter(parse_name(name).canonical for name in self.unknown)
        return sorted(groups.items(), key=lambda item: (-item[1], item[0]))


def _exclusion(last: str) -> str | None:
    return next((reason for reason, pattern in EXCLUDED.items() if pattern.search(last)), None)


@cache
def coverage() -> Coverage:
    catalog = default_catalog()
    right: list[str] = []
    unknown: list[str] = []
    wrong: list[str] = []
    excluded: Counter[str] = Counter()
    for name, (provider, *_) in litellm_models().items():
        last = name.lower().rsplit("/", 1)[-1]
        if provider not in ROUTES or not FAMILY.match(last):
            continue
        reason = _exclusion(last)
        if reason is not None:
            excluded[reason] += 1
            continue
        match = catalog.resolve(name)
        if match is None:
            unknown.append(name)
        elif _same_family(name, match):
            right.append(name)
        else:
            wrong.append(f"{name} -> {match.entry.name}")
    return Coverage(tuple(right), tuple(unknown), tuple(wrong), dict(excluded))


def test_at_least_90_percent_of_all_family_names_resolve_right_and_none_wrong() -> None:
    result = coverage()
    print(
        f"\nLiteLLM 1.106.2 chat names of the families on first-party and cloud routes: {result.total}; "
        f"resolved right: {len(result.right)} ({result.share_right:.1%}); unknown: {len(result.unknown)}; "
        f"wrong: {len(result.wrong)}; excluded: {sum(result.excluded.values())} {result.excluded}"
    )
    for canonical, count in result.unknown_groups():
        print(f"  unknown x{count}: {canonical}")
    assert not result.wrong, "\n".join(result.wrong)
    assert result.total >= 1000  # the population is the whole family, not the catalog's own versions
    assert result.share_right >= 0.90


def test_every_exclusion_is_a_documented_kind_and_small() -> None:
    result = coverage()
    assert set(result.excluded) <= set(EXCLUDED)
    assert sum(result.excluded.values()) <= 0.06 * (result.total + sum(result.excluded.values()))


def test_the_docs_quote_the_measured_figures() -> None:
    result = coverage()
    text = DOC.read_text(encoding="utf-8")
    quoted = (
        f"{len(result.right)} of the {result.total} names ({result.share_right:.1%}) resolve to the right entry, "
        f"{len(result.unknown)} are unknown and none resolves wrong"
    )
    assert quoted in text, quoted
    for canonical, count in result.unknown_groups()[:5]:
        assert f"`{canonical}` ({count})" in text, canonical


@pytest.mark.parametrize(
    ("name", "entry", "sibling"),
    [
        ("gpt-5.4-mini-2026-03-17", "gpt-5.4-mini", "gpt-5.4"),
        ("azure/gpt-5.4-nano", "gpt-5.4-nano", "gpt-5.4"),
        ("gpt-5.2-chat-latest", "gpt-5.2-chat", "gpt-5.2"),
        ("azure/gpt-5.3-codex", "gpt-5.3-codex", "gpt-5.2-codex"),
        ("anthropic/claude-opus-4-6", "claude-opus-4-6", "claude-opus-4-5"),
        ("us.anthropic.claude-sonnet-4-6", "claude-sonnet-4-6", "claude-sonnet-4-5"),
        ("global.anthropic.claude-opus-5-5", "claude-opus-5-5", "claude-opus-5"),
        ("moonshot/kimi-k2.5", "kimi-k2.5", "kimi-k2"),
        ("bedrock/moonshotai.kimi-k2.5", "kimi-k2.5", "kimi-k2-thinking"),
        ("zai/glm-4.7-flash", "glm-4.7-flash", "glm-4.7"),
        ("zai/glm-5.3-flash", "glm-5.3-flash", "glm-5.3"),
        ("gemini/gemini-3.1-flash-lite-preview", "gemini-3.1-flash-lite", "gemini-3-flash"),
        ("vertex_ai/gemini-3.5-flash-lite", "gemini-3.5-flash-lite", "gemini-3.5-flash"),
        ("vertex_ai/xai/grok-4.1-fast-non-reasoning", "grok-4.1-fast-non-reasoning", "grok-4.1-fast"),
        ("deepseek/deepseek-v4-flash", "deepseek-v4-flash", "deepseek-v4-pro"),
        ("mistral/mistral-medium-3.5", "mistral-medium-3.5", "mistral-medium-3"),
        ("dashscope/qwen3-next-80b-a3b-thinking", "qwen3-next-80b-a3b-thinking", "qwen3-next-80b-a3b-instruct"),
    ],
)
def test_new_names_take_their_own_entry_never_a_siblings(name: str, entry: str, sibling: str) -> None:
    catalog = default_catalog()
    found = catalog.find(name)
    assert found is not None and found.name == entry, (name, found and found.name)
    assert catalog.find(sibling) is not found
