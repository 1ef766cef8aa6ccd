"""The costmux gateway: an OpenAI-compatible HTTP server in front of the LiteLLM proxy that routes each request
to the cheapest suitable model within its ``max_cost`` (``costmux serve``; extra ``server``: starlette, uvicorn).

Public API: :func:`create_app` (a Starlette ASGI app) and :class:`GatewaySettings`. See docs/gateway.md.
"""

from app.gateway.app import create_app
from app.gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]
