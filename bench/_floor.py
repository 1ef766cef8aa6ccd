"""A reference for the routing benchmark: the least per-model work a cost-capped router does, in plain CPython.

For each model: the worst-case cost of the request (prompt bound × input price + output ceiling × output price),
the largest ``max_tokens`` the cap affords (one integer division when the ceiling does not fit), the expected cost,
and one record (a plain tuple); then one sort of the feasible models by expected cost. Exact int atto-USD, as in
the router. Nothing else: no prompt analysis, no quality, no capability, window or availability checks, no reasons.

``bench/bench_routing.py`` times it on the same models as the routers, in the same run, to show how close the
router's per-model cost is to what CPython allows on the machine; it is not a router and is not used by one.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from app.router.scoring import ModelProfile

Row = tuple[str, int, int, int]  # model, input atto-USD per token, output atto-USD per token, output ceiling
_COST = itemgetter(1)


def floor_rows(profiles: Iterable[ModelProfile], default_max_output_tokens: int = 4096) -> list[Row]:
    """The priced, whole-atto models of ``profiles`` as reference rows."""
    return [
        (p.model, p.input_atto, p.output_atto, p.max_output_tokens or default_max_output_tokens)
        for p in profiles
        if type(p.input_atto) is int and type(p.output_atto) is int and p.output_atto
    ]


def floor_decide(
    rows: list[Row], prompt_bound_tokens: int, prompt_tokens: int, output_tokens: int, cap_atto: int, min_output: int
) -> tuple[str, int, int, int]:
    """The cheapest feasible model by expected cost: ``(model, expected cost, max_tokens, worst case)``."""
    feasible = []
    append = feasible.append
    for model, input_atto, output_atto, ceiling in rows:
        prompt_cost = prompt_bound_tokens * input_atto
        if prompt_cost + ceiling * output_atto <= cap_atto:
            affordable = ceiling
        else:
            affordable = (cap_atto - prompt_cost) // output_atto
            if affordable < min_output:
                continue
        expected = prompt_tokens * input_atto + min(output_tokens, ceiling) * output_atto
        append((model, expected, affordable, prompt_cost + affordable * output_atto))
    feasible.sort(key=_COST)
    return feasible[0]
