"""How many catalog models the tests compare with LiteLLM 1.106.2's price map, and how many match it exactly.

Three tests compare prices, each with its own group of entries:

- ``test_catalog.LITELLM_PRICE_KEYS``: the models of the 2025-02 catalog, each with a hand-picked key;
- ``test_litellm_map_keys``: entries whose ``price_source`` ends with the LiteLLM key it was taken from;
- ``test_litellm_names``: every other entry that a chat name of the vendored map resolves to on a route where the
  catalog price applies (all those names, except the documented ``PRICE_EXCEPTIONS``).

Those tests allow 1% (float noise in LiteLLM's per-token numbers); here "exactly" means equal as exact decimals
(``parse_pricing`` of LiteLLM's numbers). ``pytest -s tests/catalog/test_price_agreement.py`` prints the figures;
docs/catalog.md quotes them and names every model no test compares (checked here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from app.catalog import CatalogEntry, default_catalog
from app.pricing import parse_pricing

from .test_catalog import LITELLM_PRICE_KEYS, _litellm_price_map
from .test_litellm_map_keys import keyed_entries
from .test_litellm_names import PRICE_EXCEPTIONS, litellm_models, resolved

DOC = Path(__file__).resolve().parents[2] / "docs" / "catalog.md"


@dataclass(frozen=True)
class Agreement:
    total: int
    compared: dict[str, str]  # model -> the group that compares it ("keys", "price_source", "names")
    exact: frozenset[str]  # compared models equal to every LiteLLM price they are compared with
    not_compared: tuple[str, ...]


def _equal(entry: CatalogEntry, input_cost: Any, output_cost: Any) -> bool:
    theirs = parse_pricing({"input_cost_per_token": input_cost, "output_cost_per_token": output_cost})
    ours = entry.pricing
    return (ours.input_usd_per_token, ours.output_usd_per_token) == (
        theirs.input_usd_per_token,
        theirs.output_usd_per_token,
    )


@cache
def agreement() -> Agreement:
    litellm = _litellm_price_map()
    keyed = {entry.name: key for entry, key in keyed_entries()}
    by_names: dict[str, list[tuple[Any, Any]]] = {}
    for name, match in resolved():
        _, input_cost, output_cost, *_ = litellm_models()[name]
        if match.price_applies and input_cost is not None and output_cost is not None and name not in PRICE_EXCEPTIONS:
            by_names.setdefault(match.entry.name, []).append((input_cost, output_cost))
    compared: dict[str, str] = {}
    exact: set[str] = set()
    not_compared: list[str] = []
    catalog = list(default_catalog())
    for entry in catalog:
        key = LITELLM_PRICE_KEYS.get(entry.name) or keyed.get(entry.name)
        if key is not None:
            group = "keys" if entry.name in LITELLM_PRICE_KEYS else "price_source"
            prices = [(litellm[key]["input_cost_per_token"], litellm[key]["output_cost_per_token"])]
        elif entry.name in by_names:
            group, prices = "names", by_names[entry.name]
        else:
            not_compared.append(entry.name)
            continue
        compared[entry.name] = group
        if all(_equal(entry, i, o) for i, o in prices):
            exact.add(entry.name)
    return Agreement(len(catalog), compared, frozenset(exact), tuple(not_compared))


def test_the_docs_quote_how_many_models_match_litellm_exactly() -> None:
    result = agreement()
    groups = {
        group: sum(1 for g in result.compared.values() if g == group) for group in ("keys", "price_source", "names")
    }
    print(
        f"\ncatalog models: {result.total}; compared with LiteLLM 1.106.2: {len(result.compared)} {groups}; "
        f"matching exactly: {len(result.exact)}; not compared: {len(result.not_compared)} {list(result.not_compared)}"
    )
    text = DOC.read_text(encoding="utf-8")
    quoted = (
        f"{len(result.compared)} of the {result.total} models are compared with it, and {len(result.exact)} of them "
        "match it exactly"
    )
    assert quoted in " ".join(text.split()), quoted
    for group, count in groups.items():
        assert f"({count})" in text, (group, count)
    for name in result.not_compared:
        assert f"`{name}`" in text.split("Not compared, and why:", 1)[1].split("\n## ", 1)[0], name
