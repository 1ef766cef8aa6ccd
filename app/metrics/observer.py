""":class:`CostmuxMetrics`: turns the events of providers and routers (``app.events``) into Prometheus metrics.

``metrics.instrument(provider_or_router)`` subscribes :meth:`CostmuxMetrics.observe` to its events;
``metrics.instrument(registry)`` does so for every provider of a :class:`~app.providers.ProviderRegistry`, including
those registered later. Each event
updates a few collectors (see docs/metrics.md); label values are bounded by :class:`~app.metrics.labels.LabelBounds`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, make_asgi_app

from app.errors import ConfigurationError, CostmuxError
from app.events import (
    BudgetRefused,
    BudgetUsage,
    CostOverEstimate,
    Event,
    EventBus,
    Fallback,
    HealthChanged,
    PromptUsageLearned,
    RateLimitHeld,
    RateLimitWaited,
    RequestFinished,
    RetryScheduled,
    RoutingDecided,
    SpendRefused,
    SpendSettled,
    StoreFailed,
)
from app.metrics.collectors import Collectors, collectors_for
from app.metrics.labels import (
    ERRORS,
    OUTCOMES,
    REFUSALS,
    REJECTIONS,
    STORE_OPERATIONS,
    STORES,
    TEXT_GROUP_NAMES,
    WINDOWS,
    LabelBounds,
    closed,
)
from app.providers import ProviderRegistry, RegistryChange
from app.providers.base import Provider
from app.router import Router

__all__ = ["CostmuxMetrics"]

logger = logging.getLogger("costmux.metrics")

T = TypeVar("T")

HEALTH_VALUES = {"closed": 1.0, "half_open": 0.5, "open": 0.0}
"""The value of ``costmux_model_health`` per circuit-breaker state."""


class CostmuxMetrics:
    """Prometheus metrics of the providers and routers it instruments.

    Args:
        registry: where the metrics are registered; default the global ``prometheus_client.REGISTRY``. Several
            instances on one registry share its collectors (no duplicate-registration error).
        max_models: the most distinct model names used as labels; further models are labelled ``other``.
        max_providers: the most distinct provider names used as labels.

    Raises:
        ConfigurationError: something other than costmux already registered a metric of the same name.
    """

    content_type: str = CONTENT_TYPE_LATEST
    """The content type of :meth:`render`'s output (Prometheus text format)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, max_models: int = 500, max_providers: int = 100
    ) -> None:
        self.registry: CollectorRegistry = registry if registry is not None else REGISTRY
        self._c: Collectors = collectors_for(self.registry)
        self.labels = LabelBounds(max_models=max_models, max_providers=max_providers, on_learn=self._set_initial_health)
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            RequestFinished: self._request_finished,
            RetryScheduled: self._retry,
            RateLimitWaited: self._waited,
            RateLimitHeld: self._held,
            HealthChanged: self._health_changed,
            RoutingDecided: self._decided,
            BudgetRefused: self._refused,
            Fallback: self._fallback,
            CostOverEstimate: self._over_estimate,
            BudgetUsage: self._budget_usage,
            SpendSettled: self._spend_settled,
            SpendRefused: self._spend_refused,
            StoreFailed: self._store_failed,
            PromptUsageLearned: self._prompt_usage,
        }

    def __repr__(self) -> str:
        return f"CostmuxMetrics(registry={self.registry!r})"

    # -- wiring ----------------------------------------------------------------------------------------------------

    def instrument(self, target: T) -> T:
        """Observe ``target``'s events (a provider or a router) and learn its configured names; returns it.

        Instrumenting twice is a no-op. A router's decisions are counted; the calls it sends are counted by
        instrumenting its providers too. For a :class:`~app.providers.ProviderRegistry`: its providers now, and
        each provider registered later (a provider unregistered is no longer observed).

        Raises:
            ConfigurationError: ``target`` has no ``events`` bus.
        """
        if isinstance(target, ProviderRegistry):
            for name, provider in target.items():
                self._registry_changed("registered", name, provider)
            target.watch(self._registry_changed)
            return target
        events = getattr(target, "events", None)
        if not isinstance(events, EventBus):
            raise ConfigurationError(f"{type(target).__name__} emits no events: instrument a provider or a router")
        if isinstance(target, Router):
            self.labels.add_router(target)
        elif isinstance(target, Provider):
            self.labels.add_provider(target)
        events.subscribe(self.observe)
        return target

    def uninstrument(self, target: Any) -> None:
        """Stop observing ``target`` (for a registry: its providers, and registrations); names and counted values
        stay."""
        if isinstance(target, ProviderRegistry):
            target.unwatch(self._registry_changed)
            for provider in target.values():
                self.uninstrument(provider)
            return
        events = getattr(target, "events", None)
        if isinstance(events, EventBus):
            events.unsubscribe(self.observe)

    def _registry_changed(self, change: RegistryChange, name: str, provider: Provider) -> None:
        """A registry's watcher: observe what is registered, stop observing what is removed."""
        events = getattr(provider, "events", None)
        if not isinstance(events, EventBus):
            if change == "registered":
                logger.warning("provider %r emits no events: its calls are not counted", name)
            return
        if change == "registered":
            self.labels.add_provider(provider, key=name)
            events.subscribe(self.observe)
        else:
            events.unsubscribe(self.observe)

    def observe(self, event: Event) -> None:
        """Record one event (the observer that :meth:`instrument` subscribes)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    # -- exposition ------------------------------------------------------------------------------------------------

    def render(self) -> bytes:
        """The exposition of :attr:`registry` in the Prometheus text format (``content_type``)."""
        return generate_latest(self.registry)

    def asgi_app(self) -> Callable[..., Any]:
        """An ASGI app serving :meth:`render` (mount it at ``/metrics``)."""
        return make_asgi_app(registry=self.registry)

    # -- events -> metrics -----------------------------------------------------------------------------------------

    def _pm(self, provider: str, model: str | None) -> tuple[str, str]:
        return self.labels.provider(provider), self.labels.model(model)

    def _child(self, metric: Any, *values: str) -> Any:
        """``metric.labels(*values)``, memoized (label values are bounded, so is the memo)."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def _request_finished(self, e: RequestFinished) -> None:
        c, (p, m) = self._c, self._pm(e.provider, e.model)
        self._child(c.requests, p, m, closed(e.outcome, OUTCOMES)).inc()
        self._child(c.request_duration, p, m, "true" if e.stream else "false").observe(max(0.0, e.duration_s))
        if e.ttft_s is not None:
            self._child(c.ttft, p, m).observe(max(0.0, e.ttft_s))
        if e.prompt_tokens is not None and e.prompt_tokens >= 0:
            self._child(c.tokens, p, m, "prompt").inc(e.prompt_tokens)
        if e.completion_tokens is not None and e.completion_tokens >= 0:
            self._child(c.tokens, p, m, "completion").inc(e.completion_tokens)
        if e.cost_usd is not None and e.cost_usd >= 0:
            self._child(c.cost, p, m).inc(float(e.cost_usd))

    def _retry(self, e: RetryScheduled) -> None:
        self._child(self._c.retries, *self._pm(e.provider, e.model), closed(e.error, ERRORS)).inc()

    def _waited(self, e: RateLimitWaited) -> None:
        self._child(self._c.rate_limit_wait, *self._pm(e.provider, e.model)).observe(max(0.0, e.wait_s))

    def _held(self, e: RateLimitHeld) -> None:
        self._child(self._c.holds, *self._pm(e.provider, e.model)).inc()

    def _health_changed(self, e: HealthChanged) -> None:
        c, pm = self._c, self._pm(e.provider, e.model)
        self._child(c.health, *pm).set(HEALTH_VALUES.get(e.state, 0.0))
        self._child(c.cooldown, *pm).set(e.cooldown_s if e.state == "open" else 0.0)
        if e.state == "open" and not e.observed:
            self._child(c.breaker_openings, *pm).inc()

    def _set_initial_health(self, provider_label: str, provider: Provider, models: list[str]) -> None:
        """Newly known models start with their breaker's current state (closed unless the provider says)."""
        if provider_label == "other":
            return
        info = getattr(provider, "get_model_info", None)  # LiteLLMProvider's; not part of the Provider interface
        for model in models:
            state: object = "closed"
            if callable(info):
                with contextlib.suppress(CostmuxError):
                    state = info(model).get("health", {}).get("state", "closed")
            self._child(self._c.health, provider_label, model).set(HEALTH_VALUES.get(str(state), 1.0))

    def _rejected(self, strategy: str, rejections: tuple[tuple[str, str, str], ...]) -> None:
        for _, _, reason in rejections:
            self._child(self._c.rejections, strategy, closed(reason, REJECTIONS)).inc()

    def _decided(self, e: RoutingDecided) -> None:
        c, s = self._c, self.labels.strategy(e.strategy)
        self._child(c.decisions, s, *self._pm(e.provider, e.model)).inc()
        self._child(c.decision_time, s).observe(max(0.0, e.duration_s))
        self._rejected(s, e.rejections)

    def _refused(self, e: BudgetRefused) -> None:
        c, s = self._c, self.labels.strategy(e.strategy)
        self._child(c.refusals, s, closed(e.reason, REFUSALS)).inc()
        self._child(c.decision_time, s).observe(max(0.0, e.duration_s))
        self._rejected(s, e.rejections)

    def _fallback(self, e: Fallback) -> None:
        s = self.labels.strategy(e.strategy)
        self._child(self._c.fallbacks, s, *self._pm(e.provider, e.model), closed(e.error, ERRORS)).inc()

    def _over_estimate(self, e: CostOverEstimate) -> None:
        self._child(self._c.over_estimate, *self._pm(e.provider, e.model)).inc()

    def _budget_usage(self, e: BudgetUsage) -> None:
        c, labels = self._c, (self.labels.scope(e.scope), closed(e.window, WINDOWS))
        limit, spent, reserved = float(e.max_usd), float(e.spent_usd), float(e.reserved_usd)
        self._child(c.budget_limit, *labels).set(limit)
        self._child(c.budget_spent, *labels).set(spent)
        self._child(c.budget_reserved, *labels).set(reserved)
        self._child(c.budget_remaining, *labels).set(max(0.0, float(e.max_usd - e.spent_usd - e.reserved_usd)))

    def _spend_settled(self, e: SpendSettled) -> None:
        if e.cost_usd > 0:
            self._child(self._c.spend, self.labels.scope(e.scope)).inc(float(e.cost_usd))

    def _spend_refused(self, e: SpendRefused) -> None:
        self._child(self._c.spend_refusals, self.labels.scope(e.scope), closed(e.window, WINDOWS)).inc()

    def _store_failed(self, e: StoreFailed) -> None:
        outcome = "fallback" if e.fallback else "failed"
        self._child(self._c.store_errors, closed(e.store, STORES), closed(e.operation, STORE_OPERATIONS), outcome).inc()

    def _prompt_usage(self, e: PromptUsageLearned) -> None:
        c, pm = self._c, self._pm(e.provider, e.model)
        if e.factor is not None:
            self._child(c.prompt_factor, *pm, closed(e.group, TEXT_GROUP_NAMES)).set(e.factor)
        if e.billed_prompt_tokens > e.upper_tokens:
            self._child(c.bound_misses, *pm, "prior").inc()
        if e.billed_prompt_tokens > e.bound_tokens:
            self._child(c.bound_misses, *pm, "bound").inc()
        if (
            e.max_tokens is not None
            and e.billed_completion_tokens is not None
            and e.billed_completion_tokens > e.max_tokens
        ):
            self._child(c.bound_misses, *pm, "max_tokens").inc()
