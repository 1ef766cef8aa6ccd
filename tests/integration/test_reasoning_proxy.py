"""Reasoning models under a hard cap, through the real LiteLLM proxy 1.106.2.

The loopback upstream reasons first (tokens per ``reasoning_effort``) within the same output limit, bills the
reasoning in ``completion_tokens`` and reports it in ``completion_tokens_details.reasoning_tokens``, as OpenAI's
reasoning models do. The proxy serves it under three names: ``o4-mini`` (LiteLLM knows the name), ``thinker`` (an
alias LiteLLM does not recognise; ``model_info.base_model`` says it is o4-mini) and ``plain`` (GPT-4.1 mini, no
reasoning).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.catalog import ReasoningRequest, reasoning_request
from app.models import ChatMessage
from app.providers import LiteLLMProvider
from app.router import CostOptimizedRouter, HeuristicRouter
from app.sandbox import FakeUpstream, LiteLLMProxy, ProxyModel

REASONING_BY_EFFORT = {"low": 150, "medium": 500, "high": 1400}
ANSWER_TOKENS = 120
O4_MINI = (1.1e-6, 4.4e-6)  # USD per token, as the catalog and LiteLLM list them
PLAIN = (4e-7, 1.6e-6)


def _reasoning(req: dict[str, Any]) -> int | None:
    if "4.1" in str(req.get("model")):
        return 0
    return REASONING_BY_EFFORT.get(str(req.get("reasoning_effort") or "medium"), 500)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream(
        completion_tokens=lambda messages, model: ANSWER_TOKENS, reasoning_tokens=_reasoning, record_usage=True
    ).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def proxy(upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    up = upstream.base_url
    models = [
        ProxyModel("o4-mini", "openai/o4-mini", *O4_MINI, max_output_tokens=100000, api_base=up),
        ProxyModel(
            "thinker", "openai/my-thinker", *O4_MINI, max_output_tokens=100000, api_base=up, base_model="o4-mini"
        ),
        ProxyModel("plain", "openai/gpt-4.1-mini", *PLAIN, max_output_tokens=32768, api_base=up),
    ]
    server = LiteLLMProxy(models, log_path=Path(tmp_path_factory.mktemp("reasoning-proxy")) / "proxy.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def provider(proxy: LiteLLMProxy) -> Any:
    async with LiteLLMProvider(proxy.base_url, proxy.master_key, max_retries=0) as client:
        await client.sync_pricing()
        yield client


QUESTION = [ChatMessage(role="user", content="Prove that the square root of two is irrational, step by step.")]


async def test_an_alias_resolves_through_base_model(provider: LiteLLMProvider) -> None:
    spec = provider.get_model_spec("thinker")
    assert spec is not None and spec.metadata["catalog_entry"] == "o4-mini"
    assert spec.reasoning is not None and spec.reasoning.limit_param == "max_completion_tokens"
    assert spec.quality is not None and not spec.assumed_quality
    assert spec.pricing is not None and spec.pricing.per_1m() == (Decimal("1.1"), Decimal("4.4"))


@pytest.mark.parametrize("model", ["thinker", "o4-mini"])
async def test_the_limit_bounds_reasoning_and_answer(
    provider: LiteLLMProvider, upstream: FakeUpstream, model: str
) -> None:
    response = await provider.chat_completion(QUESTION, model, max_tokens=300, reasoning_effort="high")
    # the upstream was sent max_completion_tokens (costmux sends it for "thinker"; LiteLLM maps it for "o4-mini")
    served = "my-thinker" if model == "thinker" else "o4-mini"
    assert upstream.limit_log[-1] == (served, "max_completion_tokens", 300)
    usage = response.usage
    assert usage is not None and usage.completion_tokens == 300  # 300 of reasoning at "high": the answer was cut
    details = (usage.model_extra or {}).get("completion_tokens_details") or {}
    assert details.get("reasoning_tokens") == 300
    assert response.cost_usd == pytest.approx(usage.prompt_tokens * O4_MINI[0] + 300 * O4_MINI[1])


async def test_a_caller_max_completion_tokens_is_one_limit(provider: LiteLLMProvider, upstream: FakeUpstream) -> None:
    await provider.chat_completion(QUESTION, "thinker", max_tokens=900, max_completion_tokens=700)
    assert upstream.limit_log[-1] == ("my-thinker", "max_completion_tokens", 700)
    await provider.chat_completion(QUESTION, "plain", max_completion_tokens=650)
    assert upstream.limit_log[-1] == ("gpt-4.1-mini", "max_tokens", 650)


@pytest.mark.parametrize("effort", ["low", "medium", "high"])
@pytest.mark.parametrize("router_class", [HeuristicRouter, CostOptimizedRouter])
async def test_reasoning_models_are_routed_under_the_cap(
    provider: LiteLLMProvider, router_class: type[HeuristicRouter], effort: str
) -> None:
    cap = Decimal("0.004")
    routed = await router_class().route_request(
        QUESTION, {"litellm": provider}, max_cost=cap, reasoning_effort=effort, exclude=["plain"]
    )
    decision = routed.decision
    assert routed.cost_usd <= float(cap)
    assert decision.worst_case_cost_usd is not None and decision.worst_case_cost_usd <= cap
    usage = routed.usage
    assert usage is not None and usage.completion_tokens <= (decision.max_tokens or 0)
    details = (usage.model_extra or {}).get("completion_tokens_details") or {}
    assert details.get("reasoning_tokens") == min(REASONING_BY_EFFORT[effort], decision.max_tokens or 0)
    # the expected cost counts the catalog's expected reasoning tokens at this effort
    chosen = decision.chosen
    assert chosen.estimated_cost_usd is not None and chosen.estimated_cost_usd > Decimal(ANSWER_TOKENS) * Decimal(
        "4.4e-6"
    )


async def test_expected_reasoning_grows_with_effort(provider: LiteLLMProvider) -> None:
    router = CostOptimizedRouter()
    estimates = []
    for effort in ("low", "medium", "high"):
        decision = router.decide(
            QUESTION,
            {"litellm": provider},
            reasoning=reasoning_request({"reasoning_effort": effort}),
            exclude=["plain"],
        )
        assert decision.chosen.estimated_cost_usd is not None
        estimates.append(decision.chosen.estimated_cost_usd)
    assert estimates[0] < estimates[1] < estimates[2]


async def test_a_tight_cap_flags_the_cut_answer(provider: LiteLLMProvider) -> None:
    # the cap affords ~230 output tokens on o4-mini: fewer than a "high" effort's reasoning plus an answer
    decision = HeuristicRouter().decide(
        QUESTION,
        {"litellm": provider},
        max_cost=Decimal("0.0011"),
        reasoning=ReasoningRequest("high", None),
        exclude=["plain"],
    )
    assert decision.chosen.may_truncate
    assert "may be cut" in decision.chosen.detail
