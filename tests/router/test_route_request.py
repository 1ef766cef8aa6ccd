"""route_request at the transport level: the plan is sent, fallbacks stay within the remaining budget."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.errors import BadRequestError, BudgetExceededError, ProviderTimeoutError, ProviderUnavailableError
from app.providers import LiteLLMProvider, RetryPolicy
from app.router import CostOptimizedRouter, HeuristicRouter
from tests.router.conftest import FLEET

MESSAGES = [{"role": "user", "content": "Write a Python function that reverses a linked list, with tests."}]


class Upstream:
    """A scripted proxy: per-model status codes, records what was sent, reports usage and cost."""

    def __init__(self, failing: dict[str, int] | None = None, completion_tokens: int = 30) -> None:
        self.failing = dict(failing or {})
        self.sent: list[dict[str, Any]] = []
        self.completion_tokens = completion_tokens

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        body = json.loads(request.content)
        self.sent.append(body)
        status = self.failing.get(body["model"])
        if status:
            return httpx.Response(status, json={"error": {"message": f"{body['model']} failed"}})
        completion = min(self.completion_tokens, body.get("max_tokens") or 10**9)
        return httpx.Response(
            200,
            json={
                "id": "x",
                "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 20, "completion_tokens": completion, "total_tokens": 20 + completion},
            },
        )


async def no_sleep(_: float) -> None:
    return None


def provider_for(upstream: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> LiteLLMProvider:
    client = httpx.AsyncClient(transport=httpx.MockTransport(upstream))
    return LiteLLMProvider(
        "http://proxy.test",
        "k",
        custom_models=FLEET,
        http_client=client,
        catalog=None,
        max_retries=0,
        retry_policy=RetryPolicy(sleep=no_sleep),
        **kwargs,
    )


async def test_seed_route_request_with_max_cost() -> None:
    upstream = Upstream()
    router = HeuristicRouter()
    result = await router.route_request(
        messages=MESSAGES, providers={"litellm": provider_for(upstream)}, strategy="cost_optimized", max_cost=0.01
    )
    assert result.content == "ok" and result.decision.strategy == "cost_optimized"
    assert upstream.sent[0]["model"] == result.model == result.decision.model
    assert upstream.sent[0]["max_tokens"] == result.decision.max_tokens
    assert 0 < result.cost_usd <= 0.01 and result.fallbacks == 0


async def test_falls_back_on_a_retryable_failure_within_the_remaining_budget() -> None:
    upstream = Upstream(failing={"frontier": 503})
    result = await HeuristicRouter().route_request(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert [body["model"] for body in upstream.sent] == ["frontier", "mid"]
    assert result.model == "mid" and result.fallbacks == 1
    assert result.attempts[0].error is not None and result.attempts[0].cost_usd == 0
    assert result.cost_usd <= 0.05


async def test_a_bad_request_is_raised_not_retried_on_other_models() -> None:
    upstream = Upstream(failing={"frontier": 400})
    with pytest.raises(BadRequestError):
        await HeuristicRouter().route_request(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert len(upstream.sent) == 1


async def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    upstream = Upstream(failing={"frontier": 503, "mid": 503, "small": 503})
    router = HeuristicRouter(max_attempts=2)
    with pytest.raises(ProviderUnavailableError):
        await router.route_request(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.05)
    assert len(upstream.sent) == 2


async def test_a_failure_without_an_answer_is_charged_its_worst_case() -> None:
    def timeout_then_ok(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else {}
        if body.get("model") == "frontier":
            raise httpx.ReadTimeout("slow", request=request)
        return Upstream()(request)

    router = HeuristicRouter()
    result = await router.route_request(MESSAGES, {"p": provider_for(timeout_then_ok)}, max_cost=0.05, max_tokens=1000)
    first = result.attempts[0]
    assert first.error is not None and first.cost_usd == first.worst_case_cost_usd and first.cost_usd > 0
    second = result.attempts[1]
    # the fallback was planned within what the failed attempt left over
    assert second.worst_case_cost_usd is not None
    assert first.cost_usd + second.worst_case_cost_usd <= Decimal("0.05")
    assert result.cost_usd <= 0.05


async def test_when_a_failure_may_have_used_the_whole_cap_nothing_else_is_tried() -> None:
    tried: list[str] = []

    def timeout(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        tried.append(json.loads(request.content)["model"])
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderTimeoutError):
        await HeuristicRouter().route_request(MESSAGES, {"p": provider_for(timeout)}, max_cost=0.05)
    assert tried == ["frontier"]


async def test_budget_refusal_sends_nothing() -> None:
    upstream = Upstream()
    with pytest.raises(BudgetExceededError):
        await CostOptimizedRouter().route_request(MESSAGES, {"p": provider_for(upstream)}, max_cost=0.0000001)
    assert upstream.sent == []


async def test_actual_cost_over_the_worst_case_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def expensive(request: httpx.Request) -> httpx.Response:
        response = Upstream()(request)
        response.headers["x-litellm-response-cost"] = "0.5"
        return response

    caplog.set_level(logging.WARNING, logger="costmux.router")
    result = await CostOptimizedRouter().route_request(MESSAGES, {"p": provider_for(expensive)}, max_cost=0.05)
    assert result.cost_usd == 0.5 and "exceeded its worst-case estimate" in caplog.text
