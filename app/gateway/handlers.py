"""The gateway's endpoints: ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /health``, ``GET /metrics``,
``GET /v1/budgets``."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.budgets import RequestBudget
from app.errors import CostmuxError, ModelNotFoundError, SpendLimitExceededError, StoreUnavailableError
from app.gateway.body import read_json_body
from app.gateway.errors import ErrorAnswer, error_answer, error_body, shown
from app.gateway.requests import ChatRequest, excluded_for, parse_chat_request
from app.gateway.spend import route_within_budget
from app.gateway.sse import sse_stream
from app.gateway.state import GatewayState
from app.pricing import decimal_str
from app.router import RoutedResponse, RoutedStream, RoutingDecision

__all__ = ["budgets", "chat_completions", "health", "list_models", "metrics"]

_COSTMUX_FIELDS = {"cost_usd", "cost_source", "call_id"}
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


def _error(answer: ErrorAnswer, budget: RequestBudget | None = None) -> Response:
    headers = {**answer.headers, **budget.headers()} if budget is not None else answer.headers
    return Response(answer.json_bytes(), answer.status, headers, media_type="application/json")


def _unauthorized() -> Response:
    body = error_body(
        "missing or invalid API key (Authorization: Bearer ...)", "authentication_error", "invalid_api_key"
    )
    return _error(ErrorAnswer(401, body, {"www-authenticate": "Bearer"}))


async def chat_completions(request: Request) -> Response:
    """Route one chat completion (streamed or not) within its ``max_cost`` and its caller's spend budgets."""
    state = _state(request)
    allowed, principal = state.caller(request.headers.get("authorization"))
    if not allowed:
        return _unauthorized()
    budget = state.budgets.for_request(principal) if state.budgets is not None else None
    try:
        body = await read_json_body(
            request.stream(), request.headers.get("content-length"), state.settings.max_body_bytes
        )
        chat = parse_chat_request(
            body,
            request.headers,
            default_strategy=state.settings.default_strategy,
            default_max_cost=state.settings.default_max_cost,
        )
        exclude = await _exclusions(state, chat)

        async def route(cap: Decimal | None, spend: RequestBudget | None) -> Any:
            send = state.router.route_stream if chat.stream else state.router.route_request
            return await send(
                chat.messages,
                strategy=chat.strategy,
                max_cost=cap,
                max_tokens=chat.max_tokens,
                exclude=exclude,
                spend=spend,
                quality_share=chat.quality_share,
                **chat.params,
            )

        routed: Any = await route_within_budget(route, chat.max_cost, budget)
    except CostmuxError as exc:
        if isinstance(exc, SpendLimitExceededError) and state.budgets is not None:
            state.budgets.refused(exc)
        return _error(error_answer(exc), budget)
    if chat.stream:
        stream: RoutedStream = routed
        headers = _decision_headers(chat, stream.decision, stream.provider, stream.model)
        headers["x-costmux-worst-case-cost"] = decimal_str(stream.worst_case_cost_usd)
        headers["x-costmux-fallbacks"] = str(stream.fallbacks)
        headers["cache-control"] = "no-cache"
        headers.update(budget.headers() if budget is not None else {})
        return StreamingResponse(
            sse_stream(stream, include_usage=chat.include_usage), headers=headers, media_type="text/event-stream"
        )
    response = _completion_response(chat, routed)
    if budget is not None:
        response.headers.update(budget.headers())
    return response


async def _exclusions(state: GatewayState, chat: ChatRequest) -> frozenset[str]:
    """What the router must not use; a concrete model unknown to every provider is a 404."""
    if chat.model is None:
        return state.auto_excluded
    await state.refresh_models()
    known = state.known_models()
    if not any(model == chat.model or f"{provider}/{model}" == chat.model for provider, model in known):
        message = f"the model {shown(chat.model)} does not exist (GET /v1/models lists them)"
        raise ModelNotFoundError(message, status_code=404, model=chat.model, request_sent=False)
    return excluded_for(chat, known, state.auto_excluded)


def _decision_headers(chat: ChatRequest, decision: RoutingDecision, provider: str, model: str) -> dict[str, str]:
    headers = {
        "x-costmux-model": model,
        "x-costmux-provider": provider,
        "x-costmux-strategy": decision.strategy if chat.model is None else "passthrough",
    }
    estimate = next(
        (v.estimated_cost_usd for v in decision.ranked if v.model == model and v.provider == provider),
        decision.estimated_cost_usd,
    )
    if estimate is not None:
        headers["x-costmux-estimated-cost"] = decimal_str(estimate)
    if decision.max_cost_usd is not None:
        headers["x-costmux-max-cost"] = decimal_str(decision.max_cost_usd)
    if decision.quality_share is not None:
        headers["x-costmux-quality-share"] = repr(decision.quality_share)
    return headers


def _completion_response(chat: ChatRequest, routed: RoutedResponse) -> Response:
    """The upstream's completion as it came (costmux's own fields left out), with ``usage.cost`` (USD, the whole
    request's) and the decision in headers."""
    body: dict[str, Any] = routed.response.model_dump(mode="json", exclude_unset=True, exclude=_COSTMUX_FIELDS)
    cost = decimal_str(sum((attempt.cost_usd for attempt in routed.attempts), Decimal(0)))  # exact
    if isinstance(body.get("usage"), dict):
        body["usage"]["cost"] = routed.cost_usd
    headers = _decision_headers(chat, routed.decision, routed.provider, routed.model)
    last = routed.attempts[-1]
    if last.worst_case_cost_usd is not None:
        headers["x-costmux-worst-case-cost"] = decimal_str(last.worst_case_cost_usd)
    headers["x-costmux-fallbacks"] = str(routed.fallbacks)
    headers["x-costmux-cost"] = cost
    return Response(_dumps(body).encode(), 200, headers, media_type="application/json")


async def list_models(request: Request) -> Response:
    """The ``auto`` routes and the routable (priced) models with their prices per 1M tokens."""
    state = _state(request)
    if not state.authorized(request.headers.get("authorization")):
        return _unauthorized()
    await state.refresh_models()
    return JSONResponse({"object": "list", "data": state.describe_models()})


async def health(request: Request) -> Response:
    """200 when every upstream answers its free liveness and readiness checks, else 503 (never a paid call)."""
    state = _state(request)
    names = list(state.registry)
    checks = [getattr(state.registry[name], "health_check", None) for name in names]
    results = await asyncio.gather(*(check() for check in checks if check is not None))
    upstream: dict[str, bool | None] = {}
    found = iter(results)
    for name, check in zip(names, checks, strict=True):
        upstream[name] = bool(next(found)) if check is not None else None
    healthy = all(ok is not False for ok in upstream.values())
    status = "ok" if healthy else "degraded"
    return JSONResponse({"status": status, "gateway": "ok", "upstream": upstream}, 200 if healthy else 503)


async def budgets(request: Request) -> Response:
    """Spent, reserved and remaining of every configured spend budget in its current window (admin keys only;
    anyone when the gateway has no key). Read-only."""
    state = _state(request)
    allowed, principal = state.caller(request.headers.get("authorization"))
    if not allowed:
        return _unauthorized()
    if principal is not None and not principal.admin:
        body = error_body("the budget status needs an admin key", "permission_error", "admin_key_required")
        return _error(ErrorAnswer(403, body))
    if state.budgets is None:
        return JSONResponse({"object": "list", "backend": None, "data": []})
    try:
        reports = await state.budgets.status()
    except StoreUnavailableError as exc:
        return _error(error_answer(exc))
    backend = "redis" if state.redis is not None else "memory"
    return JSONResponse({"object": "list", "backend": backend, "data": [r.as_dict() for r in reports]})


async def metrics(request: Request) -> Response:
    """The app's metrics in the Prometheus text format."""
    state = _state(request)
    if state.metrics is None:
        return _error(ErrorAnswer(404, error_body("metrics are disabled", "invalid_request_error", "not_found")))
    if not state.authorized(request.headers.get("authorization")):
        return _unauthorized()
    return Response(state.metrics.render(), 200, media_type=state.metrics.content_type)
