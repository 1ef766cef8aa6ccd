"""What the prompt-bound learner (:mod:`app.tokens.learning`) knows of one model, :class:`LearnedView`, and the bound
it gives a request, :func:`learned_bound` (on the routing path: one call per model with observations that is not
settled, per request)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, NamedTuple

from app.tokens.families import FamilyCounts

if TYPE_CHECKING:
    from app.tokens.learning import LearningPolicy

__all__ = ["LearnedView", "Mode", "learned_bound"]

Mode = Literal["estimate", "strict", "exact"]


class LearnedView(NamedTuple):
    """What was learned of one model (computed from its windows when they change).

    ``factors[g]``: the quantile of group ``g``'s ratios (``None`` without observations); ``counts[g]``: its
    observations; ``prior_excess`` / ``strict_excess``: the worst ``billed / prior upper`` and ``billed / strict``
    seen, at least 1; ``completion_excess``: the worst ``billed completion / max_tokens sent`` (above 1: the upstream
    billed more output than ``max_tokens`` allowed; ``None`` without a call that sent ``max_tokens``);
    ``observations``: in all groups. Precomputed for the routing path, per group ``g``: ``scales[g]``, the
    multiplier of the estimate (``factors[g]`` × the policy's headroom; 0 without observations); ``prior_scales[g]``,
    the multiplier of the prior's upper estimate for a group bounded by the model's pooled observations (0 when
    not; the bound is at least that); ``tight[g]``: whether these replace the prior (else the group's quantile ×
    ``headroom``, ``widen_scales[g]``, may only widen it); ``upper_scales[g]``: the multiplier of the prior's upper
    estimate by the group's own ``billed / prior upper`` (0 when not used; the bound is at most that);
    ``borrowed_scales[g]`` and ``borrowed_prior_scales[g]``: for a group seen a few times, what the model's other
    groups show, as a multiplier of the estimate and of the prior's upper estimate (the bound is at least the lower
    of the two; 0 when not); ``settled[g]``: ``scales[g]`` when the bound is ``ceil(estimate × scales[g])``, or
    ``ceil(upper × upper_scales[g])`` if lower, within the strict bound, else 0."""

    factors: tuple[float | None, ...]
    counts: tuple[int, ...]
    prior_excess: float
    strict_excess: float
    completion_excess: float | None
    observations: int
    scales: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    tight: tuple[bool, ...] = (False, False, False, False)
    settled: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    prior_scales: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    widen_scales: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    upper_scales: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    borrowed_scales: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    borrowed_prior_scales: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)


def learned_bound(view: LearnedView, counts: FamilyCounts, mode: Mode, policy: LearningPolicy) -> int:
    """The bound of the module doc for a model with ``view``, tokens (on the routing path: one call per model that
    has observations, per request)."""
    strict = counts.strict_tokens
    if view.strict_excess > 1.0:
        strict = math.ceil(strict * view.strict_excess)
    if mode != "estimate":
        return strict
    group = counts.group
    estimate = counts.estimate_tokens
    if estimate < policy.min_estimate_tokens:  # a short prompt: its prior, widened by what the model showed
        bound = counts.upper_tokens
        if view.prior_excess > 1.0:
            bound = math.ceil(bound * view.prior_excess)
    elif view.tight[group]:
        bound = math.ceil(estimate * view.scales[group])
        upper_scale = view.upper_scales[group]
        if upper_scale:
            upper = math.ceil(counts.upper_tokens * upper_scale)
            if upper < bound:
                bound = upper
        prior_scale = view.prior_scales[group]
        if prior_scale:
            scaled = math.ceil(counts.upper_tokens * prior_scale)
            if scaled > bound:
                bound = scaled
        borrowed_scale = view.borrowed_scales[group]
        if borrowed_scale:
            borrowed = math.ceil(estimate * borrowed_scale)
            scaled = math.ceil(counts.upper_tokens * view.borrowed_prior_scales[group])
            if scaled < borrowed:
                borrowed = scaled
            if borrowed > bound:
                bound = borrowed
    else:
        bound = counts.upper_tokens
        if view.prior_excess > 1.0:
            bound = math.ceil(bound * view.prior_excess)
        scale = view.widen_scales[group]
        if scale:
            learned = math.ceil(estimate * scale)
            if learned > bound:
                bound = learned
    return bound if bound < strict else strict
