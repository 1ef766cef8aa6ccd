"""Routers: analyse the prompt, score every (provider, model), apply the policy and the cap, rank with a strategy.

``Router.decide`` is pure and synchronous (no I/O): it works from what the providers already know. ``route_request``
refreshes the providers' model knowledge, decides, sends, and falls back within what is left of the budget.

The top of the router's layers: it composes deciding (analysis, scoring, policy, strategies, prompt bounds) with
sending (:mod:`app.router.execution`, :mod:`app.router.stream_execution`), which see a router only as a
:class:`~app.router.decider.Decider` and never import this module.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal

from app.catalog.reasoning import ReasoningRequest
from app.errors import BudgetExceededError, InvalidRequestError, NoModelAvailableError
from app.events import BudgetRefused, EventBus, Observer, RoutingDecided
from app.pricing import decimal_str
from app.providers.base import Provider
from app.quality import QualityModel
from app.router.analysis import PromptAnalysis, analyze
from app.router.budget import (
    BudgetMode,
    prompt_bound_tokens,
    validate_budget_mode,
    validate_max_cost,
    validate_max_tokens,
)
from app.router.decision import CandidateVerdict, RejectReason, RoutingDecision
from app.router.execution import RoutedResponse, SpendGuard, route_and_send
from app.router.policy import AvailabilityCheck, BudgetPolicy, ProviderAvailability, RequestLimits
from app.router.prompt_bounds import model_prompt_bounds as _prompt_bounds
from app.router.quality import PromptQuality, QualityEstimator, QualityMode, quality_estimator
from app.router.scoring import ModelProfile, expected_output_tokens, score_all
from app.router.strategies import RoutingStrategy, get_strategy, validate_quality_share
from app.router.stream_execution import RoutedStream, route_and_stream
from app.settings import RoutingSettings
from app.tokens.families import FamilyCounts

__all__ = ["CostOptimizedRouter", "HeuristicRouter", "Router"]

Providers = Mapping[str, Provider]
_PROFILE_CACHE_SIZE = 64  # providers whose model profiles a router keeps


class Router:
    """Chooses a model per request within ``max_cost`` (USD, hard cap).

    Args:
        strategy: a registered strategy name or a :class:`RoutingStrategy`; default ``default_strategy``.
        budget_mode: how the prompt is bounded for the cap: ``"estimate"`` (default; per model, its token family's
            calibrated upper estimate, ≥ the real count for ≥ 99.9% of prompts, then what the provider learned from
            the usage it billed), ``"strict"`` (provable for byte-level tokenizers: UTF-8 bytes + framing, widened if
            a model ever billed more), or ``"exact"`` (the proxy's ``/utils/token_counter``; only in
            ``route_request``).
        min_output_tokens: a model the cap allows fewer output tokens than this is infeasible.
        default_max_output_tokens: maximum output assumed for models whose limit is unknown, tokens.
        max_attempts: models tried by ``route_request`` (the choice plus fallbacks).
        availability: optional health / rate-limit check, consulted without waiting.
        providers: the providers used when a call passes none: a plain mapping or a
            :class:`~app.providers.ProviderRegistry` (read at each call, so registrations apply at once).
        observers: callables that receive the router's events (``app.events``: decisions with their time and
            rejections, refusals, fallbacks); more with ``router.events.subscribe``.
        clock: seconds, for the decision time reported in events (tests inject one).
        quality_share: the cost/quality knob in [0, 1], the share of the best affordable model's expected quality a
            request must keep (the cheapest model keeping it wins; see :mod:`app.router.strategies`); per call too.
            Default: ``COSTMUX_QUALITY_SHARE``, else the strategy's own default.
        quality_model: where each candidate's quality comes from (:mod:`app.router.quality`): a
            :class:`~app.router.quality.QualityEstimator`, a trained :class:`~app.quality.QualityModel`, or the
            path of one (``"default"``: the shipped difficulty model), used in ``quality_mode``. Default:
            ``COSTMUX_QUALITY_MODEL``, else the catalog's per-task figures.
        quality_mode: how a quality model is used: ``"combined"`` (default), ``"learned"`` or ``"difficulty"``.
    """

    default_strategy: ClassVar[str] = "cost_optimized"

    def __init__(
        self,
        strategy: str | RoutingStrategy | None = None,
        *,
        budget_mode: BudgetMode = "estimate",
        min_output_tokens: int = 16,
        default_max_output_tokens: int = 4096,
        max_attempts: int = 3,
        availability: AvailabilityCheck | None = None,
        providers: Providers | None = None,
        observers: Sequence[Observer] = (),
        clock: Callable[[], float] = time.perf_counter,
        quality_share: float | None = None,
        quality_model: QualityEstimator | QualityModel | str | Path | None = None,
        quality_mode: QualityMode | None = None,
    ) -> None:
        self.strategy = self._resolve(strategy or self.default_strategy)
        share = validate_quality_share(quality_share)
        settings = RoutingSettings.load()
        self.quality_share = share if share is not None else settings.quality_share
        self.quality = quality_estimator(
            quality_model if quality_model is not None else settings.quality_model,
            quality_mode or settings.quality_mode,
        )
        self.providers = providers
        self.events = EventBus(list(observers))
        self._clock = clock
        self.budget_mode = validate_budget_mode(budget_mode)
        if min_output_tokens < 1 or default_max_output_tokens < min_output_tokens or max_attempts < 1:
            raise InvalidRequestError("min_output_tokens ≥ 1, default_max_output_tokens ≥ it, max_attempts ≥ 1")
        self.max_attempts = max_attempts
        self.policy = BudgetPolicy(min_output_tokens, default_max_output_tokens, availability)
        self._profile_cache: dict[int, tuple[Provider, int, str, tuple[ModelProfile, ...]]] = {}
        self._bounds_of = _prompt_bounds  # each model's prompt bound (bench/bench_routing.py times without it)

    @staticmethod
    def _resolve(strategy: str | RoutingStrategy) -> RoutingStrategy:
        return get_strategy(strategy) if isinstance(strategy, str) else strategy

    # -- deciding ----------------------------------------------------------------------------------------------

    def _providers(self, providers: Providers | None) -> Providers:
        chosen = self.providers if providers is None else providers
        if chosen is None:
            raise InvalidRequestError("no providers: pass providers= to the call or to the router")
        return chosen

    def decide(
        self,
        messages: Sequence[Any],
        providers: Providers | None = None,
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
        """Choose a model; every candidate's verdict is recorded in the decision (``providers``: default the
        router's).

        ``prompt_bounds`` maps ``provider/model`` to an exact prompt token count (``"exact"`` mode). ``reasoning`` is
        what the request asks of reasoning models (``app.catalog.reasoning_request(params)``): their expected
        reasoning tokens count in the expected cost, and a thinking budget in the least output they need.
        ``quality_share`` overrides the router's cost/quality knob for this request.

        Raises:
            InvalidRequestError: invalid ``max_cost``, ``max_tokens``, ``budget_mode``, ``quality_share`` or
                messages.
            BudgetExceededError: only the cap rules out the models that could serve the request.
            NoModelAvailableError: no model fits for other reasons (each model's reason is attached).
        """
        started = self._clock() if self.events.active else 0.0
        providers = self._providers(providers)
        cap = validate_max_cost(max_cost)
        caller_max_tokens = validate_max_tokens(max_tokens)
        mode = validate_budget_mode(budget_mode or self.budget_mode)
        if mode == "exact" and prompt_bounds is None:
            raise InvalidRequestError('budget_mode="exact" counts tokens through the proxy: use route_request')
        ranker = self.strategy if strategy is None else self._resolve(strategy)
        share = self.quality_share if quality_share is None else validate_quality_share(quality_share)
        if not messages:
            raise InvalidRequestError("messages must not be empty")
        analysis = analyze(
            messages, tools=tools, response_format=response_format, max_tokens=caller_max_tokens, reasoning=reasoning
        )
        bound = prompt_bound_tokens(analysis, mode)
        verdicts, kept = self._judge_all(
            providers,
            analysis,
            cap,
            caller_max_tokens,
            bound,
            exclude,
            prompt_bounds or {},
            mode,
            self.quality.prepare(messages, analysis),
        )
        strategy_name = ranker.name or type(ranker).__name__
        if not kept:
            error = _no_model_error(verdicts, cap)
            if self.events.active:
                refusal: Literal["over_budget", "no_model"] = (
                    "over_budget" if isinstance(error, BudgetExceededError) else "no_model"
                )
                self.events.emit(BudgetRefused(strategy_name, refusal, self._clock() - started, _rejections(verdicts)))
            raise error
        ranked, reason = ranker.rank(kept, analysis, share)
        chosen = ranked[0]
        if self.events.active:
            self.events.emit(
                RoutingDecided(
                    strategy=strategy_name,
                    provider=chosen.provider,
                    model=chosen.model,
                    duration_s=self._clock() - started,
                    estimated_cost_usd=chosen.estimated_cost_usd,
                    worst_case_cost_usd=chosen.worst_case_cost_usd,
                    rejections=_rejections(verdicts),
                )
            )
        return RoutingDecision(
            provider=chosen.provider,
            model=chosen.model,
            strategy=strategy_name,
            reason=reason,
            max_tokens=chosen.max_tokens,
            ranked=tuple(ranked),
            candidates=tuple(verdicts),
            analysis=analysis,
            max_cost_usd=cap,
            budget_mode=mode,
            quality_share=share,
        )

    def _judge_all(
        self,
        providers: Providers,
        analysis: PromptAnalysis,
        cap: Any,
        caller_max_tokens: int | None,
        bound: int,
        exclude: Collection[str],
        prompt_bounds: Mapping[str, int],
        mode: BudgetMode = "estimate",
        prompt_quality: PromptQuality | None = None,
    ) -> tuple[list[CandidateVerdict], list[CandidateVerdict]]:
        """Every candidate's verdict and the kept ones, provider by provider, each model's worst case computed with
        its own prompt bound (:func:`_prompt_bounds`; exact counts in ``prompt_bounds`` win) and its quality from
        ``prompt_quality`` where it has a figure (else the catalog's)."""
        if not providers:
            raise InvalidRequestError("providers must name at least one provider")
        output_tokens = expected_output_tokens(analysis)
        verdicts: list[CandidateVerdict] = []
        kept: list[CandidateVerdict] = []
        prompt_tokens = analysis.upper_estimate_tokens
        counts = analysis.token_counts
        families: dict[str, FamilyCounts] = {}
        family_bounds: dict[str, int] = {}
        for provider_name, provider in providers.items():
            profiles = self._profiles_of(provider_name, provider)
            learned: dict[str, int] | None = None
            if counts is not None:
                learned = self._bounds_of(provider, profiles, counts, mode, families, family_bounds)
            if prompt_bounds:
                learned = {**learned, **prompt_bounds} if learned else dict(prompt_bounds)
            limits = RequestLimits.of(cap, caller_max_tokens, bound, exclude, learned, family_bounds)
            unavailable, check = _availability_of(provider, prompt_tokens)
            estimates = prompt_quality.estimate(profiles) if prompt_quality is not None else None
            scores = score_all(profiles, analysis, output_tokens, estimates)
            judged, kept_here = self.policy.judge_all(profiles, scores, analysis, limits, unavailable, check)
            verdicts += judged
            kept += kept_here
        return verdicts, kept

    def _profiles_of(self, provider_name: str, provider: Provider) -> tuple[ModelProfile, ...]:
        """The provider's models as routing profiles, rebuilt only when its ``models_version`` changes."""
        version = provider.models_version
        cached = self._profile_cache.get(id(provider))
        if cached is not None and cached[0] is provider and cached[1] == version and cached[2] == provider_name:
            return cached[3]
        profiles = tuple(
            ModelProfile.from_spec(provider_name, model, spec)
            for model in sorted(provider.get_supported_models())  # name order: ties are broken by name
            if (spec := provider.get_model_spec(model)) is not None
        )
        if len(self._profile_cache) >= _PROFILE_CACHE_SIZE:
            self._profile_cache.clear()
        self._profile_cache[id(provider)] = (provider, version, provider_name, profiles)
        return profiles

    def select_model(
        self,
        messages: Sequence[Any],
        providers: Providers | None = None,
        *,
        max_cost: Any = None,
        max_tokens: int | None = None,
        budget_mode: BudgetMode | None = None,
        strategy: str | RoutingStrategy | None = None,
        quality_share: float | None = None,
        **request: Any,
    ) -> tuple[str, str, str]:
        """``(provider_name, model, reason)`` for the request (see :meth:`decide`; ``request`` may hold
        ``tools``, ``response_format`` and ``exclude``)."""
        decision = self.decide(
            messages,
            providers,
            max_cost=max_cost,
            max_tokens=max_tokens,
            budget_mode=budget_mode,
            strategy=strategy,
            quality_share=quality_share,
            **request,
        )
        return decision.provider, decision.model, decision.reason

    async def route_request(
        self,
        messages: Sequence[Any],
        providers: Providers | None = None,
        strategy: str | RoutingStrategy | None = None,
        max_cost: Any = None,
        max_tokens: int | None = None,
        budget_mode: BudgetMode | None = None,
        exclude: Collection[str] = (),
        spend: SpendGuard | None = None,
        quality_share: float | None = None,
        **params: Any,
    ) -> RoutedResponse:
        """Decide, send, and fall back on retryable failures within what is left of ``max_cost``.

        ``params`` (``temperature``, ``tools``, ``response_format``, ...) are sent to the provider; ``tools`` and
        ``response_format`` also count in the routing. ``exclude`` names models not to use. ``spend``: spend budgets
        each attempt's worst case is reserved on before it is sent (:class:`~app.router.execution.SpendGuard`).
        ``quality_share`` is the cost/quality knob for this request.

        Returns a :class:`~app.router.execution.RoutedResponse`: the provider's response, the decision, the
        attempts and the actual cost of all of them.
        """
        return await route_and_send(
            self,
            messages,
            self._providers(providers),
            strategy=strategy,
            max_cost=max_cost,
            max_tokens=max_tokens,
            budget_mode=budget_mode,
            exclude=exclude,
            quality_share=quality_share,
            params=params,
            spend=spend,
        )

    async def route_stream(
        self,
        messages: Sequence[Any],
        providers: Providers | None = None,
        strategy: str | RoutingStrategy | None = None,
        max_cost: Any = None,
        max_tokens: int | None = None,
        budget_mode: BudgetMode | None = None,
        exclude: Collection[str] = (),
        spend: SpendGuard | None = None,
        quality_share: float | None = None,
        **params: Any,
    ) -> RoutedStream:
        """Like :meth:`route_request`, streamed: decide, then open the choice's stream up to its first chunk,
        falling back (within what is left of ``max_cost``) only before that chunk.

        Returns a :class:`~app.router.stream_execution.RoutedStream` (``async for chunk in routed``); its
        ``cost_usd`` is set when the stream ends. A failure after the first chunk is raised to the consumer.
        """
        return await route_and_stream(
            self,
            messages,
            self._providers(providers),
            strategy=strategy,
            max_cost=max_cost,
            max_tokens=max_tokens,
            budget_mode=budget_mode,
            exclude=exclude,
            quality_share=quality_share,
            params=params,
            spend=spend,
        )


class HeuristicRouter(Router):
    """Quality first: the model best suited to the analysed task, within the budget."""

    default_strategy: ClassVar[str] = "heuristic"


class CostOptimizedRouter(Router):
    """The cheapest model whose quality for the task meets a floor rising with complexity, within the budget."""

    default_strategy: ClassVar[str] = "cost_optimized"


def _availability_of(
    provider: Provider, prompt_tokens: int
) -> tuple[Mapping[str, tuple[str, str]] | None, ProviderAvailability | None]:
    """How the policy learns which of the provider's models can't take a request now: all at once when the provider
    offers ``unavailable_models(prompt_tokens)``, else per model through ``model_availability``, else never."""
    batch = getattr(provider, "unavailable_models", None)
    if batch is not None:
        return batch(prompt_tokens), None
    return None, getattr(provider, "model_availability", None)


def _rejections(verdicts: list[CandidateVerdict]) -> tuple[tuple[str, str, str], ...]:
    """``(provider, model, reason)`` of every rejected candidate, for events."""
    return tuple((v.provider, v.model, v.reason.value) for v in verdicts if v.reason is not None and not v.kept)


def _float_at_least(value: Decimal) -> float:
    """The nearest float not below ``value`` (so a cap set to it admits what ``value`` costs)."""
    rounded = float(value)
    return math.nextafter(rounded, math.inf) if Decimal(rounded) < value else rounded


def _no_model_error(verdicts: list[CandidateVerdict], cap: Any) -> Exception:
    """BudgetExceededError when the cap is what rules out the otherwise usable models, else NoModelAvailable."""
    reasons = {verdict.key: f"{verdict.reason}: {verdict.detail}" for verdict in verdicts}
    over_budget = [v for v in verdicts if v.reason is RejectReason.OVER_BUDGET]
    if cap is not None and over_budget:
        cheapest = min(v.worst_case_cost_usd for v in over_budget if v.worst_case_cost_usd is not None)
        return BudgetExceededError(
            f"no model fits max_cost ${decimal_str(cap)}: the cheapest option costs up to ${decimal_str(cheapest)}",
            max_cost_usd=float(cap),
            cheapest_cost_usd=_float_at_least(cheapest),
            reasons=reasons,
        )
    if not verdicts:
        return NoModelAvailableError("the providers know no models (sync them, or declare custom_models)")
    summary = "; ".join(f"{key}: {why}" for key, why in reasons.items())
    return NoModelAvailableError(f"no model can take this request ({summary})", reasons=reasons)
