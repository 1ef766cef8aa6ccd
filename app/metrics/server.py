"""Serving the metrics on their own port: :func:`start_metrics_server` (for a plugin user without a web app)."""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

__all__ = ["start_metrics_server"]


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", registry: CollectorRegistry | None = None
) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` (default the global one) at ``http://addr:port/metrics`` from a daemon thread.

    Binds loopback unless told otherwise; ``port=0`` picks a free port (``server.server_port``). Returns
    ``prometheus_client.start_http_server``'s ``(server, thread)``: ``server.shutdown(); server.server_close()``
    stops it.
    """
    return start_http_server(port, addr=addr, registry=registry if registry is not None else REGISTRY)
