"""The policy that keeps or rejects each scored candidate: exclusions, health and rate limits (through an
``AvailabilityCheck``), capabilities, price, context window, and the hard cost cap, in that order.

The first failing check names the rejection reason. A kept candidate carries the ``max_tokens`` to send and its
worst-case cost, which never exceeds ``max_cost``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from app.pricing import decimal_str
from app.router.analysis import PromptAnalysis
from app.router.budget import plan_output
from app.router.decision import CandidateVerdict, RejectReason
from app.router.scoring import Candidate

__all__ = ["AvailabilityCheck", "BudgetPolicy", "RequestLimits"]


class AvailabilityCheck(Protocol):
    """Says whether a model can take a request now, without waiting.

    Returns ``None`` when it can, else ``(RejectReason.UNHEALTHY or RejectReason.RATE_LIMITED, "why")``.
    """

    def __call__(self, provider: str, model: str, prompt_tokens: int) -> tuple[RejectReason, str] | None: ...


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """The per-request inputs of the policy.

    Attributes:
        max_cost_usd: the hard cap, or ``None``.
        caller_max_tokens: the caller's ``max_tokens``, never raised.
        prompt_bound_tokens: upper bound of the prompt for the cap (by budget mode), tokens.
        exclude: ``provider/model`` keys or bare model names not to use.
    """

    max_cost_usd: Decimal | None
    caller_max_tokens: int | None
    prompt_bound_tokens: int
    exclude: Collection[str] = ()


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Judges candidates.

    Attributes:
        min_output_tokens: a model that the cap allows fewer output tokens than this is infeasible.
        default_max_output_tokens: the maximum output assumed for a model whose limit is unknown, tokens.
        availability: optional health / rate-limit check (wired by the resilience layer).
    """

    min_output_tokens: int = 16
    default_max_output_tokens: int = 4096
    availability: AvailabilityCheck | None = None

    def judge(self, candidate: Candidate, analysis: PromptAnalysis, limits: RequestLimits) -> CandidateVerdict:
        """Keep or reject one candidate, with the reason in words."""
        rejection = self._constraints(candidate, analysis, limits)
        if rejection is not None:
            return self._verdict(candidate, False, rejection[0], rejection[1], None, None)
        assert candidate.spec.pricing is not None  # checked by _constraints
        plan = plan_output(
            candidate.spec.pricing,
            prompt_bound_tokens=limits.prompt_bound_tokens,
            max_cost_usd=limits.max_cost_usd,
            caller_max_tokens=limits.caller_max_tokens,
            model_max_output_tokens=candidate.spec.max_output_tokens or self.default_max_output_tokens,
            min_output_tokens=self.min_output_tokens,
        )
        if not plan.feasible:
            return self._verdict(
                candidate, False, RejectReason.OVER_BUDGET, plan.detail, None, plan.worst_case_cost_usd
            )
        detail = f"quality {candidate.quality:.2f} for {analysis.task_type}"
        if candidate.quality_is_default:
            detail += " (no quality data: assumed)"
        detail += f"; {plan.detail}"
        may_truncate = plan.max_tokens is not None and plan.max_tokens < candidate.output_tokens
        if may_truncate:
            detail += f"; the answer may be cut (a typical one is ~{candidate.output_tokens} tokens)"
        return self._verdict(
            candidate, True, None, detail, plan.max_tokens, plan.worst_case_cost_usd, may_truncate=may_truncate
        )

    def _constraints(
        self, candidate: Candidate, analysis: PromptAnalysis, limits: RequestLimits
    ) -> tuple[RejectReason, str] | None:
        if candidate.key in limits.exclude or candidate.model in limits.exclude:
            return RejectReason.EXCLUDED, "excluded by the caller"
        if self.availability is not None:
            unavailable = self.availability(candidate.provider, candidate.model, analysis.upper_estimate_tokens)
            if unavailable is not None:
                return unavailable
        missing = _missing_capabilities(candidate, analysis)
        if missing:
            return RejectReason.CAPABILITY, f"does not support {', '.join(missing)}"
        if candidate.spec.pricing is None:
            return RejectReason.UNPRICED, "no price known (never routed as if free)"
        window = candidate.spec.context_window_tokens
        needed = analysis.upper_estimate_tokens + min(self.min_output_tokens, analysis.requested_output_tokens)
        if window is not None and needed > window:
            return RejectReason.CONTEXT, f"needs about {needed} tokens of context, the window is {window}"
        return None

    @staticmethod
    def _verdict(
        candidate: Candidate,
        kept: bool,
        reason: RejectReason | None,
        detail: str,
        max_tokens: int | None,
        worst_case: Decimal | None,
        *,
        may_truncate: bool = False,
    ) -> CandidateVerdict:
        estimate = candidate.estimated_cost_usd
        if kept and estimate is not None and worst_case is not None and plan_bounded(max_tokens):
            estimate = min(estimate, worst_case)
        return CandidateVerdict(
            provider=candidate.provider,
            model=candidate.model,
            kept=kept,
            reason=reason,
            detail=detail,
            quality=candidate.quality,
            quality_is_default=candidate.quality_is_default,
            estimated_cost_usd=estimate,
            worst_case_cost_usd=worst_case,
            max_tokens=max_tokens,
            may_truncate=may_truncate,
        )


def plan_bounded(max_tokens: int | None) -> bool:
    """Whether a worst case computed with ``max_tokens`` bounds the output (it does once max_tokens is sent)."""
    return max_tokens is not None


def _missing_capabilities(candidate: Candidate, analysis: PromptAnalysis) -> list[str]:
    """Capabilities the request needs that the model is known not to have (unknown counts as supported)."""
    caps = candidate.spec.capabilities
    needed = (
        ("tools", analysis.needs_tools, caps.tools),
        ("images", analysis.needs_vision, caps.vision),
        ("JSON output", analysis.needs_json, caps.json_output),
    )
    return [name for name, needs, supported in needed if needs and supported is False]


def describe_cap(max_cost_usd: Decimal | None) -> str:
    """``"$0.01"`` or ``"no cap"``."""
    return "no cap" if max_cost_usd is None else f"${decimal_str(max_cost_usd)}"
