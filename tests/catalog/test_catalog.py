"""The bundled model catalog: it loads, every entry is valid, names match strictly, the data is sane and traceable."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.catalog import Capabilities, CatalogEntry, ModelCatalog, default_catalog
from app.errors import ConfigurationError
from app.pricing import parse_pricing
from app.tasks import TaskType

REPO = Path(__file__).resolve().parents[2]
CATALOG_JSON = REPO / "app" / "data" / "catalog.json"
CATALOG_DOC = REPO / "docs" / "catalog.md"

FRONTIER = ["claude-3-5-sonnet", "gpt-4o", "claude-3-opus", "gemini-1.5-pro", "llama-3.1-405b-instruct"]
SMALL = ["llama-3-8b-instruct", "open-mistral-7b", "gpt-3.5-turbo"]


def entry(name: str) -> CatalogEntry:
    found = default_catalog().find(name)
    assert found is not None, f"{name!r} not in the bundled catalog"
    return found


def raw_catalog() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CATALOG_JSON.read_text(encoding="utf-8"))
    return data


# -- loading ---------------------------------------------------------------------------------------------------------


def test_bundled_catalog_loads_once_and_is_cached() -> None:
    catalog = default_catalog()
    assert catalog is default_catalog()
    assert len(catalog) >= 20
    assert catalog.as_of == date.fromisoformat(raw_catalog()["as_of"])
    assert [e.name for e in catalog.entries()] == [m["name"] for m in raw_catalog()["models"]]


def test_import_reads_nothing() -> None:
    code = "import app.catalog as c; print(c.default_catalog.cache_info().currsize)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "0"


def test_file_uses_the_documented_shape() -> None:
    data = raw_catalog()
    assert set(data) <= {"as_of", "models", "description"}
    keys = {
        "name", "aliases", "provider", "input_per_1m", "output_per_1m", "context_window", "max_output_tokens",
        "capabilities", "price_routes", "quality", "price_source", "quality_basis",
    }  # fmt: skip
    for model in data["models"]:
        assert set(model) - {"reasoning"} == keys, model["name"]
        assert set(model.get("reasoning", {})) <= {"style", "default_effort", "expected_tokens"}
        assert set(model["capabilities"]) <= {"tools", "vision", "json"}
        assert set(model["quality"]) == {task.value for task in TaskType}


# -- every entry is valid --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", default_catalog().entries(), ids=lambda e: e.name)
def test_every_entry_is_valid(model: CatalogEntry) -> None:
    assert model.pricing.input_usd_per_token > 0 and model.pricing.output_usd_per_token > 0
    assert not model.pricing.is_free
    assert 0 < model.max_output_tokens <= model.context_window_tokens
    assert model.context_window_tokens >= 8192
    assert set(model.quality) == set(TaskType)
    assert all(0.0 <= score <= 1.0 for score in model.quality.values())
    assert model.provider in {
        "openai", "anthropic", "google", "meta", "mistral", "deepseek", "alibaba", "xai", "moonshot", "zhipu"
    }  # fmt: skip
    assert re.search(r"as of 20\d\d-\d\d", model.price_source), model.price_source
    assert "docs/catalog.md" in model.quality_basis
    # every source is dated (a year and month, or a full date)
    assert re.search(r"20\d\d-\d\d", model.quality_basis), model.quality_basis
    assert model.price_routes, model.name
    if model.reasoning is not None:
        tokens = model.reasoning.expected_tokens
        assert tokens and all(0 < n <= model.max_output_tokens for n in tokens.values()), model.name
    # an entry finds itself under every name it claims
    for label in (model.name, *model.aliases):
        assert default_catalog().find(label) is model, label


def test_capabilities_read_the_json_key() -> None:
    assert entry("gpt-4o").capabilities == Capabilities(tools=True, vision=True, json_output=True)
    assert entry("gpt-4").capabilities.json_output is False
    assert entry("claude-3-5-haiku").capabilities.vision is None  # unknown, not "no"
    assert Capabilities.model_validate({"json": True}).json_output is True


# -- name matching ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("gpt-4o", "gpt-4o"),
        ("GPT-4o", "gpt-4o"),
        ("  gpt-4o ", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("azure/gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-2024-11-20", "gpt-4o"),
        ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # its own entry (its own price) wins over date stripping
        ("openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("claude-3-5-sonnet-20240620", "claude-3-5-sonnet"),
        ("anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("openrouter/anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
        ("bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),
        ("vertex_ai/claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("vertex_ai/claude-3-opus@20240229", "claude-3-opus"),
        ("CLAUDE-3-HAIKU-20240307", "claude-3-haiku"),
        ("gemini/gemini-1.5-pro-latest", "gemini-1.5-pro"),
        ("gemini-1.5-flash-002", "gemini-1.5-flash"),
        ("gemini/gemini-2.0-flash-001", "gemini-2.0-flash"),
        ("meta-llama/Meta-Llama-3-8B-Instruct", "llama-3-8b-instruct"),
        ("llama3-8b", "llama-3-8b-instruct"),
        ("llama-3-8b-instruct", "llama-3-8b-instruct"),
        ("llama-3-8b", "llama-3-8b-instruct"),
        ("together_ai/meta-llama/Llama-3-8b-chat-hf", "llama-3-8b-instruct"),
        ("together_ai/meta-llama/Meta-Llama-3-70B-Instruct-Turbo", "llama-3-70b-instruct"),
        ("llama3-70b", "llama-3-70b-instruct"),
        ("together_ai/meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo", "llama-3.1-405b-instruct"),
        ("cerebras/llama3.1-8b", "llama-3.1-8b-instruct"),
        ("llama-3.1-70b-instruct", "llama-3.1-70b-instruct"),
        ("llama3-1-70b-instruct", "llama-3.1-70b-instruct"),
        ("mistral-large-2407", "mistral-large"),
        ("bedrock/mistral.mistral-large-2407-v1:0", "mistral-large"),
        ("mistral-small-2501", "mistral-small"),
        ("gpt-4-1106-preview", "gpt-4-1106-preview"),
        ("gpt-4-turbo-preview", "gpt-4-0125-preview"),
        ("claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
        ("mixtral-8x7b", "open-mixtral-8x7b"),
        ("gpt-5", "gpt-5"),
        ("openai/gpt-5-mini-2025-08-07", "gpt-5-mini"),
        ("azure/gpt-5-nano", "gpt-5-nano"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("o4-mini-2025-04-16", "o4-mini"),
        ("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5"),
        ("bedrock/global.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("openrouter/anthropic/claude-sonnet-4.5", "claude-sonnet-4-5"),
        ("vertex_ai/claude-haiku-4-5@20251001", "claude-haiku-4-5"),
        ("claude-4-opus", "claude-opus-4"),
        ("gemini/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
        ("vertex_ai/gemini-3-pro-preview", "gemini-3-pro"),
        ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
        ("together_ai/meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama-4-scout"),
        ("fireworks_ai/accounts/fireworks/models/llama4-maverick-instruct-basic", "llama-4-maverick"),
        ("vertex_ai/mistral-medium-3@001", "mistral-medium-3"),
        ("deepseek/deepseek-chat", "deepseek-v3.2"),
        ("deepseek-reasoner", "deepseek-reasoner"),
        ("fireworks_ai/accounts/fireworks/models/qwen3-235b-a22b-instruct-2507", "qwen3-235b-a22b-instruct-2507"),
        ("xai/grok-4-0709", "grok-4"),
        ("fireworks_ai/accounts/fireworks/models/kimi-k2-instruct-0905", "kimi-k2"),
        ("openrouter/z-ai/glm-4.6", "glm-4.6"),
        ("mistral/open-mixtral-8x7b", "open-mixtral-8x7b"),
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "open-mixtral-8x7b"),
        ("mistralai/Mistral-7B-Instruct-v0.3", "open-mistral-7b"),
        # 2026 models, each under its own entry, never a sibling's
        ("gpt-3.5-turbo-1106", "gpt-3.5-turbo-1106"),  # its own entry: another price ($1/$2) than -0125
        ("azure/gpt-4-32k-0613", "gpt-4-32k"),
        ("openai.gpt-oss-120b-1:0", "gpt-oss-120b"),  # Bedrock's -1:0 version suffix
        ("in.moonshotai.kimi-k3", "kimi-k3"),
        ("moonshot.kimi-k2-thinking", "kimi-k2-thinking"),
        ("gpt-5.2", "gpt-5.2"),
        ("openai/gpt-5.2-2025-12-11", "gpt-5.2"),
        ("gpt-5.2-chat-latest", "gpt-5.2-chat"),
        ("azure/gpt-5.2-chat", "gpt-5.2-chat"),
        ("gpt-5-chat-latest", "gpt-5-chat"),
        ("azure/gpt-5.3-codex", "gpt-5.3-codex"),
        ("gpt-5.4-mini", "gpt-5.4-mini"),
        ("azure_ai/gpt-5.4-nano-2026-03-17", "gpt-5.4-nano"),
        ("azure/eu/gpt-5.4-2026-03-05", "gpt-5.4"),
        ("gpt-5.6-luna-2026-07-09", "gpt-5.6-luna"),
        ("o1-mini", "o1-mini"),
        ("azure/o1-2024-12-17", "o1"),
        ("claude-opus-4-6", "claude-opus-4-6"),
        ("bedrock/global.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
        ("claude-opus-4-7-20260416", "claude-opus-4-7"),
        ("vertex_ai/claude-opus-4-8", "claude-opus-4-8"),
        ("azure_ai/claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("github_copilot/claude-sonnet-4.6", "claude-sonnet-4-6"),
        ("us.anthropic.claude-haiku-5-5", "claude-haiku-5-5"),
        ("anthropic.claude-v2:1", "claude-2.1"),
        ("gemini-3.1-pro-preview", "gemini-3.1-pro"),
        ("gemini/gemini-3.1-pro-preview-customtools", "gemini-3.1-pro"),
        ("vertex_ai/gemini-3.1-flash-lite-preview", "gemini-3.1-flash-lite"),
        ("gemini/gemini-3.5-flash-lite", "gemini-3.5-flash-lite"),
        ("gemini/gemini-3.5-flash", "gemini-3.5-flash"),
        ("xai/grok-4.20-0309-reasoning", "grok-4.20"),
        ("azure_ai/grok-4-20-non-reasoning", "grok-4.20-non-reasoning"),
        ("vertex_ai/xai/grok-4.1-fast-reasoning", "grok-4.1-fast"),
        ("azure_ai/grok-4-1-fast-non-reasoning", "grok-4.1-fast-non-reasoning"),
        ("deepseek-v4-flash", "deepseek-v4-flash"),
        ("deepseek/deepseek-v4-pro", "deepseek-v4-pro"),
        ("kimi-k2.5", "kimi-k2.5"),
        ("bedrock/moonshotai.kimi-k2.5", "kimi-k2.5"),
        ("fireworks_ai/accounts/fireworks/models/kimi-k2p5", "kimi-k2.5"),
        ("moonshot/kimi-k3", "kimi-k3"),
        ("glm-4.7", "glm-4.7"),
        ("zai/glm-4.7-flash", "glm-4.7-flash"),
        ("vertex_ai/zai-org/glm-4.7-maas", "glm-4.7"),
        ("fireworks_ai/accounts/fireworks/models/glm-4p7", "glm-4.7"),
        ("zai/glm-5.3-flash", "glm-5.3-flash"),
        ("mistral/mistral-medium-3-5", "mistral-medium-3.5"),
        ("mistral/mistral-large-2512", "mistral-large-3"),
        ("together_ai/Qwen/Qwen3.5-397B-A17B", "qwen3.5-397b-a17b"),
        ("dashscope/qwen3-next-80b-a3b-thinking", "qwen3-next-80b-a3b-thinking"),
        ("llama-3.3-70b-instruct", "llama-3.3-70b-instruct"),
        ("bedrock/us.meta.llama3-3-70b-instruct-v1:0", "llama-3.3-70b-instruct"),
    ],
)
def test_find_tolerates_prefixes_dates_aliases_and_case(query: str, expected: str) -> None:
    found = default_catalog().find(query)
    assert found is not None and found.name == expected


@pytest.mark.parametrize(
    "query",
    [
        "gpt-4o-mini-audio-preview",  # not gpt-4o-mini
        "chatgpt-4o-latest",
        "gpt-4o-realtime-preview-2024-12-17",
        "mistral/mistral-large-latest",  # an unversioned pointer: Mistral Large 3 since 2025-12, not the 2411 entry
        "mistral-small-latest",
        "gpt-5-pro",
        "gpt-5.2-pro",  # the Pro tier: another price, responses mode only
        "gpt-5.6",  # an unversioned tier pointer (Sol, Terra and Luna are priced apart)
        "gemini-pro-latest",
        "deepseek-v4-flash-vision-exp",
        "gpt-4o-mini-search-preview",
        "gemini-2.5-flash-image",
        "gemini-flash-latest",
        "llama-4-behemoth",
        "mistral-medium-latest",
        "grok-4-fast-non-reasoning",
        "gemini-1.5-flash-8b",
        "gemini-2.0-flash-lite",
        "gemini-1.5-pro-001",
        "llama-2-70b-chat",
        "bedrock/mistral.mistral-small-2402-v1:0",
        "mixtral-8x22b",
        "unknown-model",
        "openai/",
        "",
        "   ",
    ],
)
def test_find_does_not_match_loosely(query: str) -> None:
    assert default_catalog().find(query) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("groq/llama3-8b-8192", "llama-3-8b-instruct"),
        ("groq/llama-3.1-8b-instant", "llama-3.1-8b-instruct"),
        ("bedrock/meta.llama3-70b-instruct-v1:0", "llama-3-70b-instruct"),  # Bedrock: several times Together's price
        ("bedrock/us.anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"),  # a regional profile
    ],
)
def test_host_routes_resolve_without_the_catalog_price(query: str, expected: str) -> None:
    match = default_catalog().resolve(query)
    assert match is not None and match.entry.name == expected
    assert not match.price_applies


def test_similar_names_find_their_own_entries() -> None:
    catalog = default_catalog()
    assert catalog.find("gpt-4o-mini") is not catalog.find("gpt-4o")
    assert catalog.find("gpt-4") is not catalog.find("gpt-4o")
    assert catalog.find("gpt-4") is not catalog.find("gpt-4-turbo")
    assert catalog.find("llama-3-70b") is not catalog.find("llama-3.1-70b")
    assert catalog.find("gpt-5-nano") is not catalog.find("gpt-5")
    assert catalog.find("gemini-2.5-flash-lite") is not catalog.find("gemini-2.5-flash")
    assert catalog.find("claude-3-5-sonnet") is not catalog.find("claude-3-7-sonnet")
    assert "gpt-4o" in catalog and "gpt-6" not in catalog and 42 not in catalog


def test_ambiguous_stripped_names_match_nothing() -> None:
    base = entry("claude-3-5-sonnet")
    june = base.model_copy(update={"name": "claude-3-5-sonnet-20240620", "aliases": ()})
    october = base.model_copy(update={"name": "claude-3-5-sonnet-20241022", "aliases": ()})
    catalog = ModelCatalog([june, october], date(2025, 1, 1))
    assert catalog.find("claude-3-5-sonnet-20240620") is june
    assert catalog.find("claude-3-5-sonnet-20241022") is october
    assert catalog.find("claude-3-5-sonnet") is None
    assert catalog.find("claude-3-5-sonnet-latest") is None


# -- sanity of the data ----------------------------------------------------------------------------------------------


def test_frontier_models_beat_small_models_on_every_task() -> None:
    for task in TaskType:
        worst_frontier = min(entry(name).quality[task] for name in FRONTIER)
        best_small = max(entry(name).quality[task] for name in SMALL)
        assert worst_frontier > best_small, task


def test_code_and_math_orderings() -> None:
    code, math = TaskType.CODE_GENERATION, TaskType.MATH_REASONING
    assert entry("claude-3-5-sonnet").quality[code] > entry("llama-3-8b").quality[code]
    assert entry("gpt-4o").quality[math] > entry("gpt-3.5-turbo").quality[math]
    assert (
        entry("llama-3.1-405b").quality[math]
        > entry("llama-3.1-70b").quality[math]
        > entry("llama-3.1-8b").quality[math]
    )
    assert entry("claude-3-opus").quality[code] > entry("claude-3-sonnet").quality[code]
    assert entry("open-mistral-7b").quality[code] == min(e.quality[code] for e in default_catalog())


def test_simple_questions_are_fine_for_every_model() -> None:
    def spread(task: TaskType) -> float:
        scores = [e.quality[task] for e in default_catalog()]
        return max(scores) - min(scores)

    assert spread(TaskType.SIMPLE_QA) <= 0.2
    assert spread(TaskType.SIMPLE_QA) < spread(TaskType.MATH_REASONING) / 3
    assert spread(TaskType.SIMPLE_QA) < spread(TaskType.CODE_GENERATION)
    assert min(e.quality[TaskType.SIMPLE_QA] for e in default_catalog()) >= 0.8


def test_price_orderings() -> None:
    def prices(name: str) -> tuple[Decimal, Decimal]:
        return entry(name).pricing.per_1m()

    for cheap, dear in [
        ("gpt-4o-mini", "gpt-4o"),
        ("gpt-4o", "gpt-4o-2024-05-13"),
        ("gpt-4o", "gpt-4-turbo"),
        ("gpt-4-turbo", "gpt-4"),
        ("claude-3-haiku", "claude-3-5-haiku"),
        ("claude-3-5-sonnet", "claude-3-opus"),
        ("gemini-1.5-flash", "gemini-1.5-pro"),
        ("llama-3.1-8b", "llama-3.1-405b"),
        ("mistral-small", "mistral-large"),
    ]:
        assert all(c < d for c, d in zip(prices(cheap), prices(dear), strict=True)), (cheap, dear)
    assert entry("gpt-4o").pricing.cost_usd(1000, 1000) == Decimal("0.0125")


# -- traceability: every model is documented (the scores' inputs are tested in test_quality_inputs.py) -------------


def test_docs_list_every_model() -> None:
    text = CATALOG_DOC.read_text(encoding="utf-8")
    for model in default_catalog():
        assert f"| `{model.name}` |" in text, model.name


# -- prices agree with LiteLLM's price map ---------------------------------------------------------------------------

# catalog name -> LiteLLM key with the same list price. Anthropic's and Mistral's first-party keys are no longer in
# litellm 1.106.2's map; Bedrock and Vertex AI list the same price for these models, so those keys stand in.
LITELLM_PRICE_KEYS = {
    "gpt-4o": "gpt-4o",
    "gpt-4o-2024-05-13": "gpt-4o-2024-05-13",
    "gpt-4o-mini": "gpt-4o-mini",
    "gpt-4-turbo": "gpt-4-turbo",
    "gpt-4": "gpt-4",
    "gpt-3.5-turbo": "gpt-3.5-turbo",
    "claude-3-5-sonnet": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-haiku": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-opus": "vertex_ai/claude-3-opus",
    "claude-3-sonnet": "vertex_ai/claude-3-sonnet",
    "claude-3-haiku": "vertex_ai/claude-3-haiku",
    "llama-3-8b-instruct": "together_ai/meta-llama/Meta-Llama-3-8B-Instruct",
    "llama-3-70b-instruct": "together_ai/meta-llama/Meta-Llama-3-70B-Instruct-Turbo",
    "llama-3.1-8b-instruct": "together_ai/meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
    "llama-3.1-70b-instruct": "together_ai/meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
    "llama-3.1-405b-instruct": "together_ai/meta-llama/Llama-3.1-405B-Instruct",
    "mistral-large": "vertex_ai/mistral-large-2411",
    "mistral-small": "mistral/mistral-small",
}
# Not compared, on purpose:
# - gemini-1.5-pro / gemini-1.5-flash: removed from LiteLLM's map (the models are retired).
# - gemini-2.0-flash: LiteLLM only lists vertex_ai/gemini-2.0-flash at Vertex AI's $0.15/$0.60; the Gemini API
#   price in the catalog is $0.10/$0.40 (two platforms, two list prices).
# - open-mixtral-8x7b / open-mistral-7b: La Plateforme entries removed from LiteLLM's map (deprecated models).

# Same-provider context windows (first-party keys, or hosts that serve the full window).
LITELLM_WINDOW_KEYS = {
    name: key
    for name, key in LITELLM_PRICE_KEYS.items()
    if name.startswith(("gpt-", "claude-", "mistral-")) or name.startswith("llama-3-")
}


def _litellm_price_map() -> dict[str, Any]:
    """LiteLLM's own price map: from the litellm installed beside this Python (README command 1), else from the
    proxy virtualenv of scripts/install-proxy."""
    name = "model_prices_and_context_window_backup.json"
    spec = importlib.util.find_spec("litellm")
    found = [Path(spec.origin).parent / name] if spec is not None and spec.origin is not None else []
    venv = Path(os.environ.get("COSTMUX_PROXY_VENV") or "~/.cache/costmux/proxy-venv").expanduser()
    found = [path for path in found if path.is_file()]
    found = found or sorted(venv.glob(f"lib/python3*/site-packages/litellm/{name}"))
    if not found:
        pytest.skip(
            f"LiteLLM proxy virtualenv not found at {venv} (run scripts/install-proxy); price cross-check skipped"
        )
    data: dict[str, Any] = json.loads(found[-1].read_text(encoding="utf-8"))
    return data


def test_prices_and_windows_agree_with_litellm_price_map() -> None:
    litellm = _litellm_price_map()
    # Tolerance 1%. Both sides quote the same public list price, so they should agree exactly; 1% only absorbs float
    # noise in LiteLLM's per-token numbers (1.8e-07). Real price changes come in large steps (the last ones in this
    # catalog: GPT-4o $5 -> $2.50, Claude 3.5 Haiku $1 -> $0.80, Gemini 1.5 Pro $3.50 -> $1.25, i.e. 20-65%), so a
    # provider changing a price always fails this test, and the catalog entry (or this comment) must be updated.
    # No listed model differs today; the models not compared and why are listed above LITELLM_WINDOW_KEYS.
    for name, key in LITELLM_PRICE_KEYS.items():
        assert key in litellm, f"{key!r} (for {name}) is no longer in LiteLLM's price map"
        theirs = parse_pricing(
            {
                "input_cost_per_token": litellm[key]["input_cost_per_token"],
                "output_cost_per_token": litellm[key]["output_cost_per_token"],
            }
        )
        ours = entry(name).pricing
        for side, our, their in [
            ("input", ours.input_usd_per_token, theirs.input_usd_per_token),
            ("output", ours.output_usd_per_token, theirs.output_usd_per_token),
        ]:
            assert abs(our - their) <= their * Decimal("0.01"), (
                f"{name} {side}: catalog {our} vs LiteLLM {their} ({key})"
            )
    # Windows must match exactly (token counts, no float involved).
    for name, key in LITELLM_WINDOW_KEYS.items():
        model = entry(name)
        assert litellm[key]["max_input_tokens"] == model.context_window_tokens, name
        if litellm[key].get("max_output_tokens") is not None:
            assert litellm[key]["max_output_tokens"] == model.max_output_tokens, name


# -- user catalogs and invalid data ----------------------------------------------------------------------------------


def test_round_trip_through_a_user_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(default_catalog().to_dict()), encoding="utf-8")
    mine = ModelCatalog.from_file(path)
    assert mine.as_of == default_catalog().as_of
    assert [e.to_json_dict() for e in mine] == [e.to_json_dict() for e in default_catalog()]
    assert mine.entries() == default_catalog().entries()


def test_a_user_catalog_from_entries() -> None:
    model = CatalogEntry(
        name="my-model",
        aliases=("my-model-v1",),
        provider="self-hosted",
        pricing=parse_pricing({"input_per_1m": 0.05, "output_per_1m": 0.1}),
        context_window_tokens=32_000,
        max_output_tokens=4_000,
        capabilities=Capabilities(tools=True),
        quality={task: 0.5 for task in TaskType},
        price_source="our GPU bill, as of 2025-01",
        quality_basis="internal evals",
    )
    catalog = ModelCatalog([model], date(2025, 1, 1))
    assert catalog.find("local/MY-MODEL-v1") is model
    assert model.quality_for("code_generation") == 0.5
    assert model.capabilities.json_output is None


def _valid_model() -> dict[str, Any]:
    return copy.deepcopy(raw_catalog()["models"][0])


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: m["quality"].pop("translation"), "missing task types ['translation']"),
        (lambda m: m["quality"].update(general=1.2), "must be in [0, 1]"),
        (lambda m: m["quality"].update(general=float("nan")), "must be in [0, 1]"),
        (lambda m: m["quality"].update(general=True), "must be a number"),
        (lambda m: m["quality"].update(coding=0.5), "quality"),
        (lambda m: m.update(input_per_1m=-1), "must not be negative"),
        (lambda m: m.update(output_per_1m="abc"), "must be a number"),
        (lambda m: m.pop("output_per_1m"), "missing keys ['output_per_1m']"),
        (lambda m: m.update(context_windw=1000), "unknown keys ['context_windw']"),
        (lambda m: m.update(context_window=0), "context_window_tokens"),
        (lambda m: m.update(max_output_tokens="lots"), "max_output_tokens"),
        (lambda m: m.update(aliases="gpt-4o-latest"), "aliases must be a list"),
        (lambda m: m.update(capabilities={"tools": "yes"}), "tools"),
        (lambda m: m.update(capabilities={"audio": True}), "audio"),
        (lambda m: m.update(name="  "), "must not be blank"),
        (lambda m: m.update(price_source=""), "price_source"),
    ],
)
def test_invalid_models_are_rejected_with_a_clear_message(change: Any, fragment: str) -> None:
    model = _valid_model()
    change(model)
    with pytest.raises(ConfigurationError) as caught:
        ModelCatalog.from_dict({"as_of": "2025-02-15", "models": [model]}, source="test catalog")
    message = str(caught.value)
    assert message.startswith("test catalog: models[0]"), message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"as_of": "2025-02-15", "models": []}, "non-empty list"),
        ({"as_of": "15/02/2025", "models": [{}]}, "as_of must be a date"),
        ({"models": [{}]}, "as_of must be a date"),
        ({"as_of": "2025-02-15", "models": [{}], "modles": []}, "unknown keys ['modles']"),
        ([], "must be a JSON object"),
    ],
)
def test_invalid_files_are_rejected(data: Any, fragment: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(fragment)):
        ModelCatalog.from_dict(data)


def test_duplicate_names_are_rejected() -> None:
    first, second = _valid_model(), _valid_model()
    second["name"] = "another"
    second["aliases"] = ["GPT-4o"]
    with pytest.raises(ConfigurationError, match="claimed by both 'gpt-4o' and 'another'"):
        ModelCatalog.from_dict({"as_of": "2025-02-15", "models": [first, second]})


def test_unreadable_files_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        ModelCatalog.from_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not valid JSON"):
        ModelCatalog.from_file(broken)


def test_an_empty_catalog_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="at least one model"):
        ModelCatalog([], date(2025, 1, 1))
