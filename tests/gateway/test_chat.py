"""POST /v1/chat/completions in-process: routes, the cap from the body or the header, decision headers, the body."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.gateway.conftest import COMPLETION_TOKENS, MESSAGES, PROMPT_TOKENS, GatewayFactory, ScriptedProxy
from tests.router.conftest import FLEET


def price(model: str, prompt: int = PROMPT_TOKENS, completion: int = COMPLETION_TOKENS) -> Decimal:
    prices = FLEET[model]["pricing"]
    return (Decimal(str(prices["input_per_1m"])) * prompt + Decimal(str(prices["output_per_1m"])) * completion) / 10**6


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": MESSAGES, **fields}


async def test_auto_routes_with_the_default_strategy_and_reports_the_decision(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(max_cost=0.01, temperature=0.2, user="u1"))
    assert response.status_code == 200
    body, headers = response.json(), response.headers
    sent = proxy.sent[0]
    assert headers["x-costmux-model"] == sent["model"] == body["model"]
    assert headers["x-costmux-strategy"] == "cost_optimized" and headers["x-costmux-provider"] == "litellm"
    assert Decimal(headers["x-costmux-cost"]) == price(sent["model"]) <= Decimal("0.01")
    assert Decimal(headers["x-costmux-worst-case-cost"]) <= Decimal(headers["x-costmux-max-cost"]) == Decimal("0.01")
    assert Decimal(headers["x-costmux-estimated-cost"]) > 0 and headers["x-costmux-fallbacks"] == "0"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hello"}
    assert Decimal(repr(body["usage"]["cost"])) == Decimal(headers["x-costmux-cost"])
    assert not {"cost_usd", "cost_source", "call_id"} & body.keys()
    # the client's parameters went upstream unchanged; the gateway's own fields did not
    assert sent["temperature"] == 0.2 and sent["user"] == "u1" and "max_cost" not in sent
    assert isinstance(sent["max_tokens"], int)


@pytest.mark.parametrize(("model", "strategy", "chosen"), [("auto:heuristic", "heuristic", "frontier")])
async def test_auto_with_a_strategy_uses_it(
    gateway: GatewayFactory, proxy: ScriptedProxy, model: str, strategy: str, chosen: str
) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(model=model, max_cost=0.05))
    assert response.status_code == 200
    assert response.headers["x-costmux-strategy"] == strategy and response.headers["x-costmux-model"] == chosen


@pytest.mark.parametrize(
    ("fields", "headers", "chosen", "share"),
    [
        ({}, {}, "frontier", None),  # the default 0.9 of the best (0.92) admits only frontier
        ({"quality_share": 0.7}, {}, "small", "0.7"),
        ({}, {"X-Quality-Share": "0.8"}, "mid", "0.8"),
        ({"quality_share": 1}, {"X-Quality-Share": "0.1"}, "frontier", "1.0"),  # the body wins
    ],
)
async def test_the_cost_quality_knob_per_request_from_the_body_or_the_header(
    gateway: GatewayFactory,
    proxy: ScriptedProxy,
    fields: dict[str, Any],
    headers: dict[str, str],
    chosen: str,
    share: str | None,
) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(**fields), headers=headers)
    assert response.status_code == 200 and response.headers["x-costmux-model"] == chosen
    assert response.headers.get("x-costmux-quality-share") == share
    assert "quality_share" not in proxy.sent[0]


async def test_the_default_strategy_comes_from_the_settings(gateway: GatewayFactory) -> None:
    async with gateway(default_strategy="heuristic") as client:
        response = await client.post("/v1/chat/completions", json=chat())
    assert response.headers["x-costmux-strategy"] == "heuristic" and response.headers["x-costmux-model"] == "frontier"


async def test_a_concrete_model_is_passed_through_and_still_capped(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    async with gateway() as client:
        ok = await client.post("/v1/chat/completions", json=chat(model="frontier", max_cost=0.05))
        refused = await client.post("/v1/chat/completions", json=chat(model="frontier", max_cost=0.0001))
        cheap = await client.post("/v1/chat/completions", json=chat(max_cost=0.0001))  # auto fits the same cap
    assert ok.status_code == 200 and [body["model"] for body in proxy.sent][:1] == ["frontier"]
    assert ok.headers["x-costmux-model"] == "frontier" and ok.headers["x-costmux-strategy"] == "passthrough"
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget_exceeded"
    assert cheap.status_code == 200 and cheap.headers["x-costmux-model"] != "frontier"
    assert len(proxy.sent) == 2  # the refused request sent nothing


async def test_a_concrete_model_may_be_named_with_its_provider(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(model="litellm/small"))
    assert response.status_code == 200 and response.headers["x-costmux-model"] == "small"


async def test_an_unknown_model_is_404_naming_the_field(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(model="gpt-9"))
    error = response.json()["error"]
    assert response.status_code == 404 and error["code"] == "model_not_found" and error["param"] == "model"
    assert "gpt-9" in error["message"] and proxy.sent == []


async def test_auto_never_picks_an_excluded_model_but_it_stays_reachable_by_name(gateway: GatewayFactory) -> None:
    async with gateway(auto_exclude="mid, small") as client:
        auto = await client.post("/v1/chat/completions", json=chat())
        named = await client.post("/v1/chat/completions", json=chat(model="small"))
    assert auto.headers["x-costmux-model"] == "frontier" and named.headers["x-costmux-model"] == "small"


@pytest.mark.parametrize(
    ("body_cap", "header_cap", "status"),
    [
        (None, "0.05", 200),  # the header alone
        (None, "0.0000001", 402),
        (0.05, "0.0000001", 200),  # the body wins
        (0.0000001, "0.05", 402),
    ],
)
async def test_max_cost_from_the_body_or_the_header(
    gateway: GatewayFactory, body_cap: float | None, header_cap: str, status: int
) -> None:
    fields = {} if body_cap is None else {"max_cost": body_cap}
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(**fields), headers={"X-Max-Cost": header_cap})
    assert response.status_code == status
    if status == 200:
        assert response.headers["x-costmux-max-cost"] == "0.05"


async def test_the_default_cap_applies_when_the_request_gives_none(gateway: GatewayFactory) -> None:
    async with gateway(default_max_cost="0.0000001") as client:
        refused = await client.post("/v1/chat/completions", json=chat())
        allowed = await client.post("/v1/chat/completions", json=chat(max_cost=0.05))
    assert refused.status_code == 402 and allowed.status_code == 200


async def test_without_any_cap_the_request_is_routed_uncapped(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat())
    assert response.status_code == 200 and "x-costmux-max-cost" not in response.headers


async def test_max_completion_tokens_is_the_callers_max_tokens(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=chat(max_completion_tokens=7, max_cost=0.05))
    assert response.status_code == 200
    assert proxy.sent[0]["max_tokens"] == 7 and "max_completion_tokens" not in proxy.sent[0]
    assert response.json()["usage"]["completion_tokens"] == 7


async def test_a_fallback_is_reported_and_charged(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    proxy.behaviour["frontier"] = "timeout"  # unanswered: charged its worst case
    async with gateway() as client:
        fields = {"model": "auto:heuristic", "max_cost": 0.05, "max_tokens": 1000}
        response = await client.post("/v1/chat/completions", json=chat(**fields))
    headers = response.headers
    assert response.status_code == 200 and headers["x-costmux-model"] == "mid" and headers["x-costmux-fallbacks"] == "1"
    cost = Decimal(headers["x-costmux-cost"])
    assert price("mid") < cost <= Decimal("0.05")  # the failed attempt's worst case is in it
