"""Prompt bounds learned from billed usage: widen at once, tighten only after enough observations, strict never
tightened, bounded state, and the store interface a shared backend implements."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.tokens import (
    PRIORS,
    BoundStore,
    FamilyCounts,
    LearningPolicy,
    MemoryBoundStore,
    PromptBoundLearner,
    count_prompt_tokens,
    family_counts,
)
from app.tokens.learning import ALL_SERIES, PRIOR_SERIES, high_quantile

PROSE = "The quarterly report shows a steady increase in recurring revenue across all regions. " * 12
COUNTS = family_counts(count_prompt_tokens([{"role": "user", "content": PROSE}]), PRIORS["openai_o200k"])


def bills(factor: float, counts: FamilyCounts = COUNTS) -> int:
    return round(counts.estimate_tokens * factor)


def test_nothing_learned_means_the_prior() -> None:
    learner = PromptBoundLearner()
    assert learner.view("m") is None
    assert learner.bound("m", COUNTS) == COUNTS.upper_tokens
    assert learner.bound("m", COUNTS, "strict") == COUNTS.strict_tokens
    assert learner.describe("m")["observations"] == 0


def test_a_bill_over_the_prior_widens_it_at_once() -> None:
    learner = PromptBoundLearner()
    over = COUNTS.upper_tokens + 40
    learner.record("m", COUNTS, over)
    bound = learner.bound("m", COUNTS)
    assert bound >= over  # one observation is enough to widen
    view = learner.view("m")
    assert view is not None and view.prior_excess == pytest.approx(over / COUNTS.upper_tokens)


def test_bills_under_the_prior_tighten_it_only_after_enough_observations() -> None:
    policy = LearningPolicy(min_observations=10)
    learner = PromptBoundLearner(policy=policy)
    for n in range(1, 10):
        learner.record("m", COUNTS, bills(0.8))
        assert learner.bound("m", COUNTS) == COUNTS.upper_tokens, n  # may not tighten yet
    learner.record("m", COUNTS, bills(0.8))
    tightened = learner.bound("m", COUNTS)
    assert bills(0.8) <= tightened < COUNTS.upper_tokens
    assert learner.describe("m")["groups"]["ascii_text"]["replaces_prior"] is True  # type: ignore[index]


def test_the_learned_bound_keeps_the_worst_bill_within_it() -> None:
    learner = PromptBoundLearner()
    factors = [0.9, 0.95, 1.0, 1.02, 0.97] * 6
    for factor in factors:
        learner.record("m", COUNTS, bills(factor))
    assert learner.bound("m", COUNTS) >= bills(max(factors))


def test_strict_is_never_tightened_only_widened() -> None:
    learner = PromptBoundLearner()
    for _ in range(50):
        learner.record("m", COUNTS, bills(0.5))
    assert learner.bound("m", COUNTS, "strict") == COUNTS.strict_tokens
    learner.record("m", COUNTS, COUNTS.strict_tokens * 2)  # a bill no byte-level tokenizer can produce
    assert learner.bound("m", COUNTS, "strict") >= COUNTS.strict_tokens * 2
    assert learner.bound("m", COUNTS) >= COUNTS.strict_tokens * 2  # estimate mode is capped by the widened strict


def test_groups_learn_apart_and_a_model_seen_enough_bounds_a_group_it_saw_little() -> None:
    cjk = family_counts(
        count_prompt_tokens([{"role": "user", "content": "人工智能正在改变我们的生活方式。" * 20}]),
        PRIORS["openai_o200k"],
    )
    assert cjk.group != COUNTS.group
    learner = PromptBoundLearner(policy=LearningPolicy(min_observations=10))
    for _ in range(10):
        learner.record("m", COUNTS, bills(0.7))
    # CJK was never seen, but 10 calls show the model bills ~0.7 of its prior's estimate: the prior is scaled
    scaled = learner.bound("m", cjk)
    assert scaled < cjk.upper_tokens
    view = learner.view("m")
    assert view is not None and view.counts[cjk.group] == 0 and view.tight[cjk.group]
    learner.record("m", cjk, cjk.upper_tokens + 10)  # then it bills more: widened at once
    assert learner.bound("m", cjk) >= cjk.upper_tokens + 10


def test_a_bill_without_prompt_tokens_is_not_a_lesson() -> None:
    learner = PromptBoundLearner()
    learner.record("m", COUNTS, 0)
    assert learner.bound("m", COUNTS) == COUNTS.upper_tokens  # zero would tighten nothing here (10 needed)
    assert high_quantile([3.0, 1.0, 2.0], 0.5) == 2.0 and high_quantile([1.0, 9.0], 0.995) == 9.0


def test_completion_over_max_tokens_is_recorded() -> None:
    learner = PromptBoundLearner()
    learner.record("m", COUNTS, bills(1.0), billed_completion_tokens=300, max_tokens=200)
    view = learner.view("m")
    assert view is not None and view.completion_excess == pytest.approx(1.5)
    assert learner.describe("m")["completion_over_max_tokens"] == 1.5


def test_the_memory_store_is_bounded() -> None:
    store = MemoryBoundStore(window=8, max_keys=3)
    learner = PromptBoundLearner(store)
    for model in ("a", "b", "c", "d"):
        for _ in range(20):
            learner.record(model, COUNTS, bills(1.0))
    assert store.models() == ["b", "c", "d"]  # the least recently updated was forgotten
    assert len(store.window("d", ALL_SERIES)) == 8
    assert isinstance(store, BoundStore)
    with pytest.raises(ValueError):
        MemoryBoundStore(window=0)
    with pytest.raises(ValueError):
        LearningPolicy(headroom=0.9)


class SharedStore(MemoryBoundStore):
    """A stand-in for a store shared by replicas: windows appended by another process show up in ``window``."""

    def inject(self, key: str, series: str, values: Sequence[float]) -> None:
        for value in values:
            self.append(key, series, value)


def test_changes_made_by_another_replica_are_seen_through_revisions() -> None:
    store = SharedStore()
    learner = PromptBoundLearner(store)
    assert learner.view("m") is None
    store.inject("m", PRIOR_SERIES, [1.5])  # another replica saw "m" bill 1.5 x its prior
    assert learner.bound("m", COUNTS) >= 1.5 * COUNTS.upper_tokens
