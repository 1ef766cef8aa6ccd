"""Routers: choose a model per request at the lowest cost, never above a hard per-request ``max_cost``.

Public API: :class:`HeuristicRouter`, :class:`CostOptimizedRouter`, :class:`Router`, the decision types, the
strategy interface and registry, and the prompt analysis.
"""

from app.router.analysis import PromptAnalysis, analyze
from app.router.budget import BudgetMode, OutputPlan, plan_output
from app.router.decision import CandidateVerdict, RejectReason, RoutingDecision
from app.router.execution import Attempt, RoutedResponse, SpendGuard, SpendHold
from app.router.policy import AvailabilityCheck, BudgetPolicy
from app.router.router import CostOptimizedRouter, HeuristicRouter, Router
from app.router.strategies import (
    CheapestAboveFloor,
    QualityFirst,
    QualityFloor,
    RoutingStrategy,
    available_strategies,
    get_strategy,
    register_strategy,
)
from app.router.stream_execution import RoutedStream
from app.tasks import TaskType

__all__ = [
    "Attempt",
    "AvailabilityCheck",
    "BudgetMode",
    "BudgetPolicy",
    "CandidateVerdict",
    "CheapestAboveFloor",
    "CostOptimizedRouter",
    "HeuristicRouter",
    "OutputPlan",
    "PromptAnalysis",
    "QualityFirst",
    "QualityFloor",
    "RejectReason",
    "RoutedResponse",
    "RoutedStream",
    "Router",
    "RoutingDecision",
    "RoutingStrategy",
    "SpendGuard",
    "SpendHold",
    "TaskType",
    "analyze",
    "available_strategies",
    "get_strategy",
    "plan_output",
    "register_strategy",
]
