"""Events from providers and routers (``app.events``): exactly which records each kind of call emits.

Transport-level (``httpx.MockTransport``) with an injected clock that the scripted proxy and the test advance, so
durations, waits and cooldowns are exact and nothing sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.errors import (
    BudgetExceededError,
    NoModelAvailableError,
    PricingError,
    ProviderUnavailableError,
    RateLimitError,
    StreamInterruptedError,
)
from app.events import (
    ERROR_KINDS,
    BudgetRefused,
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
    error_kind,
)
from app.providers import LiteLLMProvider, ProviderRegistry, RetryPolicy
from app.providers.health import HealthPolicy
from app.router import CostOptimizedRouter, HeuristicRouter
from tests.router.conftest import FLEET, model
from tests.scripted import CALL_S, PRICED, FakeClock, ScriptedProxy, StepClock, chunk
from tests.unit.conftest import sse

MESSAGES = [{"role": "user", "content": "hello there"}]
CODE = [{"role": "user", "content": "Write a Python function that reverses a linked list, with tests."}]

MODELS: dict[str, dict[str, Any]] = {
    "m": PRICED,
    "rpm1": {**PRICED, "rate_limits": {"requests_per_minute": 1}},
    "unpriced": {"metadata": {"context_window": 8000}},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def proxy(clock: FakeClock) -> ScriptedProxy:
    return ScriptedProxy(clock)


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
def make(clock: FakeClock, proxy: ScriptedProxy, events: list[Event]) -> Callable[..., LiteLLMProvider]:
    def build(models: dict[str, dict[str, Any]] = MODELS, **kwargs: Any) -> LiteLLMProvider:
        kwargs.setdefault("max_retries", 0)
        kwargs.setdefault("clock", clock)
        return LiteLLMProvider(
            "http://proxy.test",
            "k",
            custom_models=models,
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(proxy)),
            retry_policy=RetryPolicy(sleep=clock.sleep),
            catalog=None,
            observers=[events.append],
            **kwargs,
        )

    return build


def of(events: list[Event], kind: type[Any]) -> list[Any]:
    return [event for event in events if isinstance(event, kind)]


USAGE = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "choices": [],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}


# -- provider: requests --------------------------------------------------------------------------------------------


async def test_a_chat_success_is_one_request_with_tokens_and_exact_cost(
    make: Callable[..., LiteLLMProvider], events: list[Event]
) -> None:
    await make().chat_completion(MESSAGES, "m")
    assert [type(e) for e in events] == [RequestFinished, PromptUsageLearned]  # the billed usage is learned from
    assert of(events, RequestFinished) == [
        RequestFinished(
            provider="litellm",
            model="m",
            stream=False,
            outcome="success",
            duration_s=CALL_S,
            prompt_tokens=10,
            completion_tokens=20,
            cost_usd=Decimal("0.000180"),  # 10 × 2e-6 + 20 × 8e-6
        )
    ]


async def test_a_chat_http_error_is_one_failed_request_without_tokens(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.script["m"] = [503]
    with pytest.raises(ProviderUnavailableError):
        await make().chat_completion(MESSAGES, "m")
    assert events == [RequestFinished("litellm", "m", False, "unavailable", CALL_S)]


async def test_retries_are_reported_with_their_waits_and_the_request_once(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, clock: FakeClock, events: list[Event]
) -> None:
    proxy.script["m"] = [503, 502]
    await make(max_retries=2).chat_completion(MESSAGES, "m")
    retries = of(events, RetryScheduled)
    assert [(r.provider, r.model, r.error) for r in retries] == [("litellm", "m", "unavailable")] * 2
    assert [r.wait_s for r in retries] == clock.slept and len(clock.slept) == 2
    (finished,) = of(events, RequestFinished)
    assert finished.outcome == "success" and finished.duration_s == pytest.approx(3 * CALL_S + sum(clock.slept))
    assert events.index(finished) > max(events.index(r) for r in retries)  # reported after its retries


async def test_a_request_refused_by_the_rate_limiter_is_reported_without_being_sent(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    provider = make()
    await provider.chat_completion(MESSAGES, "rpm1")
    events.clear()
    with pytest.raises(RateLimitError):
        await provider.chat_completion(MESSAGES, "rpm1", rate_limit_timeout_s=0)
    assert events == [RequestFinished("litellm", "rpm1", False, "rate_limited", 0.0)]
    assert len(proxy.sent) == 1


async def test_an_unpriced_model_is_refused_and_reported_as_unpriced(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    with pytest.raises(PricingError):
        await make().chat_completion(MESSAGES, "unpriced")
    assert events == [RequestFinished("litellm", "unpriced", False, "unpriced", 0.0)]
    assert proxy.sent == []


async def test_a_wait_for_the_rate_limiter_is_reported_with_its_length(
    make: Callable[..., LiteLLMProvider], clock: FakeClock, events: list[Event]
) -> None:
    provider = make(rate_limit_timeout_s=120)
    await provider.chat_completion(MESSAGES, "rpm1")
    assert of(events, RateLimitWaited) == []
    await provider.chat_completion(MESSAGES, "rpm1")  # 1 rpm: the second request waits until one refills
    assert of(events, RateLimitWaited) == [RateLimitWaited("litellm", "rpm1", pytest.approx(60.0 - CALL_S))]
    assert sum(clock.slept) == pytest.approx(60.0 - CALL_S)


async def test_no_wait_is_reported_when_nothing_waited_on_a_real_clock(
    make: Callable[..., LiteLLMProvider], events: list[Event]
) -> None:
    """Regression: with a real monotonic clock, any two readings differ, so every admission reported a wait."""
    provider = make(clock=time.monotonic)
    for model_name in ("m", "rpm1"):
        await provider.chat_completion(MESSAGES, model_name)
    assert of(events, RateLimitWaited) == []
    assert [e.outcome for e in of(events, RequestFinished)] == ["success", "success"]


async def test_a_429_holds_the_model_and_says_for_how_long(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.script["m"] = [429]
    with pytest.raises(RateLimitError):
        await make().chat_completion(MESSAGES, "m")
    assert of(events, RateLimitHeld) == [RateLimitHeld("litellm", "m", 60.0)]
    assert [e.outcome for e in of(events, RequestFinished)] == ["rate_limited"]
    assert of(events, HealthChanged) == []  # a 429 is not ill health


async def test_the_breaker_reports_open_half_open_closed_and_a_failed_trial(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, clock: FakeClock, events: list[Event]
) -> None:
    provider = make(health_policy=HealthPolicy(failure_threshold=2, cooldown_s=5, cooldown_multiplier=2))
    proxy.script["m"] = [503, 503, 503]
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError):
            await provider.chat_completion(MESSAGES, "m")
    assert of(events, HealthChanged) == [HealthChanged("litellm", "m", "open", 5.0)]
    with pytest.raises(ProviderUnavailableError):  # cooling down: refused before sending
        await provider.chat_completion(MESSAGES, "m")
    assert of(events, RequestFinished)[-1].outcome == "unavailable" and len(proxy.sent) == 2
    clock.now += 5
    with pytest.raises(ProviderUnavailableError):  # the trial fails: open again, twice as long
        await provider.chat_completion(MESSAGES, "m")
    clock.now += 10
    await provider.chat_completion(MESSAGES, "m")  # the next trial succeeds
    assert [(e.state, e.cooldown_s) for e in of(events, HealthChanged)] == [
        ("open", 5.0),
        ("half_open", 5.0),
        ("open", 10.0),
        ("half_open", 10.0),
        ("closed", 5.0),
    ]


# -- provider: streams ---------------------------------------------------------------------------------------------


async def test_a_stream_is_one_request_with_ttft_tokens_and_cost(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, clock: FakeClock, events: list[Event]
) -> None:
    proxy.script["m"] = [sse(chunk("hel"), chunk("lo", finish="stop"), USAGE)]
    stream = make().stream_chat_completion(MESSAGES, "m")
    async for _ in stream:
        clock.now += 0.5  # the consumer takes its time; the first chunk came after CALL_S
    assert [type(e) for e in events] == [RequestFinished, PromptUsageLearned]  # learned from the usage chunk
    (learned,) = of(events, PromptUsageLearned)
    assert (learned.model, learned.billed_prompt_tokens, learned.billed_completion_tokens) == ("m", 12, 3)
    assert of(events, RequestFinished) == [
        RequestFinished(
            provider="litellm",
            model="m",
            stream=True,
            outcome="success",
            duration_s=CALL_S + 1.0,
            ttft_s=CALL_S,
            prompt_tokens=12,
            completion_tokens=3,
            cost_usd=Decimal("0.000048"),  # 12 × 2e-6 + 3 × 8e-6
        )
    ]


async def test_a_stream_http_error_is_one_failed_stream_without_ttft(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.script["m"] = [500]
    with pytest.raises(ProviderUnavailableError):
        async for _ in make().stream_chat_completion(MESSAGES, "m"):
            pass
    assert events == [RequestFinished("litellm", "m", True, "unavailable", CALL_S)]


async def test_a_stream_cut_after_chunks_keeps_its_ttft_and_partial_usage(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.script["m"] = [sse(chunk("hel"), USAGE, done=False)]
    with pytest.raises(StreamInterruptedError):
        async for _ in make().stream_chat_completion(MESSAGES, "m"):
            pass
    (finished,) = events
    assert isinstance(finished, RequestFinished)
    assert (finished.stream, finished.outcome, finished.ttft_s) == (True, "stream_interrupted", CALL_S)
    assert (finished.prompt_tokens, finished.completion_tokens) == (12, 3)


async def test_a_stream_refused_by_the_rate_limiter_or_unpriced_is_reported(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    provider = make()
    await provider.chat_completion(MESSAGES, "rpm1")
    events.clear()
    with pytest.raises(RateLimitError):
        async for _ in provider.stream_chat_completion(MESSAGES, "rpm1", rate_limit_timeout_s=0):
            pass
    with pytest.raises(PricingError):
        async for _ in provider.stream_chat_completion(MESSAGES, "unpriced"):
            pass
    assert events == [
        RequestFinished("litellm", "rpm1", True, "rate_limited", 0.0),
        RequestFinished("litellm", "unpriced", True, "unpriced", 0.0),
    ]
    assert len(proxy.sent) == 1


async def test_a_stream_the_consumer_closes_early_is_reported_as_cancelled(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.script["m"] = [sse(chunk("a"), chunk("b"), chunk("c", finish="stop"), USAGE)]
    async with make().stream_chat_completion(MESSAGES, "m") as stream:
        async for _ in stream:
            break
    (finished,) = events
    assert isinstance(finished, RequestFinished) and finished.outcome == "cancelled" and finished.ttft_s == CALL_S


# -- routers -------------------------------------------------------------------------------------------------------


FLEET_PLUS = {**FLEET, "no-price": model(None, None, quality=0.99, window=128000)}


async def test_a_decision_reports_its_choice_time_and_rejections(
    make: Callable[..., LiteLLMProvider], events: list[Event]
) -> None:
    provider = make(FLEET_PLUS)
    events.clear()
    router = HeuristicRouter(observers=[events.append], clock=StepClock(0.00005), providers={"p": provider})
    decision = router.decide(CODE, max_cost=0.05, exclude=["small"])
    assert events == [
        RoutingDecided(
            strategy="heuristic",
            provider="p",
            model=decision.model,
            duration_s=pytest.approx(0.00005),
            estimated_cost_usd=decision.estimated_cost_usd,
            worst_case_cost_usd=decision.worst_case_cost_usd,
            rejections=(("p", "no-price", "unpriced"), ("p", "small", "excluded")),  # in model name order
        )
    ]


async def test_refusals_say_over_budget_or_no_model(make: Callable[..., LiteLLMProvider], events: list[Event]) -> None:
    provider = make(FLEET)
    router = CostOptimizedRouter(
        observers=[events.append], clock=StepClock(0.001), providers=ProviderRegistry({"p": provider})
    )
    with pytest.raises(BudgetExceededError):
        router.decide(CODE, max_cost=1e-9)
    with pytest.raises(NoModelAvailableError):
        router.decide(CODE, max_cost=1, exclude=["frontier", "mid", "small"])
    over, none = events
    assert over == BudgetRefused(
        "cost_optimized",
        "over_budget",
        pytest.approx(0.001),
        tuple(("p", name, "over_budget") for name in FLEET),
    )
    assert none == BudgetRefused(
        "cost_optimized", "no_model", pytest.approx(0.001), tuple(("p", name, "excluded") for name in FLEET)
    )


async def test_each_fallback_is_reported_once_with_the_error_that_caused_it(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.script = {"frontier": [503], "mid": [502]}
    provider = make(FLEET)
    router = HeuristicRouter(observers=[events.append], providers={"p": provider})
    routed = await router.route_request(CODE, max_cost=0.05)
    assert routed.model == "small"
    assert of(events, Fallback) == [
        Fallback("heuristic", "p", "frontier", "unavailable"),
        Fallback("heuristic", "p", "mid", "unavailable"),
    ]
    assert [(e.model, e.outcome) for e in of(events, RequestFinished)] == [
        ("frontier", "unavailable"),
        ("mid", "unavailable"),
        ("small", "success"),
    ]
    assert len(of(events, RoutingDecided)) == 1 and of(events, CostOverEstimate) == []


async def test_an_actual_cost_above_the_worst_case_is_reported(
    make: Callable[..., LiteLLMProvider], proxy: ScriptedProxy, events: list[Event]
) -> None:
    proxy.completion_tokens = 100_000  # the upstream ignores max_tokens
    provider = make(FLEET)
    router = HeuristicRouter(observers=[events.append], providers={"p": provider})
    routed = await router.route_request(CODE, max_cost=0.05, max_tokens=50)
    (over,) = of(events, CostOverEstimate)
    assert (over.provider, over.model) == ("p", routed.model)
    assert over.worst_case_cost_usd == routed.attempts[-1].worst_case_cost_usd
    assert over.cost_usd == (of(events, RequestFinished)[-1].cost_usd) > over.worst_case_cost_usd


# -- observers and the bus -----------------------------------------------------------------------------------------


async def test_an_observer_that_raises_breaks_nothing(
    make: Callable[..., LiteLLMProvider], events: list[Event], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: Event) -> None:
        raise RuntimeError("observer bug")

    provider = make(FLEET)
    provider.events.unsubscribe(events.append)
    provider.events.subscribe(broken)
    provider.events.subscribe(events.append)
    router = HeuristicRouter(observers=[broken, events.append], providers={"p": provider})
    with caplog.at_level(logging.ERROR, logger="costmux.events"):
        routed = await router.route_request(CODE, max_cost=0.05)
    assert routed.content == "hi"
    # later observers still get each event
    assert [type(e) for e in events] == [RoutingDecided, RequestFinished, PromptUsageLearned]
    assert sum("observer" in record.getMessage() for record in caplog.records) == 3  # once per event


def test_the_bus_subscribes_once_unsubscribes_and_keeps_order() -> None:
    seen: list[tuple[str, Event]] = []

    def first(event: Event) -> None:
        seen.append(("first", event))

    def second(event: Event) -> None:
        seen.append(("second", event))

    bus = EventBus([first])
    assert bus.active
    bus.subscribe(second)
    bus.subscribe(first)  # already subscribed: no-op
    event = RateLimitHeld("p", "m", 1.0)
    bus.emit(event)
    assert seen == [("first", event), ("second", event)]
    bus.unsubscribe(first)
    bus.unsubscribe(first)  # unknown now: ignored
    bus.emit(event)
    assert seen[2:] == [("second", event)]
    bus.unsubscribe(second)
    assert not bus.active
    bus.emit(event)
    assert len(seen) == 3


def test_error_kinds_are_a_closed_set() -> None:
    from app import errors

    kinds = {
        error_kind(cls.__new__(cls))  # instances without their constructors' required arguments
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.CostmuxError)
    }
    kinds |= {error_kind(ValueError()), error_kind(asyncio.CancelledError()), error_kind(GeneratorExit())}
    assert kinds <= set(ERROR_KINDS)
    assert error_kind(StreamInterruptedError("x")) == "stream_interrupted"  # before its base class
    assert error_kind(GeneratorExit()) == "cancelled"
