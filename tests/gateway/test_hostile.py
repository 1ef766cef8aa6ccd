"""Hostile and heavy use of the gateway in-process: absurd model names, many bogus names (metric series stay
bounded), and hundreds of concurrent requests and streams. (Oversized and deeply nested bodies, unknown content
parts: test_errors.py; through a real ``costmux serve`` process: tests/integration/test_gateway_proxy.py.)"""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.conftest import MESSAGES, GatewayFactory, ScriptedProxy


@pytest.mark.parametrize(
    "model",
    ["m" * 100_000, "../../etc/passwd", "litellm/../frontier", "frontier\x00", " "],
    ids=["100KB", "dotdot", "provider-dotdot", "nul", "blank"],
)
async def test_absurd_model_names_are_refused_without_echoing_them_whole(
    gateway: GatewayFactory, proxy: ScriptedProxy, model: str
) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json={"model": model, "messages": MESSAGES})
    assert response.status_code in (400, 404), response.text
    error = response.json()["error"]
    assert error["param"] == "model" and len(response.content) < 1000
    assert proxy.sent == []


async def test_bogus_model_names_leave_the_metric_series_bounded(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES})
        before = (await client.get("/metrics")).text
        for index in range(400):
            body = {"model": f"bogus-{index}", "messages": MESSAGES}
            assert (await client.post("/v1/chat/completions", json=body)).status_code == 404
        after = (await client.get("/metrics")).text
    assert "bogus" not in after

    def series(text: str) -> set[str]:
        return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}

    assert series(after) == series(before)


async def test_hundreds_of_concurrent_requests_and_streams_are_all_answered(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    async with gateway() as client:

        async def plain() -> int:
            response = await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES})
            return response.status_code

        async def streamed() -> int:
            body = {"model": "auto", "messages": MESSAGES, "stream": True}
            async with client.stream("POST", "/v1/chat/completions", json=body) as response:
                lines = [line async for line in response.aiter_lines() if line.startswith("data: ")]
            assert lines[-1] == "data: [DONE]"
            return response.status_code

        statuses = await asyncio.gather(*(plain() for _ in range(180)), *(streamed() for _ in range(60)))
    assert statuses == [200] * 240
    assert len(proxy.sent) == 240


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_cost", ["9"] * 50_000), ("max_tokens", "9" * 100_000), ("stream", {"x": "y" * 100_000})],
)
async def test_huge_invalid_values_are_not_echoed_whole(gateway: GatewayFactory, field: str, value: object) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES, field: value})
    assert response.status_code == 400 and response.json()["error"]["param"] == field
    assert len(response.content) < 1000
