"""Spend budgets of gateway keys, teams and the whole gateway, per calendar window (hour, day, month).

Public API: :func:`load_keys_file` / :class:`KeysFile` (the keys file), :class:`KeyTable` (who a bearer key is),
:class:`BudgetLedger` (reservations before sending, settlement after; a busy replica's reservations share leases,
:mod:`app.budgets.lease`), the stores :class:`MemoryBudgetStore` and :class:`RedisBudgetStore`. The gateway uses
them (docs/deployment.md, docs/gateway.md); the router sees only the ``spend`` guard of one request
(:class:`RequestBudget`).
"""

from app.budgets.auth import KeyTable
from app.budgets.config import BudgetSpec, KeysFile, KeySpec, Principal, TeamSpec, hash_key, load_keys_file, parse_keys
from app.budgets.ledger import BudgetLedger, BudgetLine, LineReport, RequestBudget, SpendHold
from app.budgets.store import BudgetStore, LineSpec, LineState, MemoryBudgetStore, RedisBudgetStore
from app.budgets.windows import CalendarWindow, window_at

__all__ = [
    "BudgetLedger",
    "BudgetLine",
    "BudgetSpec",
    "BudgetStore",
    "CalendarWindow",
    "KeySpec",
    "KeyTable",
    "KeysFile",
    "LineReport",
    "LineSpec",
    "LineState",
    "MemoryBudgetStore",
    "Principal",
    "RedisBudgetStore",
    "RequestBudget",
    "SpendHold",
    "TeamSpec",
    "hash_key",
    "load_keys_file",
    "parse_keys",
    "window_at",
]
