"""Offline evaluation of routing quality against cost on labelled per-prompt outcomes (``costmux eval``).

Public API: :func:`read_outcomes` / :func:`write_outcomes` (the JSONL format), :class:`OfflineProvider` (models
known, nothing sent), :func:`evaluate` (every strategy through ``Router.decide``, against the baselines),
:func:`markdown_report`, :func:`pareto_plot` (needs the ``eval`` extra), and the metrics (:mod:`.metrics`).
Nothing here is imported by the router: dependencies point one way (router ← evaluation ← cli).
"""

from app.evaluation.evaluate import evaluate
from app.evaluation.metrics import aiq, apgr, calls_to_reach, upper_hull
from app.evaluation.offline import OfflineProvider
from app.evaluation.outcomes import Outcome, OutcomeSet, read_outcomes, write_outcomes
from app.evaluation.plot import pareto_plot
from app.evaluation.report import markdown_report

__all__ = [
    "OfflineProvider",
    "Outcome",
    "OutcomeSet",
    "aiq",
    "apgr",
    "calls_to_reach",
    "evaluate",
    "markdown_report",
    "pareto_plot",
    "read_outcomes",
    "upper_hull",
    "write_outcomes",
]
