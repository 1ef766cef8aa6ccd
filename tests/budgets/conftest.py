"""Fixtures of the budget tests: a factory of budget stores on the parametrised backend (memory or a real Redis)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.budgets.store import BudgetStore, MemoryBudgetStore, RedisBudgetStore
from app.stores import RedisConnection


@pytest.fixture
def stores(backend_connection: RedisConnection | None) -> Callable[[], BudgetStore]:
    """Each call a store on the same shared state: one memory store, or a new Redis store on one connection (as
    replicas share one Redis)."""
    if backend_connection is None:
        shared = MemoryBudgetStore()
        return lambda: shared
    connection = backend_connection
    return lambda: RedisBudgetStore(connection)
