"""Sending a routed request: the choice first, then fallbacks that still fit what is left of the budget.

Accounting of failed attempts (every attempt's cost counts against ``max_cost``):

* the proxy answered with an error status (4xx/5xx, 429): nothing was generated, the attempt costs 0;
* sent but no answer (read timeout, lost connection): the upstream may have generated (and billed) up to the
  attempt's ``max_tokens``, so the attempt is charged its worst case; under a cap the provider is told not to retry
  such an attempt itself (``retry_unanswered=False``), so every generation is accounted here;
* refused before sending (client-side rate limit, cooling model, connection refused): 0.

A successful attempt is charged its actual cost (an unknown actual cost is charged at its worst case).

With a ``spend`` guard (the gateway's spend budgets, :mod:`app.budgets`), each attempt's worst case is reserved on it
before the attempt is sent and settled afterwards at the attempt's charge by the rules above. The first attempt's
refusal (:class:`~app.errors.SpendLimitExceededError`) is raised; a fallback the guard refuses is skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from app.catalog.reasoning import reasoning_request
from app.errors import (
    AuthenticationError,
    BadRequestError,
    ModelNotFoundError,
    NoModelAvailableError,
    ProviderError,
    SpendLimitExceededError,
)
from app.events import CostOverEstimate, Fallback, error_kind
from app.models import ChatCompletionChoice, ChatCompletionResponse, Usage
from app.pricing import decimal_str, to_decimal_usd
from app.providers.base import Provider
from app.router.budget import caller_output_limit, plan_output, prompt_bound_tokens
from app.router.decider import Decider
from app.router.decision import CandidateVerdict, RoutingDecision

if TYPE_CHECKING:
    from app.router.strategies import RoutingStrategy

__all__ = ["Attempt", "AttemptLedger", "AttemptPlan", "RoutedResponse", "SpendGuard", "SpendHold", "route_and_send"]

logger = logging.getLogger("costmux.router")


class SpendHold(Protocol):
    """One attempt's reservation on a :class:`SpendGuard`; settled once."""

    async def settle(self, cost_usd: Decimal) -> None:
        """Charge ``cost_usd`` (USD) instead of the reservation."""

    def settle_soon(self, cost_usd: Decimal) -> None:
        """:meth:`settle` without waiting (a closing stream, a cancelled request)."""


class SpendGuard(Protocol):
    """Spend budgets a routed request is charged to (the gateway's keys, teams and gateway budgets)."""

    async def reserve(self, worst_case_cost_usd: Decimal) -> SpendHold:
        """Reserve an attempt's worst case (USD). Raises SpendLimitExceededError when a budget cannot take it."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """One model tried: what it was allowed, what it cost, and how it ended (``error`` is ``None`` on success)."""

    provider: str
    model: str
    max_tokens: int | None
    worst_case_cost_usd: Decimal | None
    cost_usd: Decimal
    error: ProviderError | None = None


@dataclass(frozen=True, slots=True)
class RoutedResponse:
    """The provider's response, the routing decision, every attempt, and the actual total cost (USD)."""

    response: ChatCompletionResponse
    decision: RoutingDecision
    attempts: tuple[Attempt, ...]
    cost_usd: float

    @property
    def provider(self) -> str:
        return self.attempts[-1].provider

    @property
    def model(self) -> str:
        """The model that answered (a fallback when the choice failed)."""
        return self.attempts[-1].model

    @property
    def choices(self) -> list[ChatCompletionChoice]:
        return self.response.choices

    @property
    def usage(self) -> Usage | None:
        return self.response.usage

    @property
    def content(self) -> str:
        return self.response.content

    @property
    def fallbacks(self) -> int:
        """How many models failed before the one that answered."""
        return len(self.attempts) - 1


async def _exact_prompt_bounds(messages: Sequence[Any], providers: Mapping[str, Provider]) -> dict[str, int]:
    """Prompt token counts from each provider's token counter, per ``provider/model``; models whose count
    fails are left out (the strict bound applies to them)."""
    keys: list[str] = []
    calls = []
    for provider_name, provider in providers.items():
        counter = getattr(provider, "count_prompt_tokens", None)
        if counter is None:
            continue
        for model in provider.get_supported_models():
            keys.append(f"{provider_name}/{model}")
            calls.append(counter(messages, model))
    results = await asyncio.gather(*calls, return_exceptions=True)
    return {key: count for key, count in zip(keys, results, strict=True) if isinstance(count, int)}


async def route_and_send(
    router: Decider,
    messages: Sequence[Any],
    providers: Mapping[str, Provider],
    *,
    strategy: str | RoutingStrategy | None,
    max_cost: Any,
    max_tokens: int | None,
    budget_mode: Any,
    exclude: Collection[str],
    params: dict[str, Any],
    spend: SpendGuard | None = None,
    quality_share: float | None = None,
) -> RoutedResponse:
    """See :meth:`~app.router.router.Router.route_request` and the module doc."""
    ledger = await AttemptLedger.start(
        router,
        messages,
        providers,
        strategy=strategy,
        max_cost=max_cost,
        max_tokens=max_tokens,
        budget_mode=budget_mode,
        exclude=exclude,
        params=params,
        quality_share=quality_share,
    )
    for plan in ledger.plans():
        hold = await ledger.reserve(spend, plan)
        if hold is _SKIP:
            continue
        provider = providers[plan.verdict.provider]
        try:
            response = await provider.chat_completion(
                messages,
                plan.verdict.model,
                max_tokens=plan.max_tokens,
                rate_limit_timeout_s=0,
                retry_unanswered=ledger.retry_unanswered,
                **params,
            )
        except ProviderError as exc:
            falls_back = ledger.failed(plan, exc)
            await ledger.settle(hold)
            if not falls_back:
                raise
            continue
        except BaseException:  # cancelled while sent: it may have been generated, keep the worst case
            if hold is not None:
                hold.settle_soon(plan.worst_case_cost_usd)
            raise
        ledger.succeeded(plan, response.cost_usd)
        await ledger.settle(hold)
        return RoutedResponse(response, ledger.decision, tuple(ledger.attempts), float(ledger.spent))
    raise ledger.exhausted()


class _Skip:
    """The spend guard refused a fallback: skip it."""


_SKIP: Any = _Skip()


@dataclass(frozen=True, slots=True)
class AttemptPlan:
    """One candidate about to be tried: its ``max_tokens`` and worst-case cost (USD) within what is left."""

    verdict: CandidateVerdict
    max_tokens: int | None
    worst_case_cost_usd: Decimal


class AttemptLedger:
    """The attempts of one routed request and what they cost (USD): plans each candidate within what is left of
    the budget, charges failures by the module's rules, reports fallbacks and costs over the estimate.

    Shared by :func:`route_and_send` and the streaming variant (:mod:`app.router.stream_execution`).
    """

    def __init__(
        self,
        router: Decider,
        providers: Mapping[str, Provider],
        decision: RoutingDecision,
        bounds: dict[str, int] | None,
        prompt_bound: int,
        caller_max_tokens: int | None,
    ) -> None:
        self.router = router
        self.providers = providers
        self.decision = decision
        self.bounds = bounds
        self.prompt_bound = prompt_bound
        self.caller_max_tokens = caller_max_tokens
        self.spent = Decimal(0)
        self.attempts: list[Attempt] = []
        self.last_error: ProviderError | None = None

    @classmethod
    async def start(
        cls,
        router: Decider,
        messages: Sequence[Any],
        providers: Mapping[str, Provider],
        *,
        strategy: str | RoutingStrategy | None,
        max_cost: Any,
        max_tokens: int | None,
        budget_mode: Any,
        exclude: Collection[str],
        params: Mapping[str, Any],
        quality_share: float | None = None,
    ) -> AttemptLedger:
        """Refresh the providers' model knowledge and decide (raises what :meth:`Decider.decide` raises)."""
        await asyncio.gather(*(provider.ensure_model_info() for provider in providers.values()))
        max_tokens = caller_output_limit(max_tokens, params)
        mode = budget_mode or router.budget_mode
        bounds = await _exact_prompt_bounds(messages, providers) if mode == "exact" else None
        decision = router.decide(
            messages,
            providers,
            max_cost=max_cost,
            max_tokens=max_tokens,
            budget_mode=mode,
            strategy=strategy,
            tools=params.get("tools"),
            response_format=params.get("response_format"),
            exclude=exclude,
            prompt_bounds=bounds,
            reasoning=reasoning_request(params),
            quality_share=quality_share,
        )
        return cls(router, providers, decision, bounds, prompt_bound_tokens(decision.analysis, mode), max_tokens)

    @property
    def retry_unanswered(self) -> bool:
        """Under a cap, each generation must be accounted: the provider must not retry unanswered attempts."""
        return self.decision.max_cost_usd is None

    def plans(self) -> Iterator[AttemptPlan]:
        """The candidates still worth trying, in rank order (at most ``router.max_attempts``), each planned within
        what is left of the budget when it comes up; a :class:`Fallback` is reported before each one after the
        first attempt."""
        decision, router = self.decision, self.router
        for verdict in decision.ranked[: router.max_attempts]:
            if decision.max_cost_usd is None or self.spent == 0:
                plan_max_tokens, worst = verdict.max_tokens, verdict.worst_case_cost_usd or Decimal(0)
            else:
                bound = (self.bounds or {}).get(verdict.key, verdict.prompt_bound_tokens or self.prompt_bound)
                replanned = _replan(
                    router,
                    verdict,
                    self.providers,
                    bound,
                    decision.max_cost_usd - self.spent,
                    self.caller_max_tokens,
                )
                if replanned is None:
                    continue
                plan_max_tokens, worst = replanned
            if self.attempts and router.events.active:  # falling back from the last failed attempt to this one
                failed = self.attempts[-1]
                kind = error_kind(failed.error) if failed.error is not None else "other"
                router.events.emit(Fallback(decision.strategy, failed.provider, failed.model, kind))
            yield AttemptPlan(verdict, plan_max_tokens, worst)

    def failed(self, plan: AttemptPlan, exc: ProviderError, *, charged: Decimal | None = None) -> bool:
        """Record a failed attempt; returns whether to fall back (else the caller raises ``exc``).

        ``charged`` overrides the module's rule (a stream that failed after its first chunk: its worst case).
        """
        if charged is None:
            # answered by the proxy, or refused before sending: nothing was generated
            no_answer = exc.status_code is None and exc.request_sent
            charged = plan.worst_case_cost_usd if no_answer else Decimal(0)
        verdict = plan.verdict
        self.spent += charged
        self.attempts.append(
            Attempt(verdict.provider, verdict.model, plan.max_tokens, plan.worst_case_cost_usd, charged, exc)
        )
        self.last_error = exc
        if not _falls_back(exc):
            return False
        logger.warning("routing %s failed (%s); falling back", verdict.key, type(exc).__name__)
        return True

    async def reserve(self, spend: SpendGuard | None, plan: AttemptPlan) -> SpendHold | None:
        """Reserve ``plan``'s worst case on ``spend`` (``None`` without a guard; ``_SKIP`` for a refused fallback).

        Raises:
            SpendLimitExceededError: the guard refused the first attempt.
        """
        if spend is None:
            return None
        try:
            return await spend.reserve(plan.worst_case_cost_usd)
        except SpendLimitExceededError:
            if not self.attempts:
                raise
            logger.warning("spend budget cannot take the fallback %s; skipped", plan.verdict.key)
            return _SKIP  # type: ignore[no-any-return]

    async def settle(self, hold: SpendHold | None) -> None:
        """Settle ``hold`` at what the last recorded attempt was charged."""
        if hold is not None:
            await hold.settle(self.attempts[-1].cost_usd)

    def succeeded(self, plan: AttemptPlan, cost_usd: float | Decimal | None) -> None:
        """Record the answering attempt at its actual cost (an unknown cost is charged its worst case)."""
        verdict, worst = plan.verdict, plan.worst_case_cost_usd
        actual = to_decimal_usd(cost_usd) if cost_usd is not None else worst
        self.spent += actual
        if actual > worst:
            if self.router.events.active:
                self.router.events.emit(CostOverEstimate(verdict.provider, verdict.model, actual, worst))
            logger.warning(
                "actual cost $%s of %s exceeded its worst-case estimate $%s",
                decimal_str(actual),
                verdict.key,
                decimal_str(worst),
            )
        self.attempts.append(Attempt(verdict.provider, verdict.model, plan.max_tokens, worst, actual))

    def exhausted(self) -> Exception:
        """The error to raise when no candidate answered: the last failure, or none fit what was left."""
        if self.last_error is not None:
            return self.last_error
        return NoModelAvailableError("no candidate fits what is left of the budget")


def _falls_back(exc: ProviderError) -> bool:
    """Retryable failures fall back; so do a model the proxy does not serve and a call refused before sending
    (client-side rate limit, cooling model). Bad requests and bad keys would fail on every model: raised."""
    if not exc.request_sent:
        return True
    if isinstance(exc, AuthenticationError | BadRequestError):
        return False
    return exc.retryable or isinstance(exc, ModelNotFoundError)


def _replan(
    router: Decider,
    verdict: CandidateVerdict,
    providers: Mapping[str, Provider],
    prompt_bound: int,
    remaining: Decimal,
    caller_max_tokens: int | None,
) -> tuple[int | None, Decimal] | None:
    """The candidate's ``max_tokens`` and worst case within the remaining budget, or ``None`` if it no longer fits."""
    spec = providers[verdict.provider].get_model_spec(verdict.model)
    if spec is None or spec.pricing is None:
        return None
    plan = plan_output(
        spec.pricing,
        prompt_bound_tokens=prompt_bound,
        max_cost_usd=remaining,
        caller_max_tokens=caller_max_tokens,
        model_max_output_tokens=spec.max_output_tokens or router.policy.default_max_output_tokens,
        min_output_tokens=router.policy.min_output_tokens,
    )
    return (plan.max_tokens, plan.worst_case_cost_usd) if plan.feasible else None
