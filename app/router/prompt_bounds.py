"""Each model's prompt bound for the cap (tokens): its token family's figures, narrowed by what the provider learned.

The default of :class:`~app.router.router.Router`'s per-provider step in ``_judge_all``: the family figures of a
request are computed once per family (shared by the providers of one decision), then each model the provider's
learner has seen gets its learned bound (:mod:`app.tokens.learning`). What a decision reads of the learner's views is
a per-family table of each model's scale for the request's text group, rebuilt only when a view changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from app.providers.base import Provider
from app.router.budget import BudgetMode
from app.router.scoring import ModelProfile
from app.tokens import TokenCounts, TokenFamily
from app.tokens.families import FamilyCounts, family_figures
from app.tokens.learning import LearnedView, PromptBoundLearner, learned_bound

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
    views: Mapping[str, LearnedView] = learner.views()  # brings the views up to date (a revision check)
    if not views:
        return None
    policy = learner.policy
    shortest = policy.min_estimate_tokens
    learned: dict[str, int] = {}
    ceil = math.ceil
    for family_name, settled, others in _table_of(learner, views, rows, counts.dominant_group, upper):
        figures = families[family_name]
        estimate, upper_tokens, strict = figures[0], figures[1], figures[2]
        if estimate < shortest:  # a short prompt: its (widened) prior, for every model of the family
            for key, _, _, view in settled:
                learned[key] = learned_bound(view, figures, mode, policy)
        else:  # the common case after warm-up: the lower of the two learned bounds (ceil is monotone), within strict
            for key, scale, upper_scale, _ in settled:
                by_estimate, by_upper = estimate * scale, upper_tokens * upper_scale
                bound = ceil(by_estimate if by_estimate < by_upper else by_upper)
                learned[key] = bound if bound < strict else strict
        for key, view in others:
            learned[key] = learned_bound(view, figures, mode, policy)
    return learned


#: Per family of a provider's models: ``(key, scale, upper scale, view)`` of the models whose bound is settled for the
#: request's group (``ceil(estimate × scale)``, or ``ceil(upper × upper scale)`` if lower, within strict; the upper
#: scale is infinite where the view has none), and ``(key, view)`` of the others the learner has seen.
Table = tuple[tuple[str, tuple[tuple[str, float, float, LearnedView], ...], tuple[tuple[str, LearnedView], ...]], ...]
_TABLES: dict[
    tuple[int, int], tuple[PromptBoundLearner, int, tuple[tuple[str, str, str], ...], dict[tuple[int, bool], Table]]
] = {}


def _table_of(
    learner: PromptBoundLearner,
    views: Mapping[str, LearnedView],
    rows: tuple[tuple[str, str, str], ...],
    group: int,
    upper: bool,
) -> Table:
    """What :func:`model_prompt_bounds` reads of ``views`` for ``rows`` (a provider's models) and a request of text
    ``group``, remembered until the learner's ``views_version`` changes (a view moved: rarely once windows are full),
    so that a decision reads one precomputed scale per model instead of each model's view."""
    identity = (id(learner), id(rows))
    kept = _TABLES.get(identity)
    if kept is None or kept[0] is not learner or kept[1] != learner.views_version or kept[2] is not rows:
        if len(_TABLES) >= _CACHE_SIZE:
            _TABLES.clear()
        kept = _TABLES[identity] = (learner, learner.views_version, rows, {})
    tables = kept[3]
    table = tables.get((group, upper))
    if table is None:
        by_family: dict[str, tuple[list[tuple[str, float, float, LearnedView]], list[tuple[str, LearnedView]]]] = {}
        for model, key, family_name in rows:
            view = views.get(model)
            if view is None:
                continue
            settled, others = by_family.setdefault(family_name, ([], []))
            scale = view.settled[group] if upper else 0.0
            if scale:
                upper_scale = view.upper_scales[group]  # none: infinite (upper_tokens >= the shortest estimate > 0)
                settled.append((key, scale, upper_scale if upper_scale else math.inf, view))
            else:
                others.append((key, view))
        table = tables[(group, upper)] = tuple(
            (family_name, tuple(settled), tuple(others)) for family_name, (settled, others) in by_family.items()
        )
    return table


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
