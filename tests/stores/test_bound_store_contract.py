"""The prompt-bound store contract (:class:`~app.tokens.learning.BoundStore`), run on the memory store and on the Redis
store (its mirror and ``bounds_sync.lua``) against a real redis-server. Several "replicas" are several store objects
on one Redis (for memory: the same object); ``exchange`` is what their background syncs do within a second."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.stores import RedisConnection
from app.stores.bounds import RedisBoundStore
from app.tokens import PRIORS, BoundStore, MemoryBoundStore, PromptBoundLearner, count_prompt_tokens, family_counts
from app.tokens.learning import ALL_SERIES, PRIOR_SERIES

PROSE = "The quarterly report shows a steady increase in recurring revenue across all regions. " * 12
COUNTS = family_counts(count_prompt_tokens([{"role": "user", "content": PROSE}]), PRIORS["openai_o200k"])

Replicas = Callable[..., BoundStore]


@pytest.fixture
def replica(backend_connection: RedisConnection | None) -> Replicas:
    """A factory of stores sharing one calibration (``window`` and ``max_keys`` as given)."""
    shared: dict[tuple[int, int], MemoryBoundStore] = {}

    def build(window: int = 256, max_keys: int = 256) -> BoundStore:
        if backend_connection is None:
            return shared.setdefault((window, max_keys), MemoryBoundStore(window=window, max_keys=max_keys))
        return RedisBoundStore(backend_connection, "litellm", window=window, max_keys=max_keys)

    return build


async def exchange(*stores: BoundStore) -> None:
    """Every replica pushes what it learned, then every replica reads what the others pushed."""
    for _ in range(2):
        for store in stores:
            if isinstance(store, RedisBoundStore):
                await store.sync()


async def test_a_window_keeps_its_last_values_oldest_first(replica: Replicas) -> None:
    store = replica(window=4)
    assert store.window("m", "prior") == () and store.models() == [] and store.revision("m") == 0
    for value in range(10):
        store.append("m", "prior", float(value))
    assert list(store.window("m", "prior")) == [6.0, 7.0, 8.0, 9.0]
    assert store.window("m", "strict") == () and store.models() == ["m"]
    await exchange(store)
    assert list(store.window("m", "prior")) == [6.0, 7.0, 8.0, 9.0]  # its own values are not read back


async def test_a_ranked_window_is_its_window_sorted_as_values_come_and_go(replica: Replicas) -> None:
    a, b = replica(window=5), replica(window=5)
    assert a.ranked("m", PRIOR_SERIES) == ()
    values = [1.3, 0.7, 1.3, 2.0, 0.1, 0.9, 1.3, 0.4, 5.0, 0.7, 1.1]
    for value in values:
        a.append("m", PRIOR_SERIES, value)
        assert list(a.ranked("m", PRIOR_SERIES)) == sorted(a.window("m", PRIOR_SERIES))
    assert list(a.ranked("m", PRIOR_SERIES)) == sorted(values[-5:])
    b.append("m", PRIOR_SERIES, 0.05)
    await exchange(a, b)  # each replica merges what the other pushed: the sorted copy follows
    for store in (a, b):
        assert list(store.ranked("m", PRIOR_SERIES)) == sorted(store.window("m", PRIOR_SERIES))
        assert len(store.ranked("m", PRIOR_SERIES)) == 5
    with pytest.raises(ValueError):
        a.append("m", PRIOR_SERIES, float("nan"))


async def test_revisions_change_with_every_append_per_key(replica: Replicas) -> None:
    store = replica()
    before_all, before_other = store.revision(), store.revision("other")
    store.append("m", "prior", 1.0)
    assert store.revision() != before_all and store.revision("m") != 0
    assert store.revision("other") == before_other
    seen = store.revision("m")
    store.append("m", "strict", 1.0)
    assert store.revision("m") != seen


async def test_a_replica_sees_what_another_appended(replica: Replicas) -> None:
    a, b = replica(), replica()
    seen = b.revision("m")
    for value in (1.1, 1.2, 1.3):
        a.append("m", ALL_SERIES, value)
    await exchange(a, b)
    assert list(b.window("m", ALL_SERIES)) == [1.1, 1.2, 1.3]
    assert b.revision("m") != seen and "m" in b.models()
    b.append("m", ALL_SERIES, 1.4)
    await exchange(a, b)
    assert list(a.window("m", ALL_SERIES)) == [1.1, 1.2, 1.3, 1.4]
    assert list(b.window("m", ALL_SERIES)) == [1.1, 1.2, 1.3, 1.4]  # no value twice


async def test_windows_stay_bounded_across_replicas(replica: Replicas) -> None:
    a, b = replica(window=8), replica(window=8)
    for value in range(20):
        a.append("m", PRIOR_SERIES, float(value))
        b.append("m", PRIOR_SERIES, float(100 + value))
    await exchange(a, b)
    for store in (a, b):
        assert len(store.window("m", PRIOR_SERIES)) == 8
    fresh = replica(window=8)
    await exchange(fresh)
    assert len(fresh.window("m", PRIOR_SERIES)) == 8


async def test_the_least_recently_updated_model_is_forgotten(replica: Replicas) -> None:
    a = replica(max_keys=3)
    for model in ("a", "b", "c", "d"):
        a.append(model, PRIOR_SERIES, 1.0)
        await exchange(a)
    assert a.models() == ["b", "c", "d"]
    fresh = replica(max_keys=3)
    await exchange(fresh)
    assert sorted(fresh.models()) == ["b", "c", "d"]


async def test_a_replica_s_learner_widens_with_another_replica_s_bills(replica: Replicas) -> None:
    a, b = PromptBoundLearner(replica()), PromptBoundLearner(replica())
    assert b.bound("m", COUNTS) == COUNTS.upper_tokens
    billed = round(COUNTS.estimate_tokens * 1.3)
    assert billed > COUNTS.upper_tokens  # the premise: these bills are over the prior
    for _ in range(3):
        a.record("m", COUNTS, billed)
    await exchange(a.store, b.store)
    assert b.bound("m", COUNTS) >= billed > COUNTS.upper_tokens
    assert b.bound("m", COUNTS) == a.bound("m", COUNTS)
    assert b.describe("m")["observations"] == 3
