"""Entries whose ``price_source`` names a LiteLLM 1.106.2 key agree with that key: price, windows and capabilities.

The key is the one in parentheses at the end of ``price_source`` ("... matches LiteLLM 1.106.2 (zai/glm-4.7)").
The map is the one inside the installed litellm (or the proxy virtualenv), as in ``test_catalog``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Any

import pytest

from app.catalog import CatalogEntry, default_catalog
from app.pricing import parse_pricing

from .test_catalog import _litellm_price_map

_litellm = cache(_litellm_price_map)

_KEY = re.compile(r"matches LiteLLM 1\.106\.2 \(([^()\s]+)\)$")
# Entries whose windows come from another key than the one priced (documented in their price_source): o1-preview
# keeps OpenAI's list price, LiteLLM lists it only under Azure's regional keys.
_WINDOWS_ELSEWHERE = {"o1-preview": "azure/us/o1-preview"}
_CAPABILITY_FLAGS = (("tools", "supports_function_calling"), ("vision", "supports_vision"),
                     ("json_output", "supports_response_schema"))  # fmt: skip


def keyed_entries() -> list[tuple[CatalogEntry, str]]:
    out = []
    for entry in default_catalog():
        found = _KEY.search(entry.price_source)
        if found is not None:
            out.append((entry, found.group(1)))
    return out


def _tier_start(raw: dict[str, Any]) -> int | None:
    tier = re.compile(r"input_cost_per_token_above_(\d+)k_tokens$")
    starts = [int(m.group(1)) * 1000 for key in raw if (m := tier.match(key))]
    return min(starts) if starts else None


def test_most_new_entries_name_their_key() -> None:
    assert len(keyed_entries()) >= 100


@pytest.mark.parametrize(("entry", "key"), keyed_entries(), ids=lambda value: getattr(value, "name", value))
def test_price_windows_and_capabilities_come_from_the_named_key(entry: CatalogEntry, key: str) -> None:
    litellm = _litellm()
    raw = litellm[key]
    theirs = parse_pricing(
        {"input_cost_per_token": raw["input_cost_per_token"], "output_cost_per_token": raw["output_cost_per_token"]}
    )
    for our, their in ((entry.pricing.input_usd_per_token, theirs.input_usd_per_token),
                       (entry.pricing.output_usd_per_token, theirs.output_usd_per_token)):  # fmt: skip
        assert abs(our - their) <= their * Decimal("0.01"), (entry.name, our, their)
    window = litellm[_WINDOWS_ELSEWHERE.get(entry.name, key)]
    context = window.get("max_input_tokens")
    if context is not None:
        tier = _tier_start(window)
        # the list price holds up to the first long-prompt tier: the entry vouches for no more
        assert entry.context_window_tokens == (min(context, tier) if tier else context), entry.name
    output = window.get("max_output_tokens") or window.get("max_tokens")
    if output is not None:
        assert entry.max_output_tokens == min(output, entry.context_window_tokens), entry.name
    for ours, flag in _CAPABILITY_FLAGS:
        if window.get(flag) is not None:
            assert getattr(entry.capabilities, ours) is bool(window[flag]), (entry.name, flag)
