"""Prompt bounds learned from what the proxy bills: per model and text group, how the billed ``usage.prompt_tokens``
compares with the family's estimate, and the bound the cap is then checked with.

Every answered call gives one observation: the request's point estimate, prior upper estimate and strict bound under
the model's family (:func:`~app.tokens.families.family_counts`), and the prompt tokens billed. The learner keeps, per
model, bounded windows of recent ratios (:class:`BoundStore`):

* per text group (the request's dominant group): ``billed / estimate`` and ``billed / prior upper``, for prompts of
  at least ``min_estimate_tokens`` (a short prompt's framing noise would distort what long prompts show; short
  prompts keep their prior, widened by what the model showed);
* per model: ``billed / prior upper`` and ``billed / strict`` (how far the prior and the strict bound fell short, if
  ever), and ``billed completion / max_tokens sent`` (a check of the completion side).

The bound of a request (:meth:`PromptBoundLearner.bound`), in ``"estimate"`` mode:

* the prior, widened at once by the model's worst ``billed / prior upper`` seen (if above 1);
* once the request's group has an observation, the learned bound ``ceil(estimate × q × headroom)``, where
  ``q`` is a high quantile (:attr:`LearningPolicy.quantile`, nearest rank; the maximum below 200 observations) of the
  group's window: it replaces the prior after ``min_observations`` of the group (it may then *tighten* it), before
  that it may only *widen* it. Once it replaces the prior, a second predictor may lower it: ``ceil(prior upper × q'
  × headroom')``, ``q'`` the same quantile of the group's ``billed / prior upper`` (whichever of the estimate and the
  prior upper tracks the model's bills more closely, e.g. a chat template the family's estimate leaves out, gives the
  lower bound); the lower of two bounds misses when either does, so ``headroom'`` has the small-sample term of half
  as many observations;
* once a model has ``min_observations`` calls in all its groups, its prior is replaced (tightened or widened) in every
  group: one with none of its own is bounded by its prior scaled by the quantile of ``billed / prior upper`` over all
  the model's calls × ``pooled_headroom`` (the prior's per-group margins keep the groups' shape); one with fewer than
  ``min_observations`` of its own by the larger of its own quantile (with the small-sample headroom below) and what
  the model's other groups show, the lower of that scaled prior and the quantile of all the model's ``billed /
  estimate`` × ``pooled_headroom`` (× the estimate). The ``latin`` group (:data:`GROUP_MINIMUM_FACTORS`) needs three
  times as many of its own, and until then is bounded by the largest of the three;
* never above the strict bound, itself widened at once by the model's worst ``billed / strict`` seen.

In ``"strict"`` mode the strict bound is only ever widened, never tightened. The state lives behind
:class:`BoundStore`: :class:`MemoryBoundStore` by default; a store shared by replicas implements the same small
interface (synchronous, no blocking I/O: a local mirror, exchanged with its backend in the background).

Recording is cheap on the request path: a store keeps each window sorted as values come and go
(:mod:`app.tokens.windows`), so quantiles and maxima are read as indexes; a record re-reads only the group it appended
to and the model's own figures, derives the view again only if one of them moved, and leaves the next
:meth:`PromptBoundLearner.views` nothing to look at unless another replica's values came in meanwhile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, NamedTuple

from app.tokens.counting import TEXT_GROUPS
from app.tokens.families import FamilyCounts
from app.tokens.views import LearnedView, Mode, learned_bound
from app.tokens.windows import BoundStore, MemoryBoundStore, high_quantile, ranked_quantile

__all__ = [
    "BoundStore",
    "LearnedView",
    "LearningPolicy",
    "MemoryBoundStore",
    "Mode",
    "PromptBoundLearner",
    "PromptObservation",
    "high_quantile",
    "learned_bound",
    "ranked_quantile",
]

#: The windows kept per model: one per text group and one of every group, then the prior's, the strict bound's and
#: the completion's.
GROUP_SERIES: Final = tuple(f"group:{name}" for name in TEXT_GROUPS)
ALL_SERIES: Final = "group:all"
PRIOR_SERIES: Final = "prior"
STRICT_SERIES: Final = "strict"
COMPLETION_SERIES: Final = "completion"
#: per text group, ``billed / prior upper`` (the group's second predictor: see the module doc)
UPPER_SERIES: Final = tuple(f"upper:{name}" for name in TEXT_GROUPS)
SERIES: Final = (*GROUP_SERIES, ALL_SERIES, PRIOR_SERIES, STRICT_SERIES, COMPLETION_SERIES, *UPPER_SERIES)
#: Below this many observations of its own (per group), a group of a model seen enough is also bounded by its scaled
#: prior: one or two texts do not show a group's spread.
FEW_OBSERVATIONS: Final = 3
#: The observations a group needs of its own, in multiples of ``min_observations``, before its own quantile alone
#: bounds it (and until then, its scaled prior too). The "latin" group mixes accented Latin with Cyrillic and Greek,
#: which some tokenizers (SentencePiece, Qwen's, Claude's) bill at several times the others' rate: it needs three times
#: as many.
GROUP_MINIMUM_FACTORS: Final = (1, 1, 3, 1)
#: A group's second predictor (its prior upper × the quantile of its ``billed / prior upper``) may lower the bound of
#: the first (estimate × the quantile of ``billed / estimate``): the lower of two bounds misses when either does, so
#: its small-sample headroom is that of half as many observations (``small_sample_headroom × sqrt(2) / sqrt(n)``).
SECOND_PREDICTOR_SMALL_SAMPLE: Final = math.sqrt(2)


@dataclass(frozen=True, slots=True)
class LearningPolicy:
    """How observations become bounds.

    Attributes:
        min_observations: observations of a text group before its learned bound may replace (tighten) the prior.
        quantile: the quantile of a group's ratios the bound uses (nearest rank: the maximum below
            ``1 / (1 - quantile)`` observations).
        headroom, small_sample_headroom: the learned bound's multiplier on top of that quantile is
            ``headroom + small_sample_headroom / sqrt(n)`` for ``n`` observations (the maximum of few observations
            falls short of the tail more often: 1.19 at 20, 1.13 at 100, 1.11 at 256 by default).
        min_estimate_tokens: the smallest estimate whose ratio is learned, and below which a request keeps its
            (widened) prior: short prompts' framing noise would distort the ratios of long ones, and they cost
            little; tokens.
        pooled_headroom: the multiplier on the quantiles over a model's calls in every group, which bound a group
            with fewer than ``min_observations`` of its own once the model has that many in all (text groups differ:
            a wider margin than ``headroom``).
    """

    min_observations: int = 10
    quantile: float = 0.995
    headroom: float = 1.08
    small_sample_headroom: float = 0.5
    min_estimate_tokens: int = 48
    pooled_headroom: float = 1.15

    def __post_init__(self) -> None:
        valid = 0.5 <= self.quantile <= 1.0 and min(self.headroom, self.pooled_headroom) >= 1.0
        valid = valid and self.small_sample_headroom >= 0
        valid = valid and self.min_estimate_tokens >= 1
        if self.min_observations < 1 or not valid:
            raise ValueError(
                "min_observations >= 1, 0.5 <= quantile <= 1, headrooms >= 1 (small-sample >= 0), "
                "min_estimate_tokens >= 1"
            )


class PromptObservation(NamedTuple):
    """One answered call, as recorded: the model, the request's group, its family figures and what was billed."""

    model: str
    group: int
    estimate_tokens: int
    upper_tokens: int
    strict_tokens: int
    billed_prompt_tokens: int
    billed_completion_tokens: int | None
    max_tokens: int | None


#: A group's observations, quantile (``None``: none), learned scale, widening scale and second predictor's scale
#: (``_group_figures``).
GroupFigures = tuple[int, float | None, float, float, float]
#: A model's observations in all groups, their quantile, the prior's quantile (both 0 below ``min_observations``),
#: and the maxima of the prior's, the strict bound's and the completion's ratios (``None``: none) (``_model_figures``).
ModelFigures = tuple[int, float, float, float | None, float | None, float | None]


class PromptBoundLearner:
    """Learns per-model prompt bounds from billed usage (see the module doc); one per provider.

    Args:
        store: where the windows live (default: a new :class:`MemoryBoundStore`).
        policy: how observations become bounds.
    """

    def __init__(self, store: BoundStore | None = None, policy: LearningPolicy | None = None) -> None:
        self.store: BoundStore = store if store is not None else MemoryBoundStore()
        self.policy = policy or LearningPolicy()
        self._views: dict[str, LearnedView] = {}
        #: changes whenever a model's view changes (what the router's per-decision tables are keyed on: with full
        #: windows most records move no view, so it changes far less often than the store's revision)
        self.views_version = 0
        self._seen: dict[str, int] = {}
        self._seen_all = -1
        #: per model, what its view derives from: each group's figures and its own (a record re-reads what it changed)
        self._figures: dict[str, tuple[list[GroupFigures], ModelFigures]] = {}
        #: the observations each group needs of its own before its quantile alone bounds it
        self._needed = tuple(self.policy.min_observations * factor for factor in GROUP_MINIMUM_FACTORS)

    # -- recording ---------------------------------------------------------------------------------------------

    def record(
        self,
        model: str,
        counts: FamilyCounts,
        billed_prompt_tokens: int,
        *,
        billed_completion_tokens: int | None = None,
        max_tokens: int | None = None,
    ) -> PromptObservation:
        """Record one answered call of ``model`` (``counts``: the request under the model's family; the billed
        prompt and completion tokens; the ``max_tokens`` sent, if any)."""
        store = self.store
        current = store.revision() == self._seen_all  # every view up to date before these appends
        # the model's view up to date: only the group appended to needs its figures recomputed
        changed: int | None = -1 if store.revision(model) == self._seen.get(model) else None
        billed = max(0, int(billed_prompt_tokens))
        if counts.estimate_tokens >= self.policy.min_estimate_tokens:
            ratio = billed / counts.estimate_tokens
            store.append(model, GROUP_SERIES[counts.group], ratio)
            store.append(model, UPPER_SERIES[counts.group], billed / max(counts.upper_tokens, 1))
            store.append(model, ALL_SERIES, ratio)
            if changed is not None:
                changed = counts.group

        store.append(model, PRIOR_SERIES, billed / max(counts.upper_tokens, 1))
        store.append(model, STRICT_SERIES, billed / max(counts.strict_tokens, 1))
        if max_tokens and billed_completion_tokens is not None:
            store.append(model, COMPLETION_SERIES, billed_completion_tokens / max_tokens)
        self._refresh(model, changed)
        if current:  # only this model's windows changed since: the next read need not look at every model's
            self._seen_all = store.revision()
        return PromptObservation(
            model,
            counts.group,
            counts.estimate_tokens,
            counts.upper_tokens,
            counts.strict_tokens,
            billed,
            billed_completion_tokens,
            max_tokens,
        )

    # -- reading -----------------------------------------------------------------------------------------------

    def views(self) -> dict[str, LearnedView]:
        """Every model's view (a dict read on the routing path: refreshed only when the store changed)."""
        store = self.store
        if store.revision() != self._seen_all:
            for key in store.models():
                if store.revision(key) != self._seen.get(key):
                    self._refresh(key)
            self._seen_all = store.revision()
        return self._views

    def view(self, model: str) -> LearnedView | None:
        """What was learned of ``model`` (``None``: nothing yet)."""
        return self.views().get(model)

    def bound(self, model: str, counts: FamilyCounts, mode: Mode = "estimate") -> int:
        """The prompt bound of a request to ``model`` whose family figures are ``counts``, tokens (module doc)."""
        view = self.views().get(model)
        if view is None:
            return counts.strict_tokens if mode != "estimate" else counts.upper_tokens
        return learned_bound(view, counts, mode, self.policy)

    def describe(self, model: str) -> dict[str, object]:
        """A JSON-ready summary of what was learned of ``model``."""
        view = self.view(model)
        if view is None:
            return {"observations": 0, "groups": {}, "prior_excess": 1.0, "strict_excess": 1.0}
        groups = {
            name: {
                "observations": n,
                "factor": None if factor is None else round(factor, 4),
                "estimate_scale": round(scale, 4),
                "prior_scale": round(prior_scale, 4),
                "upper_scale": round(upper_scale, 4),
                "replaces_prior": tight,
            }
            for name, n, factor, scale, prior_scale, upper_scale, tight in zip(
                TEXT_GROUPS,
                view.counts,
                view.factors,
                view.scales,
                view.prior_scales,
                view.upper_scales,
                view.tight,
                strict=True,
            )
            if factor is not None or tight
        }
        summary: dict[str, object] = {
            "observations": view.observations,
            "groups": groups,
            "prior_excess": round(view.prior_excess, 4),
            "strict_excess": round(view.strict_excess, 4),
        }
        if view.completion_excess is not None:
            summary["completion_over_max_tokens"] = round(view.completion_excess, 4)
        return summary

    def _refresh(self, model: str, changed: int | None = None) -> None:
        """Bring ``model``'s view up to date: re-read the figures of group ``changed`` (``-1``: none; ``None``: every
        group's) and the model's own (:meth:`_model_figures`), and derive the view again only if one of them moved
        (with full windows most records move none: a high quantile or a maximum rarely changes)."""
        kept = self._figures.get(model)
        if kept is None or changed is None:
            groups, moved = [self._group_figures(model, group) for group in range(len(GROUP_SERIES))], True
        else:
            groups, moved = kept[0], False
            if changed >= 0:
                figures = self._group_figures(model, changed)
                if figures != groups[changed]:
                    groups[changed], moved = figures, True
        own = self._model_figures(model)
        if moved or kept is None or own != kept[1]:
            self._views[model] = self._derive(groups, own)
            self.views_version += 1
        self._figures[model] = (groups, own)
        self._seen[model] = self.store.revision(model)

    def _group_figures(self, model: str, group: int) -> GroupFigures:
        """A group's observations, quantile (``None``: none), learned scale (the quantile × ``headroom +
        small_sample_headroom / sqrt(n)``), widening scale (× ``headroom``), and the learned scale of its ``billed /
        prior upper`` ratios (the same way; 0 without them)."""
        values = self.store.ranked(model, GROUP_SERIES[group])
        n = len(values)
        if not n:
            return 0, None, 0.0, 0.0, 0.0
        policy = self.policy
        factor = ranked_quantile(values, policy.quantile)
        learned = factor * (policy.headroom + policy.small_sample_headroom / math.sqrt(n))
        uppers = self.store.ranked(model, UPPER_SERIES[group])
        upper = 0.0
        if uppers:
            size = len(uppers)
            upper = ranked_quantile(uppers, policy.quantile) * (
                policy.headroom + SECOND_PREDICTOR_SMALL_SAMPLE * policy.small_sample_headroom / math.sqrt(size)
            )
        return n, factor, learned, factor * policy.headroom, upper

    def _model_figures(self, model: str) -> ModelFigures:
        """What the view takes from the model's other windows (ranked: each figure is an index): its observations in
        all groups; once they reach ``min_observations``, the quantiles of all groups' ratios and of ``billed / prior
        upper`` (else 0); the maxima of ``billed / prior upper``, ``billed / strict`` and the completion's ratio."""
        ranked, policy = self.store.ranked, self.policy
        pooled = ranked(model, ALL_SERIES)
        prior = ranked(model, PRIOR_SERIES)
        strict = ranked(model, STRICT_SERIES)
        completion = ranked(model, COMPLETION_SERIES)
        n = len(pooled)
        seen_enough = n >= policy.min_observations
        return (
            n,
            ranked_quantile(pooled, policy.quantile) if seen_enough else 0.0,
            ranked_quantile(prior, policy.quantile) if seen_enough and prior else 0.0,
            prior[-1] if prior else None,
            strict[-1] if strict else None,
            completion[-1] if completion else None,
        )

    def _derive(self, groups: list[GroupFigures], own: ModelFigures) -> LearnedView:
        """The view from the groups' figures and the model's own (module doc)."""
        policy = self.policy
        enough = policy.min_observations
        observations, pooled_quantile, prior_quantile, prior_max, strict_max, completion_max = own
        # a model seen enough in all groups: a group it has seen a few times is bounded by its own quantile (with the
        # small-sample headroom) or the quantile of all its groups (wider), whichever is larger; one it has never seen
        # by its prior scaled by how far the model's bills fell below (or above) the prior in every group (the
        # prior's per-group margins keep the groups' shape)
        seen_enough = observations >= enough
        pooled_scale = pooled_quantile * policy.pooled_headroom
        deflate = prior_quantile * policy.pooled_headroom
        strict_ok = strict_max is None or strict_max <= 1.0
        counts, factors, own_scales, widen_scales, upper_learned = zip(*groups, strict=True)
        rows = []  # per group: scale, tight, settled, prior scale, borrowed (a plain loop: generators cost more here)
        for n, scale, needed in zip(counts, own_scales, self._needed, strict=True):
            borrowed = 0.0
            if n and n < needed:  # a group seen a few times (one never seen: 0)
                if needed <= enough and deflate > 0:  # at least the lower of what the other groups show
                    borrowed = pooled_scale
                elif pooled_scale > scale:
                    scale = pooled_scale
            tight = n >= needed or seen_enough
            prior_scale = deflate if n < FEW_OBSERVATIONS or (n < needed and needed > enough) else 0.0
            if borrowed:
                prior_scale = 0.0
            settles = tight and strict_ok and not prior_scale and not borrowed
            rows.append((scale, tight, scale if settles else 0.0, prior_scale, borrowed))
        scales, tights, settled, prior_scales, borrowed_scales = zip(*rows, strict=True)
        # a group seen enough on its own is also bounded by its prior upper × its own learned quantile of ``billed /
        # prior upper``, whichever of the two is lower
        upper_scales = tuple(
            scale if n >= needed else 0.0 for n, scale, needed in zip(counts, upper_learned, self._needed, strict=True)
        )
        return LearnedView(
            factors,
            counts,
            prior_max if prior_max is not None and prior_max > 1.0 else 1.0,
            strict_max if strict_max is not None and strict_max > 1.0 else 1.0,
            completion_max,
            observations,
            scales,
            tights,
            settled,
            prior_scales,
            widen_scales,
            upper_scales,
            borrowed_scales,
            tuple(deflate if b else 0.0 for b in borrowed_scales),
        )
