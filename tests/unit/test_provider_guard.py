"""Rate limits and model health around provider calls, and what routers see of them (fake clock, no sleeping)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.errors import NoModelAvailableError, ProviderUnavailableError, RateLimitError
from app.providers import LiteLLMProvider, RetryPolicy
from app.providers.health import HealthPolicy
from app.router import CostOptimizedRouter, RejectReason
from tests.scripted import FakeClock
from tests.unit.conftest import completion_body

MESSAGES = [{"role": "user", "content": "hello there"}]


class Proxy:
    """Scripted proxy: per-model queue of statuses (200 when empty); counts chat requests per model."""

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.sent: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        if request.url.path == "/health":
            healthy = request.url.params["model"] != "sick"
            return httpx.Response(200, json={"healthy_count": int(healthy), "unhealthy_count": int(not healthy)})
        body = json.loads(request.content)
        model = body["model"]
        self.sent.append(model)
        queue = self.script.get(model) or []
        status, headers = queue.pop(0) if queue else (200, {})
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "scripted"}}, headers=headers)
        return httpx.Response(200, json=completion_body(model=model, prompt=10, completion=5), headers=headers)


MODELS = {
    "limited": {
        "pricing": {"input_per_1m": 1, "output_per_1m": 1},
        "rate_limits": {"requests_per_minute": 3, "tokens_per_minute": 100_000},
    },
    "tiny-tpm": {"pricing": {"input_per_1m": 2, "output_per_1m": 2}, "rate_limits": {"tokens_per_minute": 1000}},
    "free-flowing": {"pricing": {"input_per_1m": 5, "output_per_1m": 5}},
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
def proxy() -> Proxy:
    return Proxy()


@pytest.fixture
def make(clock: FakeClock, proxy: Proxy) -> Callable[..., LiteLLMProvider]:
    def build(**kwargs: Any) -> LiteLLMProvider:
        client = httpx.AsyncClient(transport=httpx.MockTransport(proxy))
        kwargs.setdefault("max_retries", 0)
        return LiteLLMProvider(
            "http://proxy.test",
            "k",
            custom_models=MODELS,
            http_client=client,
            clock=clock,
            retry_policy=RetryPolicy(sleep=clock.sleep),
            catalog=None,
            **kwargs,
        )

    return build


async def test_rpm_burst_then_refusal_without_sending(make: Callable[..., LiteLLMProvider], proxy: Proxy) -> None:
    provider = make()
    for _ in range(3):
        await provider.chat_completion(MESSAGES, "limited")
    with pytest.raises(RateLimitError) as caught:
        await provider.chat_completion(MESSAGES, "limited", rate_limit_timeout_s=0)
    assert not caught.value.request_sent and caught.value.retry_after_s == pytest.approx(20.0)
    assert proxy.sent == ["limited"] * 3


async def test_a_direct_call_waits_for_the_limiter(
    make: Callable[..., LiteLLMProvider], proxy: Proxy, clock: FakeClock
) -> None:
    provider = make(rate_limit_timeout_s=30)
    for _ in range(4):
        await provider.chat_completion(MESSAGES, "limited")
    assert clock.slept and sum(clock.slept) == pytest.approx(20.0) and len(proxy.sent) == 4


async def test_tokens_are_corrected_with_the_actual_usage(make: Callable[..., LiteLLMProvider]) -> None:
    provider = make()
    await provider.chat_completion(MESSAGES, "tiny-tpm", max_tokens=500)  # charged ~prompt + 256 up front
    assert provider.get_model_info("tiny-tpm")["rate_limit"]["tokens_available"] == pytest.approx(1000 - 15)


async def test_an_oversized_request_is_refused_at_once(make: Callable[..., LiteLLMProvider], proxy: Proxy) -> None:
    with pytest.raises(RateLimitError, match="larger than the per-minute token limit"):
        await make().chat_completion([{"role": "user", "content": "word " * 1000}], "tiny-tpm")
    assert proxy.sent == []


async def test_a_proxy_429_holds_the_model_off_for_every_request(
    make: Callable[..., LiteLLMProvider], proxy: Proxy
) -> None:
    proxy.script["free-flowing"] = [(429, {"llm_provider-retry-after": "60"})]
    provider = make()
    with pytest.raises(RateLimitError) as caught:
        await provider.chat_completion(MESSAGES, "free-flowing")
    assert caught.value.request_sent and caught.value.status_code == 429
    with pytest.raises(RateLimitError):
        await provider.chat_completion(MESSAGES, "free-flowing", rate_limit_timeout_s=0)
    assert proxy.sent == ["free-flowing"]
    assert provider.model_availability("free-flowing", 10) == ("rate_limited", "free in 60.0 s")
    assert provider.get_model_info("free-flowing")["health"]["state"] == "closed"  # 429 is not ill health
    await provider.chat_completion(MESSAGES, "limited")  # other models are not held


async def test_failures_cool_a_model_down_and_a_trial_brings_it_back(
    make: Callable[..., LiteLLMProvider], proxy: Proxy, clock: FakeClock
) -> None:
    proxy.script["free-flowing"] = [(503, {})] * 3
    provider = make(health_policy=HealthPolicy(failure_threshold=3, cooldown_s=5))
    for _ in range(3):
        with pytest.raises(ProviderUnavailableError):
            await provider.chat_completion(MESSAGES, "free-flowing")
    with pytest.raises(ProviderUnavailableError, match="cooling down") as caught:
        await provider.chat_completion(MESSAGES, "free-flowing")
    assert not caught.value.request_sent and len(proxy.sent) == 3
    unhealthy = provider.model_availability("free-flowing", 10)
    assert unhealthy is not None and unhealthy[0] == "unhealthy"
    clock.now += 5
    await provider.chat_completion(MESSAGES, "free-flowing")  # the half-open trial succeeds
    assert provider.get_model_info("free-flowing")["health"]["state"] == "closed"


async def test_client_errors_do_not_hurt_health(make: Callable[..., LiteLLMProvider], proxy: Proxy) -> None:
    proxy.script["free-flowing"] = [(400, {})] * 5
    provider = make()
    for _ in range(5):
        with pytest.raises(Exception):  # noqa: B017 - BadRequestError; only health matters here
            await provider.chat_completion(MESSAGES, "free-flowing")
    assert provider.get_model_info("free-flowing")["health"]["state"] == "closed"


async def test_a_stream_commits_its_usage_and_a_failed_open_gives_everything_back(
    make: Callable[..., LiteLLMProvider], proxy: Proxy
) -> None:
    proxy.script["limited"] = [(503, {})]
    provider = make()
    with pytest.raises(ProviderUnavailableError):
        async for _ in provider.stream_chat_completion(MESSAGES, "limited"):
            pass
    assert provider.get_model_info("limited")["rate_limit"]["requests_available"] == pytest.approx(3)


async def test_routers_skip_unavailable_models_and_say_why(make: Callable[..., LiteLLMProvider], proxy: Proxy) -> None:
    provider = make()
    for _ in range(3):
        await provider.chat_completion(MESSAGES, "limited")
    provider.guard.limiter.hold("tiny-tpm", 30)
    decision = CostOptimizedRouter().decide(MESSAGES, {"p": provider})
    reasons = {verdict.model: verdict.reason for verdict in decision.candidates}
    assert reasons == {
        "limited": RejectReason.RATE_LIMITED,
        "tiny-tpm": RejectReason.RATE_LIMITED,
        "free-flowing": None,
    }
    assert decision.model == "free-flowing"
    provider.guard.limiter.hold("free-flowing", 30)
    with pytest.raises(NoModelAvailableError) as caught:
        CostOptimizedRouter().decide(MESSAGES, {"p": provider})
    assert all(reason.startswith("rate_limited") for reason in caught.value.reasons.values())


async def test_route_request_falls_back_at_once_when_the_choice_is_refused_client_side(
    make: Callable[..., LiteLLMProvider], proxy: Proxy, clock: FakeClock
) -> None:
    provider = make(rate_limit_timeout_s=30)
    router = CostOptimizedRouter()
    decision = router.decide(MESSAGES, {"p": provider}, max_cost=0.01)
    first = decision.model
    provider.guard.limiter.hold(first, 30)  # became unavailable between decide and send
    result = await router.route_request(MESSAGES, {"p": provider}, max_cost=0.01)
    assert result.model != first and clock.slept == [] and first not in proxy.sent


async def test_active_model_check_is_explicit_and_recorded(make: Callable[..., LiteLLMProvider]) -> None:
    provider = make()
    assert await provider.check_model_health("limited") is True
    assert await provider.check_model_health("sick") is False


async def test_the_proxy_health_monitor_starts_and_stops_with_the_provider(
    make: Callable[..., LiteLLMProvider],
) -> None:
    provider = make()
    monitor = provider.start_health_monitor(interval_s=60)
    await monitor.check_now()
    assert monitor.running
    await provider.aclose()
    assert not monitor.running


def _one_by_one(provider: LiteLLMProvider, prompt_tokens: int) -> dict[str, tuple[str, str]]:
    return {
        model: refused
        for model in provider.get_supported_models()
        if (refused := provider.model_availability(model, prompt_tokens)) is not None
    }


async def test_unavailable_models_at_once_agree_with_the_per_model_check(
    make: Callable[..., LiteLLMProvider], proxy: Proxy, clock: FakeClock
) -> None:
    provider = make(health_policy=HealthPolicy(failure_threshold=1, cooldown_s=30))
    assert provider.unavailable_models(10) == _one_by_one(provider, 10) == {}
    assert (
        provider.unavailable_models(5000)
        == _one_by_one(provider, 5000)
        == {"tiny-tpm": ("rate_limited", "larger than its tokens-per-minute limit")}
    )
    for _ in range(3):  # empties the rpm bucket of "limited"
        await provider.chat_completion(MESSAGES, "limited")
    proxy.script["free-flowing"] = [(503, {})]
    with pytest.raises(ProviderUnavailableError):  # opens its breaker
        await provider.chat_completion(MESSAGES, "free-flowing")
    expected = {
        "limited": ("rate_limited", "free in 20.0 s"),
        "free-flowing": ("unhealthy", provider.model_availability("free-flowing", 10)[1]),  # type: ignore[index]
    }
    assert provider.unavailable_models(10) == _one_by_one(provider, 10) == expected
    clock.now += 31  # the cooldown is over and the bucket refilled: the trial is free to go, nothing held
    assert provider.unavailable_models(10) == _one_by_one(provider, 10) == {}


async def test_a_hold_shows_in_unavailable_models_until_it_expires(
    make: Callable[..., LiteLLMProvider], proxy: Proxy, clock: FakeClock
) -> None:
    proxy.script["free-flowing"] = [(429, {"retry-after": "5"})]
    provider = make()
    with pytest.raises(RateLimitError):
        await provider.chat_completion(MESSAGES, "free-flowing")
    assert (
        provider.unavailable_models(10)
        == _one_by_one(provider, 10)
        == {"free-flowing": ("rate_limited", "free in 5.0 s")}
    )
    clock.now += 5
    assert provider.unavailable_models(10) == _one_by_one(provider, 10) == {}
