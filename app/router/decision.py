"""What a routing decision records: the choice, the plan sent upstream, and a verdict for every candidate."""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Final, NamedTuple, cast

from app.pricing import AttoUsd, atto_to_usd, decimal_str

if TYPE_CHECKING:
    from app.router.analysis import PromptAnalysis

__all__ = ["CandidateVerdict", "RejectReason", "RoutingDecision"]


class RejectReason(enum.StrEnum):
    """Why a candidate model was not kept (also the metric label values of rejections)."""

    OVER_BUDGET = "over_budget"
    CONTEXT = "context"
    CAPABILITY = "capability"
    UNPRICED = "unpriced"
    UNHEALTHY = "unhealthy"
    RATE_LIMITED = "rate_limited"
    EXCLUDED = "excluded"


#: Quality sources that are estimates for the prompt itself (a learned quality model's; app.router.quality).
PER_PROMPT_SOURCES: Final = frozenset({"learned", "difficulty+catalog", "difficulty+prior"})

#: The template of a kept candidate's note; its args are ``(task_type, plan_note, typical_output_tokens)``.
KEPT_NOTE: Final = "\x00kept"


class CandidateVerdict(NamedTuple):
    """One candidate model, what it would cost, and whether it was kept.

    An immutable named tuple (the router makes one per model per request, and a tuple is the cheapest record
    Python makes; two verdicts with the same content compare equal).

    Costs are USD (exact ``Decimal``, from the atto-USD the router computes in: ``..._atto`` fields);
    ``worst_case_cost_usd`` is the prompt's upper bound × input price plus ``max_tokens`` × output price, the figure
    the cap is checked against; ``estimated_cost_usd`` the expected cost (typical answer length, at most the worst
    case). ``None`` costs mean the model is unpriced (or was rejected before it was costed).
    ``may_truncate`` is true when the cap leaves the model fewer output tokens than a typical answer needs.
    ``expected_quality`` is ``quality`` times the chance that the answer fits the ``max_tokens`` the cap leaves
    (:class:`~app.router.scoring.AnswerLength`; a cut answer counts as a failure): the figure strategies rank by.
    ``detail`` says why in words (rendered on first read from ``note``, since most verdicts are never read).
    ``quality_source`` says where ``quality`` came from: ``catalog`` (the model's figure for the task type),
    ``prior`` (assumed from its price), ``default`` (nothing known), or a quality model's per-prompt estimate
    (``learned``, ``difficulty+catalog``, ``difficulty+prior``; see :mod:`app.router.quality`).
    ``token_family`` is the model's tokenizer family and ``prompt_bound_tokens`` the prompt bound its worst case was
    computed with (by family, learned from billed usage, or exact; ``None`` when rejected before it was costed).
    """

    provider: str
    model: str
    kept: bool
    reason: RejectReason | None
    quality: float
    quality_is_default: bool
    estimated_cost_atto: AttoUsd | None
    worst_case_cost_atto: AttoUsd | None
    max_tokens: int | None
    may_truncate: bool
    key: str
    note: tuple[str, tuple[object, ...]]
    expected_quality: float
    token_family: str = "unknown"
    prompt_bound_tokens: int | None = None
    quality_source: str = "catalog"

    @property
    def quality_per_prompt(self) -> bool:
        """Whether ``quality`` is an estimate for this prompt (a learned quality model's), not a per-task figure."""
        return self.quality_source in PER_PROMPT_SOURCES

    @property
    def estimated_cost_usd(self) -> Decimal | None:
        cost = self.estimated_cost_atto
        return None if cost is None else atto_to_usd(cost)

    @property
    def worst_case_cost_usd(self) -> Decimal | None:
        cost = self.worst_case_cost_atto
        return None if cost is None else atto_to_usd(cost)

    @property
    def detail(self) -> str:
        """Why the candidate was kept or rejected, in words."""
        template, args = self.note
        if template != KEPT_NOTE:
            return template.format(*args)
        task_type, plan_note, typical_tokens = args
        plan_template, plan_args = cast("tuple[str, tuple[object, ...]]", plan_note)
        if self.quality_per_prompt:
            text = f"quality {self.quality:.2f} for this prompt ({self.quality_source})"
        else:
            text = f"quality {self.quality:.2f} for {task_type}"
        if self.quality_source in ("default", "prior"):
            text += " (no quality data: assumed)"
        text += "; " + plan_template.format(*plan_args)
        if self.expected_quality < self.quality:
            fits = self.expected_quality / self.quality if self.quality else 0.0
            text += (
                f"; the answer may be cut: it fits max_tokens={self.max_tokens} with probability {fits:.0%} "
                f"(a typical one is ~{typical_tokens} tokens): expected quality {self.expected_quality:.2f}"
            )
        elif self.may_truncate:
            text += f"; the answer may be cut (a typical one is ~{typical_tokens} tokens)"
        return text

    def describe(self) -> str:
        """One line in words: kept or why rejected, with costs."""
        costs = ""
        if self.worst_case_cost_usd is not None and self.estimated_cost_usd is not None:
            costs = f" (est. ${decimal_str(self.estimated_cost_usd)}, worst ${decimal_str(self.worst_case_cost_usd)})"
        status = "kept" if self.kept else f"rejected: {self.reason}"
        prompt = f"{self.token_family} tokens"
        if self.prompt_bound_tokens is not None:
            prompt = f"prompt ≤ {self.prompt_bound_tokens:,} {prompt}"
        return f"{self.key}: {status} — {self.detail} [{prompt}]{costs}"


class RoutingDecision(NamedTuple):
    """The outcome of routing one request (an immutable named tuple, like the verdicts: one per request).

    Attributes:
        provider, model: the choice.
        strategy: the registered name of the strategy that ranked the candidates.
        reason: why this model, in words.
        max_tokens: the ``max_tokens`` that will be sent upstream (``None``: not sent, no cap applies).
        estimated_cost_usd: expected cost of the choice (prompt estimate, expected output length); a property.
        worst_case_cost_usd: the choice's worst case, ≤ ``max_cost_usd`` when a cap is set; a property.
        ranked: kept candidates in the strategy's order (the first is the choice; the rest are fallbacks).
        candidates: every candidate considered, kept or not, in the order considered.
        analysis: the prompt analysis the decision was based on.
        max_cost_usd, budget_mode: the cap and how prompt tokens were bounded.
        quality_share: the cost/quality knob the strategy was given (``None``: the strategy's default).
    """

    provider: str
    model: str
    strategy: str
    reason: str
    max_tokens: int | None
    ranked: tuple[CandidateVerdict, ...]
    candidates: tuple[CandidateVerdict, ...]
    analysis: PromptAnalysis
    max_cost_usd: Decimal | None
    budget_mode: str
    quality_share: float | None = None

    def __repr__(self) -> str:  # the analysis and the candidates are long: see explain()
        return (
            f"RoutingDecision(provider={self.provider!r}, model={self.model!r}, strategy={self.strategy!r}, "
            f"max_tokens={self.max_tokens!r}, estimated_cost_usd={self.estimated_cost_usd!r}, "
            f"worst_case_cost_usd={self.worst_case_cost_usd!r}, max_cost_usd={self.max_cost_usd!r}, "
            f"candidates={len(self.candidates)}, reason={self.reason!r})"
        )

    @property
    def chosen(self) -> CandidateVerdict:
        """The verdict of the chosen model."""
        return self.ranked[0]

    @property
    def estimated_cost_usd(self) -> Decimal | None:
        return self.ranked[0].estimated_cost_usd

    @property
    def worst_case_cost_usd(self) -> Decimal | None:
        return self.ranked[0].worst_case_cost_usd

    @property
    def rejected(self) -> tuple[CandidateVerdict, ...]:
        """Candidates that were not kept."""
        return tuple(verdict for verdict in self.candidates if not verdict.kept)

    def explain(self) -> str:
        """A multi-line account: the choice and its reason, then one line per candidate."""
        cap = "no cap" if self.max_cost_usd is None else f"max_cost ${decimal_str(self.max_cost_usd)}"
        lines = [
            f"{self.provider}/{self.model} via {self.strategy} ({cap}, {self.budget_mode} mode, "
            f"max_tokens={self.max_tokens}): {self.reason}"
        ]
        lines.extend(f"  {verdict.describe()}" for verdict in self.candidates)
        return "\n".join(lines)
