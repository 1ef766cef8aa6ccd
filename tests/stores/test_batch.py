"""Concurrent store calls coalesced into batches: each keeps its own result or error, in order, at most
``max_running`` batches on the wire; an item whose caller gave up is still sent and handed to ``on_orphan`` (a Redis
reservation is given back, a settlement still applied). No test waits on a clock: batches are held and released by
events, and the loop is only turned (``sleep(0)``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from app.budgets.store import LineSpec, LineState, RedisBudgetStore
from app.errors import StoreUnavailableError
from app.stores import RedisConnection
from app.stores.batch import Coalescer


async def _turns(n: int = 5) -> None:
    """Let the event loop run ``n`` turns (no time passes)."""
    for _ in range(n):
        await asyncio.sleep(0)


class Gated:
    """A flush whose batches are held until released one by one; records them."""

    def __init__(self, fail: set[int] | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gates: list[asyncio.Event] = []
        self.fail = fail or set()  # indexes of the batches that fail

    @property
    def in_flight(self) -> int:
        return sum(not gate.is_set() for gate in self.gates)

    async def __call__(self, items: Sequence[int]) -> list[int]:
        index = len(self.batches)
        self.batches.append(list(items))
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if index in self.fail:
            raise RuntimeError(f"batch {index} failed")
        return [item * 10 for item in items]

    def release(self, index: int) -> None:
        self.gates[index].set()


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


async def test_items_enqueued_in_one_turn_go_in_one_batch_in_order_with_no_task_per_call() -> None:
    flush = Gated()
    coalescer: Coalescer[int, int] = Coalescer(flush, max_batch=64)
    tasks_before = len(asyncio.all_tasks())
    futures = [coalescer.enqueue(i) for i in range(50)]
    assert all(isinstance(f, asyncio.Future) and not isinstance(f, asyncio.Task) for f in futures)
    assert len(asyncio.all_tasks()) - tasks_before == 1  # the batch's task, none per call
    await _turns()
    assert flush.batches == [list(range(50))]
    flush.release(0)
    assert await asyncio.gather(*futures) == [i * 10 for i in range(50)]


async def test_at_most_max_running_batches_are_on_the_wire_and_the_rest_go_in_order() -> None:
    flush = Gated()
    coalescer: Coalescer[int, int] = Coalescer(flush, max_batch=2, max_running=2)
    futures = [coalescer.enqueue(i) for i in range(9)]
    await _turns()
    assert flush.batches == [[0, 1], [2, 3]] and flush.in_flight == 2 and coalescer.running == 2
    futures += [coalescer.enqueue(9)]  # queued behind the others
    await _turns()
    assert len(flush.batches) == 2
    for index in range(5):
        await _turns()
        assert flush.in_flight <= 2
        flush.release(index)
    await _turns()
    assert flush.batches == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert await asyncio.gather(*futures) == [i * 10 for i in range(10)]
    assert coalescer.running == 0


async def test_a_failing_batch_fails_each_of_its_items_once_and_the_next_batch_goes_on() -> None:
    flush = Gated(fail={0})
    orphans: list[Any] = []
    coalescer: Coalescer[int, int] = Coalescer(flush, max_running=1, on_orphan=lambda *a: orphans.append(a))
    unretrieved: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: unretrieved.append(context))
    first = [coalescer.enqueue(i) for i in range(3)]
    await _turns()
    later = coalescer.enqueue(7)
    flush.release(0)
    results = await asyncio.gather(*first, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and len({id(r) for r in results}) == 1
    await _turns()
    flush.release(1)
    assert await later == 70
    assert flush.batches == [[0, 1, 2], [7]] and orphans == [] and unretrieved == []


async def test_an_item_whose_caller_gave_up_is_sent_and_handed_to_on_orphan() -> None:
    flush = Gated()
    orphans: list[tuple[int, int | None, BaseException | None]] = []
    coalescer: Coalescer[int, int] = Coalescer(flush, on_orphan=lambda *a: orphans.append(a))

    async def caller(i: int) -> int:
        return await coalescer.enqueue(i)

    calls = [asyncio.ensure_future(caller(i)) for i in range(3)]
    await _turns()
    calls[1].cancel()  # the caller gives up while its batch is on the wire
    with pytest.raises(TimeoutError):  # another one times out (without waiting: a zero timeout)
        await asyncio.wait_for(coalescer.enqueue(5), timeout=0)
    await _turns()
    flush.release(0)
    await _turns()
    flush.release(1)
    assert await calls[0] == 0 and await calls[2] == 20
    with pytest.raises(asyncio.CancelledError):
        await calls[1]
    await coalescer.drain()
    assert flush.batches == [[0, 1, 2], [5]]  # still sent, both
    assert orphans == [(1, 10, None), (5, 50, None)]


async def test_an_orphan_of_a_failing_batch_gets_the_error() -> None:
    flush = Gated(fail={0})
    orphans: list[tuple[int, int | None, BaseException | None]] = []
    coalescer: Coalescer[int, int] = Coalescer(flush, on_orphan=lambda *a: orphans.append(a))
    gone, kept = coalescer.enqueue(1), coalescer.enqueue(2)
    gone.cancel()  # before its batch even started: still sent
    await _turns()
    flush.release(0)
    with pytest.raises(RuntimeError):
        await kept
    assert flush.batches == [[1, 2]]
    assert [(item, result) for item, result, _ in orphans] == [(1, None)]
    assert isinstance(orphans[0][2], RuntimeError)


async def test_a_reservation_whose_caller_gave_up_is_given_back(redis_connection: RedisConnection) -> None:
    store = RedisBudgetStore(redis_connection)
    line = LineSpec("key:a:day:x", 10**18, 2e9)
    call = asyncio.ensure_future(store.reserve("gone", [line], 5, ttl_s=60, now=0))
    await asyncio.sleep(0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await store.drain()
    assert await store.usage([line.key], now=0) == (LineState(0, 0),)
    assert (await store.settle("gone", 0, now=0)).before == "settled"


async def test_a_settlement_whose_caller_gave_up_is_applied_and_sent_again_if_it_failed(
    redis_connection: RedisConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RedisBudgetStore(redis_connection)
    line = LineSpec("key:a:day:x", 10**18, 2e9)
    for hold in ("a", "b"):
        assert (await store.reserve(hold, [line], 5, ttl_s=60, now=0)).ok
    call = asyncio.ensure_future(store.settle("a", 3, now=0))
    await asyncio.sleep(0)
    call.cancel()
    await store.drain()
    assert await store.usage([line.key], now=0) == (LineState(3, 5),)  # a applied, b still reserved

    run = redis_connection.run

    async def down(script: str, *args: Any, **kwargs: Any) -> Any:
        if script == "budget_settle.lua":
            raise StoreUnavailableError("Redis down (test)", store="budgets", operation="settle")
        return await run(script, *args, **kwargs)

    monkeypatch.setattr(redis_connection, "run", down)
    call = asyncio.ensure_future(store.settle("b", 4, now=0))
    await asyncio.sleep(0)
    call.cancel()
    await store.drain()
    assert await store.usage([line.key], now=0) == (LineState(3, 5),)  # failed: kept to send again
    monkeypatch.setattr(redis_connection, "run", run)
    await store.aclose()  # the next call (here closing) sends it again
    assert await store.usage([line.key], now=0) == (LineState(7, 0),)
