"""Estimates per candidate, before any policy: expected output length, expected cost, quality for the task.

Nothing here knows about the cap; :mod:`app.router.policy` decides what is feasible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from app.providers import ModelSpec
from app.router.analysis import PromptAnalysis
from app.tasks import TaskType

__all__ = ["DEFAULT_QUALITY", "EXPECTED_OUTPUT_TOKENS", "Candidate", "expected_output_tokens", "score_candidate"]

#: Quality assumed for a model with no quality data for the task: below every catalog model of note, so an
#: unknown model wins only on price for easy tasks; the decision says it was assumed.
DEFAULT_QUALITY: Final = 0.5

#: Typical answer length per task type, tokens (for ranking by expected cost only; never for the cap).
EXPECTED_OUTPUT_TOKENS: Final[Mapping[TaskType, int]] = {
    TaskType.SIMPLE_QA: 120,
    TaskType.GENERAL: 300,
    TaskType.TRANSLATION: 0,  # about the prompt's length: see expected_output_tokens
    TaskType.SUMMARIZATION: 0,  # about a fifth of the prompt
    TaskType.CREATIVE_WRITING: 500,
    TaskType.CODE_GENERATION: 600,
    TaskType.CODE_REVIEW: 500,
    TaskType.MATH_REASONING: 400,
    TaskType.COMPLEX_ANALYSIS: 800,
}


def expected_output_tokens(analysis: PromptAnalysis) -> int:
    """Typical output length for the request's task type, tokens (translation and summarization scale with the
    prompt), capped by the caller's ``max_tokens``."""
    task = analysis.task_type
    if task is TaskType.TRANSLATION:
        expected = max(50, analysis.estimated_tokens)
    elif task is TaskType.SUMMARIZATION:
        expected = max(100, analysis.estimated_tokens // 5)
    else:
        expected = EXPECTED_OUTPUT_TOKENS[task]
    return min(expected, analysis.requested_output_tokens)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (provider, model) with its estimates for one request.

    Attributes:
        spec: what the provider knows about the model (prices, windows, capabilities, quality).
        quality: quality for the request's task type in [0, 1]; ``quality_is_default`` when assumed.
        output_tokens: expected output length (capped by the model's maximum output), tokens.
        estimated_cost_usd: prompt estimate × input price + expected output × output price; ``None`` if unpriced.
    """

    provider: str
    model: str
    spec: ModelSpec
    quality: float
    quality_is_default: bool
    output_tokens: int
    estimated_cost_usd: Decimal | None

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"


def score_candidate(
    provider: str, model: str, spec: ModelSpec, analysis: PromptAnalysis, output_tokens: int
) -> Candidate:
    """Estimate quality and expected cost of ``model`` for the analysed request."""
    quality = spec.quality.get(analysis.task_type) if spec.quality else None
    if spec.max_output_tokens is not None:
        output_tokens = min(output_tokens, spec.max_output_tokens)
    cost = None
    if spec.pricing is not None:
        cost = spec.pricing.cost_usd(analysis.estimated_tokens, output_tokens)
    return Candidate(
        provider=provider,
        model=model,
        spec=spec,
        quality=DEFAULT_QUALITY if quality is None else quality,
        quality_is_default=quality is None,
        output_tokens=output_tokens,
        estimated_cost_usd=cost,
    )
