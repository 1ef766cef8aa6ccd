"""Routing one gateway request within its caller's spend budgets (:mod:`app.budgets`).

The request's cap becomes the smaller of its own ``max_cost`` and what its budgets can still take (so every
request of a key with a budget has a bounded worst case, and a nearly spent budget still lets through a request
that fits what is left, with a smaller ``max_tokens``), and the router reserves each attempt's worst case on the
budgets before sending it (:class:`~app.router.execution.SpendGuard`). A refusal that only the budget caused is
a :class:`~app.errors.SpendLimitExceededError` (402). When other requests' reservations took what was read as
free, the request is decided once more within what is left then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from app.budgets import RequestBudget
from app.errors import BudgetExceededError, SpendLimitExceededError
from app.pricing import to_decimal_usd

__all__ = ["route_within_budget"]

Route = Callable[[Decimal | None, RequestBudget | None], Awaitable[Any]]


async def route_within_budget(route: Route, max_cost: Decimal | None, budget: RequestBudget | None) -> Any:
    """``await route(cap, budget)`` with the cap the budgets allow (see the module doc).

    Raises:
        SpendLimitExceededError: a budget cannot take the request. StoreUnavailableError: the budgets' store did
            not answer. What ``route`` raises otherwise.
    """
    if budget is None:
        return await route(max_cost, None)
    fresh = False  # the first cap may come from this process's recent knowledge of the budgets (a hint)
    for attempt in range(3):
        remaining = await budget.remaining_usd(fresh=fresh)
        if remaining <= 0:
            if not fresh:
                fresh = True
                continue
            raise budget.exceeded(None)
        budget_caps = max_cost is None or remaining < max_cost
        cap = remaining if budget_caps else max_cost
        try:
            return await route(cap, budget)
        except BudgetExceededError as exc:
            if not budget_caps:
                raise  # the request's own max_cost ruled every model out
            if not fresh:
                fresh = True  # the hint may have been low (others' settlements gave money back): ask the store
                continue
            needed = to_decimal_usd(exc.cheapest_cost_usd) if exc.cheapest_cost_usd is not None else None
            raise budget.exceeded(needed) from None
        except SpendLimitExceededError as exc:
            if attempt < 2 and exc.remaining_usd > 0:
                fresh = True  # reserved by others meanwhile: decide again within what is left now
                continue
            raise
    raise budget.exceeded(None)
