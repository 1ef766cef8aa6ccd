"""The Grafana dashboard (docs/grafana/costmux.json) only queries metrics costmux exports, and covers each family."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from app.metrics import CostmuxMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "costmux.json"
_NAME = re.compile(r"\bcostmux_[a-z0-9_]+")
_SERIES_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def exported() -> set[str]:
    """Every series name costmux exposes (counters with ``_total``, histograms with their series)."""
    names = set()
    for metric in CostmuxMetrics(CollectorRegistry()).registry.collect():
        names.add(metric.name)
        if metric.type == "counter":
            names.add(metric.name + "_total")
        if metric.type == "histogram":
            names.update(metric.name + suffix for suffix in ("_bucket", "_count", "_sum"))
    return names


def queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_query_names_only_metrics_costmux_exports() -> None:
    known = exported()
    found = queries()
    assert len(found) >= 20
    for expr in found:
        names = _NAME.findall(expr)
        assert names, f"a query names no costmux metric: {expr}"
        unknown = [name for name in names if name not in known]
        assert not unknown, f"{unknown} in {expr!r} are not exported"


def test_the_dashboard_covers_spend_budgets_routing_refusals_latency_and_health() -> None:
    used = {re.sub("|".join(s + "$" for s in _SERIES_SUFFIXES), "", n) for e in queries() for n in _NAME.findall(e)}
    for family in (
        "costmux_spend_usd",
        "costmux_budget_remaining_usd",
        "costmux_spend_refusals",
        "costmux_routing_decisions",
        "costmux_budget_refusals",
        "costmux_request_duration_seconds",
        "costmux_model_health",
        "costmux_store_errors",
    ):
        assert family in used, family
