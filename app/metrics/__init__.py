"""Prometheus metrics of costmux (prometheus-client): requests, tokens, cost, routing decisions, refusals,
fallbacks, retries, rate limits and model health.

Public API::

    from app.metrics import CostmuxMetrics, start_metrics_server

    metrics = CostmuxMetrics()          # or CostmuxMetrics(registry=my_registry)
    metrics.instrument(provider)        # counts its calls
    metrics.instrument(router)          # counts its decisions
    start_metrics_server(9464)          # or mount metrics.asgi_app() at /metrics, or serve metrics.render()

Nothing is created at import. Every metric and label is described in docs/metrics.md.
"""

from app.metrics.observer import HEALTH_VALUES, CostmuxMetrics
from app.metrics.server import start_metrics_server

__all__ = ["HEALTH_VALUES", "CostmuxMetrics", "start_metrics_server"]
