"""The budget ledger on a fake clock: scopes of a request, reservations, keep-alive of running requests, a dead
replica's holds charged at expiry, settlements retried after a store failure."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from app.budgets import BudgetLedger, KeyTable, MemoryBudgetStore, parse_keys
from app.errors import SpendLimitExceededError, StoreUnavailableError
from app.events import BudgetUsage, Event, SpendSettled, StoreFailed
from tests.scripted import FakeClock

KEYS = parse_keys(
    {
        "gateway": {"budgets": [{"window": "day", "max_usd": 10}]},
        "teams": {"t": {"budgets": [{"window": "day", "max_usd": 2}]}},
        "keys": [
            {"name": "a", "key": "sk-a-000000", "team": "t", "budgets": [{"window": "hour", "max_usd": 1}]},
            {"name": "b", "key": "sk-b-000000"},
        ],
    }
)
TABLE = KeyTable(KEYS)


class FlakyStore(MemoryBudgetStore):
    """A memory store whose settle fails while ``down``."""

    down = False

    async def settle(self, hold_id: str, actual_atto: int, *, now: float) -> Any:
        if self.down:
            raise StoreUnavailableError("down", store="budgets", operation="settle")
        return await super().settle(hold_id, actual_atto, now=now)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


def principal(key: str) -> Any:
    return TABLE.lookup(f"Bearer {key}")


async def test_a_request_is_charged_to_its_key_its_team_and_the_gateway(clock: FakeClock) -> None:
    events: list[Event] = []
    ledger = BudgetLedger(KEYS, MemoryBudgetStore(), clock=clock)
    ledger.events.subscribe(events.append)
    budget = ledger.for_request(principal("sk-a-000000"))
    assert budget is not None
    assert [(line.scope, line.window.kind) for line in budget.lines] == [
        ("key:a", "hour"),
        ("team:t", "day"),
        ("gateway", "day"),
    ]
    assert await budget.remaining_usd() == 1
    hold = await budget.reserve(Decimal("0.4"))
    assert budget.headers()["x-costmux-budget-remaining"] == "0.6"
    await hold.settle(Decimal("0.25"))
    await hold.settle(Decimal("9"))  # a second settle is ignored
    assert budget.headers()["x-costmux-budget-remaining"] == "0.75"
    assert [e.scope for e in events if isinstance(e, SpendSettled)] == ["key:a", "team:t", "gateway"]
    assert any(isinstance(e, BudgetUsage) and e.scope == "gateway" and e.spent_usd == Decimal("0.25") for e in events)
    with pytest.raises(SpendLimitExceededError) as caught:
        await budget.reserve(Decimal("0.76"))
    assert caught.value.scope == "key:a" and caught.value.window == "hour"
    assert ledger.for_request(None) is not None  # anonymous: the gateway's budget still applies


async def test_running_requests_are_kept_alive_and_a_dead_replica_s_holds_are_charged(clock: FakeClock) -> None:
    store = MemoryBudgetStore()
    live = BudgetLedger(KEYS, store, clock=clock, hold_ttl_s=30)
    dead = BudgetLedger(KEYS, store, clock=clock, hold_ttl_s=30)
    kept = await live.for_request(principal("sk-b-000000")).reserve(Decimal(1))  # type: ignore[union-attr]
    await dead.for_request(principal("sk-b-000000")).reserve(Decimal(2))  # type: ignore[union-attr]
    for _ in range(4):  # the live replica's upkeep every ttl / 3
        clock.now += 10
        await live.maintain()
    status = {r.line.scope: r for r in await live.status()}
    assert status["gateway"].spent_usd == 2 and status["gateway"].reserved_usd == 1  # the dead one's: charged
    await kept.settle(Decimal("0.5"))
    status = {r.line.scope: r for r in await live.status()}
    assert status["gateway"].spent_usd == Decimal("2.5") and status["gateway"].reserved_usd == 0


async def test_a_settlement_the_store_refused_is_retried(clock: FakeClock) -> None:
    store = FlakyStore()
    events: list[Event] = []
    ledger = BudgetLedger(KEYS, store, clock=clock)
    ledger.events.subscribe(events.append)
    budget = ledger.for_request(principal("sk-b-000000"))
    assert budget is not None
    hold = await budget.reserve(Decimal(1))
    store.down = True
    await hold.settle(Decimal("0.1"))  # never raises: the request already has its answer
    assert any(isinstance(e, StoreFailed) and e.operation == "settle" and not e.fallback for e in events)
    store.down = False
    await ledger.maintain()
    gateway = next(r for r in await ledger.status() if r.line.scope == "gateway")
    assert gateway.spent_usd == Decimal("0.1") and gateway.reserved_usd == 0


async def test_the_upkeep_task_runs_until_closed(clock: FakeClock) -> None:
    store = MemoryBudgetStore()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds
        await asyncio.sleep(0)

    ledger = BudgetLedger(KEYS, store, clock=clock, hold_ttl_s=30, sleep=sleep)
    hold = await ledger.for_request(None).reserve(Decimal(1))  # type: ignore[union-attr]
    ledger.start()
    for _ in range(20):
        await asyncio.sleep(0)
    await ledger.aclose()
    assert len(slept) > 3 and all(s == 10 for s in slept)
    (gateway,) = [r for r in await ledger.status() if r.line.scope == "gateway"]
    assert gateway.reserved_usd == 1  # kept alive by the upkeep through 30+ s of its 30 s expiry
    await hold.settle(Decimal(1))
