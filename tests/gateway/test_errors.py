"""Errors in the OpenAI shape with the right status: invalid requests name their field, the budget refuses with
402 and the cheapest option's cost, no model is 503, upstream errors keep their status."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import MESSAGES, GatewayFactory, ScriptedProxy


def assert_openai_error(
    response: httpx.Response, status: int, *, code: str, param: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert {"message", "type", "param", "code"} <= error.keys()
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["type"], str)
    assert error["code"] == code and error["param"] == param
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "headers", "param"),
    [
        ({"model": "auto", "messages": MESSAGES, "max_cost": -1}, {}, "max_cost"),
        ({"model": "auto", "messages": MESSAGES, "max_cost": "lots"}, {}, "max_cost"),
        ({"model": "auto", "messages": MESSAGES, "max_cost": True}, {}, "max_cost"),
        ({"model": "auto", "messages": MESSAGES}, {"X-Max-Cost": "abc"}, "X-Max-Cost"),
        ({"model": "auto", "messages": MESSAGES}, {"X-Max-Cost": "-0.1"}, "X-Max-Cost"),
        ({"model": "auto", "messages": MESSAGES, "max_cost": 0.01}, {"X-Max-Cost": "nan"}, "X-Max-Cost"),
        ({"model": "auto", "messages": MESSAGES, "quality_share": 1.5}, {}, "quality_share"),
        ({"model": "auto", "messages": MESSAGES, "quality_share": "high"}, {}, "quality_share"),
        ({"model": "auto", "messages": MESSAGES}, {"X-Quality-Share": "most"}, "X-Quality-Share"),
        ({"model": "auto", "messages": MESSAGES}, {"X-Quality-Share": "-0.2"}, "X-Quality-Share"),
        ({"model": "auto", "messages": []}, {}, "messages"),
        ({"model": "auto", "messages": "hi"}, {}, "messages"),
        ({"model": "auto", "messages": ["hi"]}, {}, "messages"),
        ({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}, {}, "messages"),
        ({"messages": MESSAGES}, {}, "model"),
        ({"model": "auto:fastest", "messages": MESSAGES}, {}, "model"),
        ({"model": "auto", "messages": MESSAGES, "max_tokens": 0}, {}, "max_tokens"),
        ({"model": "auto", "messages": MESSAGES, "max_completion_tokens": "9"}, {}, "max_completion_tokens"),
        ({"model": "auto", "messages": MESSAGES, "stream": "yes"}, {}, "stream"),
        ({"model": "auto", "messages": MESSAGES, "stream": True, "stream_options": 1}, {}, "stream_options"),
        ({"model": "auto", "messages": MESSAGES, "n": 2}, {}, "n"),
        ([1, 2], {}, "body"),
        ({"model": "auto", "messages": MESSAGES, "exclude": ["frontier"]}, {}, "exclude"),
        ({"model": "auto", "messages": MESSAGES, "providers": {}}, {}, "providers"),
        ({"model": "auto", "messages": MESSAGES, "retry_unanswered": True}, {}, "retry_unanswered"),
    ],
)
async def test_invalid_requests_are_400_naming_the_field(
    gateway: GatewayFactory, proxy: ScriptedProxy, body: Any, headers: dict[str, str], param: str
) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
    error = assert_openai_error(response, 400, code="invalid_value", param=param)
    assert error["type"] == "invalid_request_error" and proxy.sent == []


async def test_a_body_that_is_not_json_is_400(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", content=b"{not json")
    assert_openai_error(response, 400, code="invalid_json", param="body")


async def test_over_budget_is_402_with_the_cheapest_option(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    async with gateway() as client:
        response = await client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES, "max_cost": 0.0000001}
        )
    error = assert_openai_error(response, 402, code="budget_exceeded", param="max_cost")
    assert error["type"] == "budget_exceeded" and error["max_cost"] == "0.0000001"
    cheapest = Decimal(error["cheapest_cost"])
    in_message = Decimal(error["message"].rsplit("$", 1)[1])  # exact; the field is that, rounded up to a float
    assert Decimal("0.0000001") < in_message <= cheapest < in_message * Decimal("1.000000001")
    assert proxy.sent == []
    async with gateway() as client:  # the cheapest option's cost, as a cap, lets the request through
        retried = await client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": MESSAGES, "max_cost": error["cheapest_cost"]}
        )
    assert retried.status_code == 200, retried.text


async def test_no_model_available_is_503(gateway: GatewayFactory) -> None:
    async with gateway(auto_exclude="frontier,mid,small") as client:
        response = await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES})
    error = assert_openai_error(response, 503, code="no_model_available")
    assert "excluded" in error["message"]


@pytest.mark.parametrize(
    ("upstream_status", "status", "code"),
    [
        (429, 429, "rate_limit_exceeded"),
        (500, 500, "upstream_type"),
        (400, 400, "upstream_type"),
        (401, 502, "upstream_authentication"),
    ],
)
async def test_upstream_errors_keep_their_status(
    gateway: GatewayFactory, proxy: ScriptedProxy, upstream_status: int, status: int, code: str
) -> None:
    proxy.behaviour.update(dict.fromkeys(("frontier", "mid", "small"), upstream_status))
    proxy.retry_after = "7"
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json={"model": "small", "messages": MESSAGES})
    error = assert_openai_error(response, status, code=code)
    if status == 429:
        assert response.headers["retry-after"] == "7" and error["type"] == "rate_limit_error"
    assert "sk-upstream-secret" not in response.text


async def test_an_upstream_that_never_answers_is_504(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    proxy.behaviour.update(dict.fromkeys(("frontier", "mid", "small"), "timeout"))
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", json={"model": "auto", "messages": MESSAGES})
    assert_openai_error(response, 504, code="upstream_timeout")


async def test_unknown_routes_and_methods_answer_in_the_openai_shape(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        missing = await client.get("/v1/embeddings")
        wrong_method = await client.get("/v1/chat/completions")
    assert_openai_error(missing, 404, code="not_found")
    assert_openai_error(wrong_method, 405, code="method_not_allowed")


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


async def test_json_nested_too_deep_for_the_decoder_is_400_invalid_json(gateway: GatewayFactory) -> None:
    async with gateway() as client:
        response = await client.post("/v1/chat/completions", content=b"[" * 50_000 + b"]" * 50_000)
    assert_openai_error(response, 400, code="invalid_json", param="body")


async def test_json_nested_past_the_depth_limit_is_400_but_a_real_schema_passes(
    gateway: GatewayFactory, proxy: ScriptedProxy
) -> None:
    from app.gateway.body import MAX_JSON_DEPTH

    async with gateway() as client:
        deep = {"model": "auto", "messages": MESSAGES, "metadata": {"x": _nested(MAX_JSON_DEPTH)}}
        refused = await client.post("/v1/chat/completions", json=deep)
        assert_openai_error(refused, 400, code="invalid_json", param="body")
        assert proxy.sent == []
        nested_schema: Any = {"type": "string"}
        for _ in range(12):
            nested_schema = {"type": "object", "properties": {"child": nested_schema}}
        schema_format = {"type": "json_schema", "schema": nested_schema}
        fine = {"model": "auto", "messages": MESSAGES, "response_format": schema_format}
        assert (await client.post("/v1/chat/completions", json=fine)).status_code == 200


async def test_a_body_over_the_size_limit_is_413_and_one_under_it_is_served(gateway: GatewayFactory) -> None:
    async with gateway(max_body_bytes=4096) as client:
        big = {"model": "auto", "messages": [{"role": "user", "content": "x" * 5000}]}
        response = await client.post("/v1/chat/completions", json=big)
        error = assert_openai_error(response, 413, code="request_too_large", param="body")
        assert "4096 bytes" in error["message"] and response.headers["connection"] == "close"

        async def chunked() -> Any:  # no Content-Length: the limit is checked as the body arrives
            for _ in range(10):
                yield b" " * 1000

        response = await client.post("/v1/chat/completions", content=chunked())
        assert_openai_error(response, 413, code="request_too_large", param="body")
        small = {"model": "auto", "messages": [{"role": "user", "content": "x" * 3000}]}
        assert (await client.post("/v1/chat/completions", json=small)).status_code == 200


@pytest.mark.parametrize(
    ("content", "param"),
    [
        ([{"type": "weird"}], "messages[0].content[0].type"),
        ([{"type": "text", "text": "hi"}, {"text": "no type"}], "messages[0].content[1].type"),
        (["just a string"], "messages[0].content[0].type"),
    ],
)
async def test_a_content_part_of_unknown_type_is_400_naming_it(
    gateway: GatewayFactory, proxy: ScriptedProxy, content: list[Any], param: str
) -> None:
    async with gateway() as client:
        body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
        response = await client.post("/v1/chat/completions", json=body)
    assert_openai_error(response, 400, code="invalid_value", param=param)
    assert proxy.sent == []


async def test_known_content_part_types_pass(gateway: GatewayFactory, proxy: ScriptedProxy) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    content = [{"type": "text", "text": "What is in this picture?"}, image]
    async with gateway() as client:
        body = {"model": "auto", "messages": [{"role": "user", "content": content}]}
        response = await client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    assert proxy.sent[0]["messages"][0]["content"] == content
