"""Each model's prompt bound for the cap (tokens): its token family's figures, narrowed by what the provider learned.

The default of :class:`~app.router.router.Router`'s per-provider step in ``_judge_all``: the family figures of a
request are computed once per family (shared by the providers of one decision), then each model the provider's
learner has seen gets its learned bound (:mod:`app.tokens.learning`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from app.providers.base import Provider
from app.router.budget import BudgetMode
from app.router.scoring import ModelProfile
from app.tokens import TokenCounts, TokenFamily
from app.tokens.families import FamilyCounts, family_figures
from app.tokens.learning import LearnedView, learned_bound

__all__ = ["model_prompt_bounds"]

_CACHE_SIZE = 64  # profile tuples whose families are remembered (a router keeps as many providers' profiles)


def model_prompt_bounds(
    provider: Provider,
    profiles: Sequence[ModelProfile],
    counts: TokenCounts,
    mode: BudgetMode,
    families: dict[str, FamilyCounts],
    family_bounds: dict[str, int],
) -> dict[str, int] | None:
    """The prompt bounds of one provider's models for the cap (tokens): ``family_bounds`` gets each family's bound
    (its upper estimate, or strict bound in strict modes: computed once per family per request, shared by providers
    through ``families``); returned are the bounds of the models the provider's learner has seen, per
    ``provider/model`` (``provider.prompt_bounds``, optional; see :mod:`app.tokens.learning`), or ``None``."""
    upper = mode == "estimate"
    families_here, rows = _families_of(profiles)
    missing = [family for family in families_here if family not in families]
    if missing:
        for family, figures in family_figures(counts, missing).items():
            families[family] = figures
            family_bounds[family] = figures[1] if upper else figures[2]
    learner = getattr(provider, "prompt_bounds", None)
    if learner is None:
        return None
    views: Mapping[str, LearnedView] = learner.views()
    if not views:
        return None
    policy = learner.policy
    shortest, group = policy.min_estimate_tokens, counts.dominant_group
    learned: dict[str, int] = {}
    get = views.get
    for model, key, family_name in rows:
        view = get(model)
        if view is None:
            continue
        figures = families[family_name]
        scale = view.settled[group] if upper and figures[0] >= shortest else 0.0
        if scale:  # the common case after warm-up: estimate x the learned quantile, within strict
            bound = math.ceil(figures[0] * scale)
            learned[key] = bound if bound < figures[2] else figures[2]
        else:
            learned[key] = learned_bound(view, figures, mode, policy)
    return learned


_FAMILIES_OF: dict[int, tuple[Sequence[ModelProfile], tuple[TokenFamily, ...], tuple[tuple[str, str, str], ...]]] = {}


def _families_of(profiles: Sequence[ModelProfile]) -> tuple[tuple[TokenFamily, ...], tuple[tuple[str, str, str], ...]]:
    """The distinct token families of ``profiles`` and each profile's ``(model, key, family)`` (a router's cached
    profile tuple: remembered by identity)."""
    cached = _FAMILIES_OF.get(id(profiles))
    if cached is not None and cached[0] is profiles:
        return cached[1], cached[2]
    families = tuple(dict.fromkeys(profile.token_family for profile in profiles))
    rows = tuple((profile.model, profile.key, profile.token_family) for profile in profiles)
    if len(_FAMILIES_OF) >= _CACHE_SIZE:
        _FAMILIES_OF.clear()
    _FAMILIES_OF[id(profiles)] = (profiles, families, rows)
    return families, rows
