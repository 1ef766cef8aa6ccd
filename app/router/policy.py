"""The policy that keeps or rejects each scored candidate: exclusions, health and rate limits (through an
``AvailabilityCheck``), capabilities, price, context window, and the hard cost cap, in that order.

The first failing check names the rejection reason. A kept candidate carries the ``max_tokens`` to send and its
worst-case cost, which never exceeds ``max_cost``. This runs once per model per request, so it allocates little
and leaves the wording of its explanations to be rendered when read.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from app.router.analysis import PromptAnalysis
from app.router.budget import plan_with_prices
from app.router.decision import CandidateVerdict, RejectReason
from app.router.scoring import Candidate

__all__ = ["AvailabilityCheck", "BudgetPolicy", "ProviderAvailability", "RequestLimits"]

Note = tuple[str, tuple[object, ...]]
#: A provider's own check (``Provider.model_availability``): ``(model, prompt_tokens) -> ("unhealthy" |
#: "rate_limited", why) | None``.
ProviderAvailability = Callable[[str, int], "tuple[str, str] | None"]


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
        prompt_bounds: per ``provider/model`` exact prompt counts that replace ``prompt_bound_tokens``.
    """

    max_cost_usd: Decimal | None
    caller_max_tokens: int | None
    prompt_bound_tokens: int
    exclude: Collection[str] = ()
    prompt_bounds: dict[str, int] | None = None


_EXCLUDED: Note = ("excluded by the caller", ())
_UNPRICED: Note = ("no price known (never routed as if free)", ())


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

    def judge(
        self,
        candidate: Candidate,
        analysis: PromptAnalysis,
        limits: RequestLimits,
        provider_check: ProviderAvailability | None = None,
    ) -> CandidateVerdict:
        """Keep or reject one candidate, with the reason; ``provider_check`` is the provider's health and
        rate-limit check, consulted without waiting."""
        rejection = self._constraints(candidate, analysis, limits, provider_check)
        if rejection is not None:
            return _verdict(candidate, False, rejection[0], rejection[1], None, None, False)
        profile = candidate.profile
        assert profile.input_usd_per_token is not None and profile.output_usd_per_token is not None
        bound = limits.prompt_bound_tokens
        if limits.prompt_bounds is not None:
            bound = limits.prompt_bounds.get(profile.key, bound)
        plan = plan_with_prices(
            profile.input_usd_per_token,
            profile.output_usd_per_token,
            prompt_bound_tokens=bound,
            max_cost_usd=limits.max_cost_usd,
            caller_max_tokens=limits.caller_max_tokens,
            model_max_output_tokens=profile.max_output_tokens or self.default_max_output_tokens,
            min_output_tokens=self.min_output_tokens,
        )
        if not plan.feasible:
            return _verdict(
                candidate, False, RejectReason.OVER_BUDGET, plan.note, None, plan.worst_case_cost_usd, False
            )
        may_truncate = plan.max_tokens is not None and plan.max_tokens < candidate.output_tokens
        note = ("{}", (_KeptNote(candidate, analysis, plan.note, may_truncate),))
        return _verdict(candidate, True, None, note, plan.max_tokens, plan.worst_case_cost_usd, may_truncate)

    def _constraints(
        self,
        candidate: Candidate,
        analysis: PromptAnalysis,
        limits: RequestLimits,
        provider_check: ProviderAvailability | None,
    ) -> tuple[RejectReason, Note] | None:
        profile = candidate.profile
        if limits.exclude and (profile.key in limits.exclude or profile.model in limits.exclude):
            return RejectReason.EXCLUDED, _EXCLUDED
        if self.availability is not None:
            unavailable = self.availability(profile.provider, profile.model, analysis.upper_estimate_tokens)
            if unavailable is not None:
                return unavailable[0], ("{}", (unavailable[1],))
        if provider_check is not None:
            refused = provider_check(profile.model, analysis.upper_estimate_tokens)
            if refused is not None:
                return RejectReason(refused[0]), ("{}", (refused[1],))
        if analysis.needs_tools or analysis.needs_vision or analysis.needs_json:
            missing = _missing_capabilities(candidate, analysis)
            if missing:
                return RejectReason.CAPABILITY, ("does not support {}", (", ".join(missing),))
        if profile.input_usd_per_token is None:
            return RejectReason.UNPRICED, _UNPRICED
        window = profile.context_window_tokens
        if window is not None:
            needed = analysis.upper_estimate_tokens + min(self.min_output_tokens, analysis.requested_output_tokens)
            if needed > window:
                return RejectReason.CONTEXT, ("needs about {} tokens of context, the window is {}", (needed, window))
        return None


class _KeptNote:
    """Renders the explanation of a kept candidate when it is read."""

    __slots__ = ("analysis", "candidate", "may_truncate", "plan_note")

    def __init__(self, candidate: Candidate, analysis: PromptAnalysis, plan_note: Note, may_truncate: bool) -> None:
        self.candidate = candidate
        self.analysis = analysis
        self.plan_note = plan_note
        self.may_truncate = may_truncate

    def __format__(self, spec: str) -> str:
        candidate = self.candidate
        text = f"quality {candidate.quality:.2f} for {self.analysis.task_type}"
        if candidate.quality_is_default:
            text += " (no quality data: assumed)"
        template, args = self.plan_note
        text += "; " + template.format(*args)
        if self.may_truncate:
            text += f"; the answer may be cut (a typical one is ~{candidate.output_tokens} tokens)"
        return text


def _verdict(
    candidate: Candidate,
    kept: bool,
    reason: RejectReason | None,
    note: Note,
    max_tokens: int | None,
    worst_case: Decimal | None,
    may_truncate: bool,
) -> CandidateVerdict:
    estimate = candidate.estimated_cost_usd
    if kept and estimate is not None and worst_case is not None and max_tokens is not None and worst_case < estimate:
        estimate = worst_case  # the cap bounds what the answer can cost
    profile = candidate.profile
    return CandidateVerdict(
        profile.provider,
        profile.model,
        kept,
        reason,
        candidate.quality,
        candidate.quality_is_default,
        estimate,
        worst_case,
        max_tokens,
        may_truncate,
        profile.key,
        note,
    )


def _missing_capabilities(candidate: Candidate, analysis: PromptAnalysis) -> list[str]:
    """Capabilities the request needs that the model is known not to have (unknown counts as supported)."""
    caps = candidate.profile.spec.capabilities
    needed = (
        ("tools", analysis.needs_tools, caps.tools),
        ("images", analysis.needs_vision, caps.vision),
        ("JSON output", analysis.needs_json, caps.json_output),
    )
    return [name for name, needs, supported in needed if needs and supported is False]
