"""``create_app``: the costmux gateway as a Starlette ASGI app (run it with uvicorn, or ``costmux serve``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.gateway import handlers
from app.gateway.errors import ErrorAnswer, error_answer, error_body
from app.gateway.settings import GatewaySettings
from app.gateway.state import GatewayState
from app.providers import Provider, ProviderRegistry
from app.settings import ProviderSettings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["create_app"]


def create_app(
    settings: GatewaySettings | None = None,
    *,
    upstream: ProviderSettings | None = None,
    providers: Mapping[str, Provider] | None = None,
    metrics_registry: CollectorRegistry | None = None,
    metrics: bool = True,
) -> Starlette:
    """The gateway app. Nothing is connected until it starts (its lifespan builds the provider and the router).

    Args:
        settings: the gateway's settings (default: :meth:`GatewaySettings.load` from the environment).
        upstream: the LiteLLM proxy's URL and key (default: :class:`~app.settings.ProviderSettings` from the
            environment); the gateway creates one ``LiteLLMProvider`` for it and closes it on shutdown.
        providers: route over these providers instead (a mapping or a :class:`ProviderRegistry`; the caller
            closes them). ``upstream`` is then ignored.
        metrics_registry: the ``CollectorRegistry`` of the app's metrics (default: a new one owned by the app, so
            several apps never share or clash).
        metrics: ``False`` disables the metrics and ``/metrics``.
    """
    gateway_settings = settings if settings is not None else GatewaySettings.load()
    registry = None
    if providers is not None:
        registry = providers if isinstance(providers, ProviderRegistry) else ProviderRegistry(providers)
    app_metrics = None
    if metrics:
        from prometheus_client import CollectorRegistry

        from app.metrics import CostmuxMetrics

        app_metrics = CostmuxMetrics(registry=metrics_registry if metrics_registry is not None else CollectorRegistry())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = GatewayState.build(gateway_settings, upstream, registry, app_metrics)
        app.state.gateway = state
        state.start()
        try:
            yield
        finally:
            await state.aclose()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", handlers.chat_completions, methods=["POST"]),
            Route("/chat/completions", handlers.chat_completions, methods=["POST"]),
            Route("/v1/models", handlers.list_models, methods=["GET"]),
            Route("/models", handlers.list_models, methods=["GET"]),
            Route("/health", handlers.health, methods=["GET"]),
            Route("/v1/budgets", handlers.budgets, methods=["GET"]),
            Route("/metrics", handlers.metrics, methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_allowed, Exception: _internal},
        lifespan=lifespan,
    )
    app.state.metrics = app_metrics
    return app


def _json(answer: ErrorAnswer) -> Response:
    return Response(answer.json_bytes(), answer.status, answer.headers, media_type="application/json")


async def _not_found(request: Request, exc: Exception) -> Response:
    return _json(ErrorAnswer(404, error_body(f"no route {request.url.path}", "invalid_request_error", "not_found")))


async def _not_allowed(request: Request, exc: Exception) -> Response:
    body = error_body(f"{request.method} is not allowed here", "invalid_request_error", "method_not_allowed")
    return _json(ErrorAnswer(405, body))


async def _internal(request: Request, exc: Exception) -> Response:
    return _json(error_answer(exc))
