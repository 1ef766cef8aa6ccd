"""Concurrent store calls coalesced into batches: each keeps its own result or error; a Redis reservation whose
caller gave up is given back."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from app.budgets.store import LineSpec, LineState, RedisBudgetStore
from app.stores import RedisConnection
from app.stores.batch import Coalescer


async def test_concurrent_calls_share_batches_and_keep_their_results() -> None:
    batches: list[list[int]] = []

    async def flush(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0)
        return [item * 10 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(flush, max_batch=8)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(30)))
    assert results == [i * 10 for i in range(30)]
    assert sorted(i for batch in batches for i in batch) == list(range(30))
    assert len(batches) < 30 and all(len(batch) <= 8 for batch in batches)


async def test_a_failing_batch_fails_each_of_its_calls() -> None:
    async def flush(items: Sequence[int]) -> list[int]:
        raise RuntimeError("store down")

    coalescer: Coalescer[int, int] = Coalescer(flush)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    with pytest.raises(RuntimeError):  # and the next call goes on its own
        await coalescer.submit(9)


async def test_a_reservation_whose_caller_gave_up_is_given_back(redis_connection: RedisConnection) -> None:
    store = RedisBudgetStore(redis_connection)
    line = LineSpec("key:a:day:x", 10**18, 2e9)
    call = asyncio.ensure_future(store.reserve("gone", [line], 5, ttl_s=60, now=0))
    await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(50):
        if await store.usage([line.key], now=0) == (LineState(0, 0),):
            break
        await asyncio.sleep(0.01)
    assert await store.usage([line.key], now=0) == (LineState(0, 0),)
    assert (await store.settle("gone", 0, now=0)).before in ("settled", "unknown")
