"""What sending a routed request needs of a router: a decision, and the few settings the fallbacks read.

:mod:`app.router.execution` and :mod:`app.router.stream_execution` take a :class:`Decider` rather than the
:class:`~app.router.router.Router` class, so the dependencies point one way: ``router`` (which composes deciding and
sending) imports the execution modules, and they never import it back.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.catalog.reasoning import ReasoningRequest
    from app.events import EventBus
    from app.providers.base import Provider
    from app.router.budget import BudgetMode
    from app.router.decision import RoutingDecision
    from app.router.policy import BudgetPolicy
    from app.router.strategies import RoutingStrategy

__all__ = ["Decider"]


class Decider(Protocol):
    """A router as the execution modules see it (:class:`~app.router.router.Router` is one)."""

    @property
    def budget_mode(self) -> BudgetMode:
        """The router's default way of bounding the prompt for the cap."""

    @property
    def max_attempts(self) -> int:
        """Models tried per request: the choice plus fallbacks."""

    @property
    def events(self) -> EventBus:
        """Where fallbacks and costs over the estimate are reported."""

    @property
    def policy(self) -> BudgetPolicy:
        """The output limits a fallback is planned with (tokens)."""

    def decide(
        self,
        messages: Sequence[Any],
        providers: Mapping[str, Provider] | None = None,
        *,
        max_cost: Any = None,
        max_tokens: int | None = None,
        budget_mode: BudgetMode | None = None,
        strategy: str | RoutingStrategy | None = None,
        tools: Sequence[Any] | None = None,
        response_format: Any = None,
        exclude: Collection[str] = (),
        prompt_bounds: Mapping[str, int] | None = None,
        reasoning: ReasoningRequest | None = None,
        quality_share: float | None = None,
    ) -> RoutingDecision:
        """Choose a model for the request (see :meth:`app.router.router.Router.decide`; ``max_cost`` in USD)."""
