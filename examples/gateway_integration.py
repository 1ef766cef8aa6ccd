"""costmux inside your own Starlette gateway: a provider registry, a cost-optimized router under a hard cap, and
Prometheus metrics at /metrics. Needs LITELLM_BASE_URL (and LITELLM_API_KEY) and the ``server`` extra
(starlette, uvicorn).

    python examples/gateway_integration.py              # serves on http://127.0.0.1:8080 (PORT to change)
    curl -s localhost:8080/ask -d '{"messages": [{"role": "user", "content": "Hi"}], "max_cost": 0.002}'
    curl -sL localhost:8080/metrics                     # the mounted app answers at /metrics/
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from app.errors import BudgetExceededError, CostmuxError, InvalidRequestError, NoModelAvailableError, ProviderError
from app.metrics import CostmuxMetrics
from app.providers import LiteLLMProvider, ProviderRegistry
from app.router import CostOptimizedRouter

DEFAULT_MAX_COST_USD = 0.01


def create_app(registry: CollectorRegistry | None = None) -> Starlette:
    """The gateway: ``POST /ask`` routes a chat under ``max_cost``; ``/metrics`` serves the Prometheus metrics
    (of ``registry``, default the global one)."""
    provider = LiteLLMProvider()  # URL and key from LITELLM_BASE_URL and LITELLM_API_KEY
    providers = ProviderRegistry()
    providers.register(provider)  # under its name, "litellm"; register more (or unregister) at any time
    router = CostOptimizedRouter(providers=providers)
    metrics = CostmuxMetrics(registry)
    metrics.instrument(providers)  # every registered provider, now or later: requests, tokens, cost, retries, ...
    metrics.instrument(router)  # decisions, rejections, refusals, fallbacks, decision time

    async def ask(request: Request) -> JSONResponse:
        try:
            body: Any = await request.json()
            messages, max_cost = body["messages"], body.get("max_cost", DEFAULT_MAX_COST_USD)
            exclude = [str(name) for name in body.get("exclude", ())]
        except (ValueError, KeyError, TypeError, AttributeError):
            return error(400, "send a JSON object with 'messages', optionally 'max_cost' (USD) and 'exclude' (models)")
        try:
            routed = await router.route_request(messages, max_cost=max_cost, exclude=exclude)
        except BudgetExceededError as exc:
            return error(402, str(exc), cheapest_cost_usd=exc.cheapest_cost_usd)
        except NoModelAvailableError as exc:
            return error(503, str(exc))
        except InvalidRequestError as exc:
            return error(400, str(exc))
        except ProviderError as exc:
            return error(exc.status_code or 502, str(exc))
        except CostmuxError as exc:
            return error(500, str(exc))
        return JSONResponse({"model": routed.model, "cost_usd": routed.cost_usd, "content": routed.content})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await provider.aclose()

    return Starlette(
        routes=[Route("/ask", ask, methods=["POST"]), Mount("/metrics", app=metrics.asgi_app())], lifespan=lifespan
    )


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"message": message, **extra}}, status_code=status)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
