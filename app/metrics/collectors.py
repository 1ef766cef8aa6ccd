"""The Prometheus collectors of costmux, created once per ``CollectorRegistry`` and shared by every
:class:`~app.metrics.CostmuxMetrics` on that registry (so a second instance never raises a duplicate-registration
error). Names follow Prometheus conventions: prefix ``costmux_``, base units, counters end in ``_total``.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, fields

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from app.errors import ConfigurationError

__all__ = ["Collectors", "collectors_for"]

PREFIX = "costmux"

REQUEST_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
TTFT_BUCKETS_S = (0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
WAIT_BUCKETS_S = (0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
# a decision takes tens of microseconds to a few milliseconds (docs/benchmarks.md: ~200 µs for 20 models)
DECISION_BUCKETS_S = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
)


@dataclass(frozen=True, slots=True)
class Collectors:
    """Every costmux metric of one registry (see docs/metrics.md for labels and meaning)."""

    requests: Counter
    request_duration: Histogram
    ttft: Histogram
    tokens: Counter
    cost: Counter
    decisions: Counter
    rejections: Counter
    refusals: Counter
    over_estimate: Counter
    fallbacks: Counter
    retries: Counter
    holds: Counter
    rate_limit_wait: Histogram
    health: Gauge
    cooldown: Gauge
    breaker_openings: Counter
    decision_time: Histogram
    budget_limit: Gauge
    budget_spent: Gauge
    budget_reserved: Gauge
    budget_remaining: Gauge
    spend: Counter
    spend_refusals: Counter
    store_errors: Counter
    prompt_factor: Gauge
    bound_misses: Counter


def _create() -> Collectors:
    """The collectors, registered nowhere yet."""
    r = None
    pm = ("provider", "model")
    return Collectors(
        requests=Counter(
            f"{PREFIX}_requests",
            "Provider calls (chat and stream) by outcome: success or an error kind; counted once, after retries.",
            [*pm, "outcome"],
            registry=r,
        ),
        request_duration=Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Duration of provider calls, from the call to its last byte (a stream: to its end), seconds.",
            [*pm, "stream"],
            buckets=REQUEST_BUCKETS_S,
            registry=r,
        ),
        ttft=Histogram(
            f"{PREFIX}_time_to_first_token_seconds",
            "Time from a streamed call to its first chunk, seconds.",
            pm,
            buckets=TTFT_BUCKETS_S,
            registry=r,
        ),
        tokens=Counter(
            f"{PREFIX}_tokens",
            "Tokens of provider calls as reported by the proxy, by kind (prompt or completion).",
            [*pm, "kind"],
            registry=r,
        ),
        cost=Counter(
            f"{PREFIX}_cost_usd",
            "Actual cost of provider calls, USD (calls whose cost is unknown add nothing).",
            pm,
            registry=r,
        ),
        decisions=Counter(
            f"{PREFIX}_routing_decisions",
            "Routing decisions by strategy and chosen provider and model.",
            ["strategy", *pm],
            registry=r,
        ),
        rejections=Counter(
            f"{PREFIX}_routing_rejections",
            "Candidate models ruled out by routing decisions and refusals, by reason.",
            ["strategy", "reason"],
            registry=r,
        ),
        refusals=Counter(
            f"{PREFIX}_budget_refusals",
            "Requests a router refused: over_budget (only max_cost ruled the models out) or no_model.",
            ["strategy", "reason"],
            registry=r,
        ),
        over_estimate=Counter(
            f"{PREFIX}_cost_over_estimate",
            "Routed calls whose actual cost exceeded the worst case they were planned with (check prices).",
            pm,
            registry=r,
        ),
        fallbacks=Counter(
            f"{PREFIX}_fallbacks",
            "Routed requests that left a failed model for the next candidate, by the failed model and error kind.",
            ["strategy", *pm, "error"],
            registry=r,
        ),
        retries=Counter(
            f"{PREFIX}_retries",
            "Provider retries by error kind (model 'none': calls not for a model, such as the model list).",
            [*pm, "error"],
            registry=r,
        ),
        holds=Counter(
            f"{PREFIX}_rate_limit_holds",
            "429 answers that held a model off for every request of the process.",
            pm,
            registry=r,
        ),
        rate_limit_wait=Histogram(
            f"{PREFIX}_rate_limit_wait_seconds",
            "Time calls waited for the client-side rate limiter before being sent, seconds (calls that waited).",
            pm,
            buckets=WAIT_BUCKETS_S,
            registry=r,
        ),
        health=Gauge(
            f"{PREFIX}_model_health",
            "Circuit breaker of a model: 1 closed (healthy), 0.5 half_open (on trial), 0 open (cooling down).",
            pm,
            registry=r,
        ),
        cooldown=Gauge(
            f"{PREFIX}_model_cooldown_seconds",
            "Cooldown of a model's open circuit breaker, seconds (0 when it is not open).",
            pm,
            registry=r,
        ),
        breaker_openings=Counter(
            f"{PREFIX}_breaker_openings",
            "Times a model's circuit breaker opened (after failures, or a failed trial).",
            pm,
            registry=r,
        ),
        decision_time=Histogram(
            f"{PREFIX}_routing_decision_seconds",
            "Time a router took to decide (a choice or a refusal), seconds.",
            ["strategy"],
            buckets=DECISION_BUCKETS_S,
            registry=r,
        ),
        budget_limit=Gauge(
            f"{PREFIX}_budget_limit_usd",
            "A spend budget of the keys file (scope: key:<name>, team:<name>, gateway; window: hour, day, month), USD.",
            ["scope", "window"],
            registry=r,
        ),
        budget_spent=Gauge(
            f"{PREFIX}_budget_spent_usd",
            "Spent in a budget's current window, USD (the shared store's figure as this replica last read it).",
            ["scope", "window"],
            registry=r,
        ),
        budget_reserved=Gauge(
            f"{PREFIX}_budget_reserved_usd",
            "Reserved in a budget's current window by requests in flight (their worst case), USD.",
            ["scope", "window"],
            registry=r,
        ),
        budget_remaining=Gauge(
            f"{PREFIX}_budget_remaining_usd",
            "What a budget can still take in its current window (limit - spent - reserved, at least 0), USD.",
            ["scope", "window"],
            registry=r,
        ),
        spend=Counter(
            f"{PREFIX}_spend_usd",
            "Cost charged to a budget scope by this replica's requests (settled attempts), USD.",
            ["scope"],
            registry=r,
        ),
        spend_refusals=Counter(
            f"{PREFIX}_spend_refusals",
            "Requests refused (402) because a spend budget could not take their worst case.",
            ["scope", "window"],
            registry=r,
        ),
        store_errors=Counter(
            f"{PREFIX}_store_errors",
            "Failed operations on the shared store (Redis): budgets fail closed, rate limits and health fall back.",
            ["store", "operation", "outcome"],
            registry=r,
        ),
        prompt_factor=Gauge(
            f"{PREFIX}_prompt_bound_factor",
            "Learned high quantile of billed prompt tokens / estimate per model and text group (the cap's "
            "bound is about this times the estimate once enough calls are seen).",
            [*pm, "group"],
            registry=r,
        ),
        bound_misses=Counter(
            f"{PREFIX}_bound_misses",
            "Answered calls that billed more than a bound: the prompt over the family prior ('prior') or over the "
            "bound the cap was checked with ('bound'), the completion over the max_tokens sent ('max_tokens').",
            [*pm, "bound"],
            registry=r,
        ),
    )


_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, Collectors] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def collectors_for(registry: CollectorRegistry) -> Collectors:
    """The costmux collectors of ``registry``, registering them on first use.

    Raises:
        ConfigurationError: something else already registered a metric with one of these names.
    """
    with _lock:
        found = _by_registry.get(registry)
        if found is None:
            found = _create()
            _register_all(registry, found)
            _by_registry[registry] = found
        return found


def _register_all(registry: CollectorRegistry, collectors: Collectors) -> None:
    """Register every collector, or none: a name conflict undoes the registrations already made."""
    done: list[Counter | Gauge | Histogram] = []
    for collector in (getattr(collectors, field.name) for field in fields(collectors)):
        try:
            registry.register(collector)
        except ValueError as exc:  # prometheus_client: "Duplicated timeseries in CollectorRegistry"
            for registered in done:
                registry.unregister(registered)
            raise ConfigurationError(f"cannot register costmux metrics on this registry: {exc}") from exc
        done.append(collector)
