"""The learner's incremental windows: what ``record`` keeps up to date (each window's sorted copy, the group figures
re-read only for the group appended to, the views the next read skips) equals what a full recomputation from the
windows gives, for random calls including window evictions and ``max_keys`` evictions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.tokens import PRIORS, LearningPolicy, MemoryBoundStore, PromptBoundLearner, count_prompt_tokens, family_counts
from app.tokens.learning import (
    ALL_SERIES,
    COMPLETION_SERIES,
    FEW_OBSERVATIONS,
    GROUP_MINIMUM_FACTORS,
    GROUP_SERIES,
    PRIOR_SERIES,
    SERIES,
    STRICT_SERIES,
    UPPER_SERIES,
    LearnedView,
)
from app.tokens.windows import ranked_quantile

TEXTS = (
    "The quarterly report shows a steady increase in recurring revenue. " * 4,
    "def f(x):\n    return [i * 2 for i in range(x)]\n" * 4,
    "Ça a été très généralement reçu à Zürich. Привет, как дела? " * 3,
    "人工智能正在改变我们的生活方式。" * 6,
    "Hi there.",  # below min_estimate_tokens: no group value
)
FIGURES = [family_counts(count_prompt_tokens([{"role": "user", "content": t}]), PRIORS["anthropic"]) for t in TEXTS]
MODELS = ("a", "b", "c", "d")


def nearest_rank(values: Sequence[float], q: float) -> float:
    """The documented quantile, computed from scratch: the ``ceil(q × n)``-th smallest (at least the first)."""
    ordered = sorted(values)
    return ordered[min(max(math.ceil(q * len(ordered)), 1), len(ordered)) - 1]


def recomputed(store: MemoryBoundStore, model: str, policy: LearningPolicy) -> LearnedView:
    """``model``'s view computed from its windows alone, as the module doc states it (copy, sort, scan)."""
    q, enough = policy.quantile, policy.min_observations
    windows = [store.window(model, series) for series in GROUP_SERIES]
    pooled, prior = store.window(model, ALL_SERIES), store.window(model, PRIOR_SERIES)
    strict, completion = store.window(model, STRICT_SERIES), store.window(model, COMPLETION_SERIES)
    seen_enough = len(pooled) >= enough
    pooled_scale = nearest_rank(pooled, q) * policy.pooled_headroom if seen_enough else 0.0
    deflate = nearest_rank(prior, q) * policy.pooled_headroom if seen_enough else 0.0
    factors = tuple(nearest_rank(w, q) if w else None for w in windows)
    counts = tuple(len(w) for w in windows)
    needed = [enough * factor for factor in GROUP_MINIMUM_FACTORS]
    scales, tight, prior_scales, settled, borrowed = [], [], [], [], []
    for factor, n, own in zip(factors, counts, needed, strict=True):
        scale = 0.0
        if factor is not None:
            scale = max(factor * (policy.headroom + policy.small_sample_headroom / math.sqrt(n)), 0.0)
        # a group seen a few times: at least the lower of the model's pooled ratios and its scaled prior; the
        # latin group (a larger minimum) at least the larger of them
        borrows = 0 < n < own and own <= enough and deflate > 0
        if 0 < n < own and not borrows:
            scale = max(scale, pooled_scale)
        scales.append(scale)
        borrowed.append(pooled_scale if borrows else 0.0)
        tight.append(n >= own or seen_enough)
        few = n < FEW_OBSERVATIONS or (n < own and own > enough)
        prior_scales.append(deflate if few and not borrows else 0.0)
        strict_ok = max(strict, default=1.0) <= 1.0
        settled.append(scale if tight[-1] and strict_ok and not prior_scales[-1] and not borrows else 0.0)
    uppers = [store.window(model, series) for series in UPPER_SERIES]
    upper_scales = tuple(
        nearest_rank(u, q) * (policy.headroom + math.sqrt(2) * policy.small_sample_headroom / math.sqrt(len(u)))
        if u and n >= own
        else 0.0
        for u, n, own in zip(uppers, counts, needed, strict=True)
    )
    return LearnedView(
        factors,
        counts,
        max(1.0, max(prior, default=1.0)),
        max(1.0, max(strict, default=1.0)),
        max(completion) if completion else None,
        len(pooled),
        tuple(scales),
        tuple(tight),
        tuple(settled),
        tuple(prior_scales),
        tuple(0.0 if f is None else f * policy.headroom for f in factors),
        upper_scales,
        tuple(borrowed),
        tuple(deflate if b else 0.0 for b in borrowed),
    )


appends = st.lists(
    st.tuples(
        st.sampled_from(MODELS),
        st.sampled_from(SERIES),
        st.one_of(st.sampled_from([0.5, 1.0, 1.0, 1.25]), st.floats(0.0, 3.0), st.floats(-1e9, 1e9)),
    ),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(window=st.integers(1, 6), max_keys=st.integers(1, 3), values=appends)
def test_a_ranked_window_is_always_its_window_sorted(
    window: int, max_keys: int, values: list[tuple[str, str, float]]
) -> None:
    store = MemoryBoundStore(window=window, max_keys=max_keys)
    for model, series, value in values:
        store.append(model, series, value)
        for key in store.models():
            for name in SERIES:
                assert list(store.ranked(key, name)) == sorted(store.window(key, name))
    assert len(store.models()) <= max_keys


calls = st.lists(
    st.tuples(
        st.sampled_from(MODELS),
        st.integers(0, len(FIGURES) - 1),
        st.floats(0.3, 2.5),  # billed / estimate
        st.one_of(st.none(), st.integers(0, 400)),  # billed completion (None: no max_tokens check)
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(
    window=st.integers(1, 12),
    max_keys=st.integers(1, 3),
    minimum=st.integers(1, 4),
    quantile=st.sampled_from([0.5, 0.9, 0.995, 1.0]),
    answered=calls,
)
def test_the_incremental_view_equals_the_one_recomputed_from_the_windows(
    window: int, max_keys: int, minimum: int, quantile: float, answered: list[tuple[str, int, float, int | None]]
) -> None:
    policy = LearningPolicy(min_observations=minimum, quantile=quantile)
    store = MemoryBoundStore(window=window, max_keys=max_keys)
    learner = PromptBoundLearner(store, policy)
    for model, text, factor, completion in answered:
        counts = FIGURES[text]
        billed = max(1, round(counts.estimate_tokens * factor))
        max_tokens = 200 if completion is not None else None
        learner.record(model, counts, billed, billed_completion_tokens=completion, max_tokens=max_tokens)
        assert learner.view(model) == recomputed(store, model, policy)
    views = learner.views()
    for model in store.models():
        assert views[model] == recomputed(store, model, policy)
        assert PromptBoundLearner(store, policy).view(model) == views[model]  # a fresh learner reads the same


def test_values_appended_by_another_replica_between_records_are_read_in_full() -> None:
    """A record after the store changed behind the learner's back (a shared store's sync) re-reads every group."""
    store = MemoryBoundStore(window=8)
    learner = PromptBoundLearner(store, LearningPolicy(min_observations=2))
    prose, code = FIGURES[0], FIGURES[1]
    learner.record("m", prose, prose.estimate_tokens)
    for value in (1.5, 1.6, 1.7):
        store.append("m", GROUP_SERIES[code.group], value)  # as a sync merges another replica's values
    learner.record("m", prose, prose.estimate_tokens)
    view = learner.view("m")
    assert view == recomputed(store, "m", learner.policy) and view.counts[code.group] == 3


def test_a_record_leaves_the_next_read_nothing_to_look_at() -> None:
    """After a record, ``views`` does not scan every model's revision (``models()`` is not called)."""

    class CountingStore(MemoryBoundStore):
        scans = 0

        def models(self) -> list[str]:
            self.scans += 1
            return super().models()

    store = CountingStore()
    learner = PromptBoundLearner(store)
    learner.views()
    scans = store.scans
    for model in MODELS:
        learner.record(model, FIGURES[0], FIGURES[0].estimate_tokens)
        learner.views()
    assert store.scans == scans
    store.append("a", PRIOR_SERIES, 2.0)  # a change the learner did not make: the next read looks
    assert learner.view("a") == recomputed(store, "a", learner.policy) and store.scans == scans + 1


def test_a_nan_has_no_place_in_a_window() -> None:
    store = MemoryBoundStore()
    with pytest.raises(ValueError, match="not nan"):
        store.append("m", PRIOR_SERIES, math.nan)
    assert store.models() == [] and store.ranked("m", PRIOR_SERIES) == ()
    assert ranked_quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and ranked_quantile([7.0], 0.0) == 7.0
