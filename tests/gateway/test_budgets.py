"""Spend budgets in the gateway (keys file, 402, headers, status endpoint, metrics), in-process over the scripted
proxy, on the memory store and on a real redis-server (the same tests on both)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.budgets import hash_key
from app.gateway import GatewaySettings, create_app
from app.sandbox.redis_server import RedisServer
from app.stores import RedisConnection
from tests.gateway.conftest import MESSAGES, ScriptedProxy, provider_for, running

ALICE, BOB, CAROL, OPS = "sk-alice-0123456789", "sk-bob-0123456789", "sk-carol-0123456789", "sk-ops-0123456789"


def keys_file(tmp_path: Path, *, alice_day: str = "0.0005", team_day: str = "1", gateway_month: str = "10") -> Path:
    data = {
        "timezone": "UTC",
        "gateway": {"budgets": [{"window": "month", "max_usd": gateway_month}]},
        "teams": {"research": {"budgets": [{"window": "day", "max_usd": team_day}]}},
        "keys": [
            {"name": "alice", "key": ALICE, "team": "research", "budgets": [{"window": "day", "max_usd": alice_day}]},
            {"name": "bob", "key_sha256": hash_key(BOB), "team": "research"},
            {"name": "carol", "key": CAROL},
            {"name": "ops", "key": OPS, "admin": True},
        ],
    }
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


Gateway = Callable[..., Any]


@pytest.fixture
def budget_gateway(
    proxy: ScriptedProxy, backend_connection: RedisConnection | None, redis_server_url: str | None
) -> Gateway:
    """``async with budget_gateway(keys_path, **settings) as client`` on the parametrized backend."""

    @asynccontextmanager
    async def start(keys: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
        provider = provider_for(proxy)
        if backend_connection is not None:
            settings.setdefault("redis_url", redis_server_url)
            settings.setdefault("redis_prefix", backend_connection.prefix)
        app = create_app(GatewaySettings.load(keys_file=str(keys), **settings), providers={"litellm": provider})
        try:
            async with running(app) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client
                await app.state.gateway.budgets.drain()
        finally:
            await provider.aclose()

    return start


@pytest.fixture
def redis_server_url(backend: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("redis_server").url if backend == "redis" else None


def chat(key: str, **fields: Any) -> dict[str, Any]:
    return {"json": {"model": "auto", "messages": MESSAGES, "max_tokens": 30, **fields}, "headers": auth(key)}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_keys_from_the_file_authenticate_and_answers_carry_the_remaining_budget(
    budget_gateway: Gateway, tmp_path: Path
) -> None:
    async with budget_gateway(keys_file(tmp_path)) as client:
        unknown = await client.post("/v1/chat/completions", **chat("sk-nobody-0123456789"))
        assert unknown.status_code == 401
        first = await client.post("/v1/chat/completions", **chat(ALICE))
        assert first.status_code == 200, first.text
        cost = Decimal(first.headers["x-costmux-cost"])
        assert first.headers["x-costmux-budget-scope"] == "key:alice"
        assert first.headers["x-costmux-budget-window"] == "day"
        assert Decimal(first.headers["x-costmux-budget-remaining"]) == Decimal("0.0005") - cost
        assert first.headers["x-costmux-budget-reset"].endswith("T00:00:00Z")
        bob = await client.post("/v1/chat/completions", **chat(BOB))  # only the team's and the gateway's budgets
        assert bob.status_code == 200 and bob.headers["x-costmux-budget-scope"] == "team:research"
        assert Decimal(bob.headers["x-costmux-budget-remaining"]) == 1 - cost - Decimal(bob.headers["x-costmux-cost"])


async def test_a_spent_budget_answers_402_naming_it_and_never_overshoots(
    budget_gateway: Gateway, tmp_path: Path, proxy: ScriptedProxy
) -> None:
    async with budget_gateway(keys_file(tmp_path, alice_day="0.00005")) as client:
        spent, refused = Decimal(0), None
        for _ in range(30):
            answer = await client.post("/v1/chat/completions", **chat(ALICE, model="frontier"))
            if answer.status_code == 402:
                refused = answer
                break
            assert answer.status_code == 200, answer.text
            spent += Decimal(answer.headers["x-costmux-cost"])
        assert refused is not None and spent <= Decimal("0.00005")
        error = refused.json()["error"]
        assert (error["type"], error["code"], error["scope"], error["window"]) == (
            "budget_exceeded",
            "budget_exceeded",
            "key:alice",
            "day",
        )
        assert Decimal(error["remaining_usd"]) == Decimal("0.00005") - spent
        assert error["resets_at"].endswith("T00:00:00Z") and int(refused.headers["retry-after"]) >= 1
        # no needless refusal: what is left is less than the smallest worst case the request could have
        assert error["needed_usd"] is None or Decimal(error["remaining_usd"]) < Decimal(error["needed_usd"])
        assert refused.headers["x-costmux-budget-scope"] == "key:alice"
        sent = len(proxy.sent)
        assert (await client.post("/v1/chat/completions", **chat(ALICE, model="frontier"))).status_code == 402
        assert len(proxy.sent) == sent  # nothing sent once refused
        assert (await client.post("/v1/chat/completions", **chat(CAROL, model="frontier"))).status_code == 200


async def test_a_budget_caps_a_request_that_has_no_max_cost(budget_gateway: Gateway, tmp_path: Path) -> None:
    async with budget_gateway(keys_file(tmp_path, alice_day="0.002")) as client:
        body = {"model": "frontier", "messages": MESSAGES}
        answer = await client.post("/v1/chat/completions", json=body, headers=auth(ALICE))
        assert answer.status_code == 200, answer.text
        assert Decimal(answer.headers["x-costmux-max-cost"]) == Decimal("0.002")  # the budget became the cap
        assert Decimal(answer.headers["x-costmux-worst-case-cost"]) <= Decimal("0.002")
        left = Decimal(answer.headers["x-costmux-budget-remaining"])
        # a cap below what is left wins (it must still afford the prompt's bound for an unknown token family)
        capped = await client.post("/v1/chat/completions", json={**body, "max_cost": 0.0009}, headers=auth(ALICE))
        assert capped.status_code == 200, capped.text
        assert left > Decimal("0.0009") and Decimal(capped.headers["x-costmux-max-cost"]) == Decimal("0.0009")


async def test_a_failure_with_no_answer_keeps_its_worst_case(
    budget_gateway: Gateway, tmp_path: Path, proxy: ScriptedProxy
) -> None:
    proxy.behaviour["small"] = "timeout"
    async with budget_gateway(keys_file(tmp_path)) as client:
        answer = await client.post("/v1/chat/completions", **chat(CAROL, model="small"))
        assert answer.status_code == 504
        status = await client.get("/v1/budgets", headers=auth(OPS))
    gateway = {row["window"]: row for row in status.json()["data"] if row["scope"] == "gateway"}
    worst = Decimal(answer.headers.get("x-costmux-worst-case-cost", "0"))
    assert Decimal(gateway["month"]["spent_usd"]) > 0 and Decimal(gateway["month"]["reserved_usd"]) == 0
    assert worst == 0 or Decimal(gateway["month"]["spent_usd"]) == worst


async def test_an_error_answer_gives_the_reservation_back(
    budget_gateway: Gateway, tmp_path: Path, proxy: ScriptedProxy
) -> None:
    proxy.behaviour["small"] = 400
    async with budget_gateway(keys_file(tmp_path)) as client:
        answer = await client.post("/v1/chat/completions", **chat(CAROL, model="small"))
        assert answer.status_code == 400
        status = (await client.get("/v1/budgets", headers=auth(OPS))).json()["data"]
    assert all(Decimal(row["spent_usd"]) == 0 == Decimal(row["reserved_usd"]) for row in status)


async def test_the_status_endpoint_is_for_admin_keys(budget_gateway: Gateway, tmp_path: Path) -> None:
    async with budget_gateway(keys_file(tmp_path)) as client:
        ok = await client.post("/v1/chat/completions", **chat(ALICE))
        assert (await client.get("/v1/budgets", headers=auth(ALICE))).status_code == 403
        assert (await client.get("/v1/budgets")).status_code == 401
        status = await client.get("/v1/budgets", headers=auth(OPS))
    assert status.status_code == 200
    body = status.json()
    rows = {(row["scope"], row["window"]): row for row in body["data"]}
    assert set(rows) == {("key:alice", "day"), ("team:research", "day"), ("gateway", "month")}
    cost = Decimal(ok.headers["x-costmux-cost"])
    assert Decimal(rows[("key:alice", "day")]["spent_usd"]) == cost
    assert Decimal(rows[("key:alice", "day")]["remaining_usd"]) == Decimal("0.0005") - cost
    assert body["backend"] in ("memory", "redis") and ALICE not in status.text


async def test_spend_metrics_name_configured_scopes_only(budget_gateway: Gateway, tmp_path: Path) -> None:
    async with budget_gateway(keys_file(tmp_path, alice_day="0.00005")) as client:  # small fits, frontier not
        assert (await client.post("/v1/chat/completions", **chat(ALICE, model="small"))).status_code == 200
        for _ in range(3):
            await client.post("/v1/chat/completions", **chat(ALICE, model="frontier"))
        text = (await client.get("/metrics", headers=auth(OPS))).text
    assert 'costmux_budget_limit_usd{scope="key:alice",window="day"} 5e-05' in text
    assert 'costmux_spend_refusals_total{scope="key:alice",window="day"}' in text
    assert 'costmux_spend_usd_total{scope="team:research"}' in text
    assert ALICE not in text and "sk-" not in text


async def test_the_stream_of_a_key_is_charged_to_its_budget(budget_gateway: Gateway, tmp_path: Path) -> None:
    async with budget_gateway(keys_file(tmp_path)) as client:
        streamed = await client.post("/v1/chat/completions", **chat(ALICE, stream=True))
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
        assert streamed.headers["x-costmux-budget-scope"] == "key:alice"
        await client.app.state.gateway.budgets.drain()  # type: ignore[attr-defined]
        status = (await client.get("/v1/budgets", headers=auth(OPS))).json()["data"]
    alice = next(row for row in status if row["scope"] == "key:alice")
    assert Decimal(alice["spent_usd"]) > 0 and Decimal(alice["reserved_usd"]) == 0


@pytest.mark.usefixtures("redis_binary")
async def test_budgets_fail_closed_when_redis_is_down(proxy: ScriptedProxy, tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis").start()
    provider = provider_for(proxy)
    settings = GatewaySettings.load(keys_file=str(keys_file(tmp_path)), redis_url=server.url)
    app = create_app(settings, providers={"litellm": provider})
    try:
        async with running(app) as client:
            assert (await client.post("/v1/chat/completions", **chat(ALICE))).status_code == 200
            server.stop(remove=False)
            down = await client.post("/v1/chat/completions", **chat(ALICE))
            assert down.status_code == 503 and down.json()["error"]["code"] == "budget_store_unavailable"
            sent = len(proxy.sent)
            server.start()
            back = await client.post("/v1/chat/completions", **chat(ALICE))
            assert back.status_code == 200 and len(proxy.sent) == sent + 1
            metrics = (await client.get("/metrics", headers=auth(OPS))).text
            assert re.search(
                r'costmux_store_errors_total\{operation="\w+",outcome="failed",store="budgets"\} 1.0', metrics
            )
    finally:
        await provider.aclose()
        server.stop()
