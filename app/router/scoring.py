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

__all__ = [
    "DEFAULT_QUALITY",
    "EXPECTED_OUTPUT_TOKENS",
    "Candidate",
    "ModelProfile",
    "expected_output_tokens",
    "score_candidate",
]

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


@dataclass(slots=True)
class ModelProfile:
    """What routing needs of one (provider, model), precomputed from its spec once per model-knowledge version.

    ``quality`` holds one score per :class:`TaskType` (in declaration order), ``None`` where the spec has none.
    """

    provider: str
    model: str
    key: str
    spec: ModelSpec
    input_usd_per_token: Decimal | None
    output_usd_per_token: Decimal | None
    max_output_tokens: int | None
    context_window_tokens: int | None
    quality: tuple[float | None, ...]

    @classmethod
    def from_spec(cls, provider: str, model: str, spec: ModelSpec) -> ModelProfile:
        pricing = spec.pricing
        quality = spec.quality or {}
        return cls(
            provider=provider,
            model=model,
            key=f"{provider}/{model}",
            spec=spec,
            input_usd_per_token=pricing.input_usd_per_token if pricing is not None else None,
            output_usd_per_token=pricing.output_usd_per_token if pricing is not None else None,
            max_output_tokens=spec.max_output_tokens,
            context_window_tokens=spec.context_window_tokens,
            quality=tuple(quality.get(task) for task in TASK_ORDER),
        )


TASK_ORDER: Final = tuple(TaskType)
TASK_INDEX: Final[Mapping[TaskType, int]] = {task: index for index, task in enumerate(TASK_ORDER)}


@dataclass(slots=True)
class Candidate:
    """One model's estimates for one request.

    Attributes:
        profile: the model (prices, windows, capabilities, quality).
        quality: quality for the request's task type in [0, 1]; ``quality_is_default`` when assumed.
        output_tokens: expected output length (capped by the model's maximum output), tokens.
        estimated_cost_usd: prompt estimate × input price + expected output × output price; ``None`` if unpriced.
    """

    profile: ModelProfile
    quality: float
    quality_is_default: bool
    output_tokens: int
    estimated_cost_usd: Decimal | None


def score_candidate(profile: ModelProfile, analysis: PromptAnalysis, output_tokens: int) -> Candidate:
    """Estimate quality and expected cost of the profiled model for the analysed request."""
    quality = profile.quality[TASK_INDEX[analysis.task_type]]
    max_output = profile.max_output_tokens
    if max_output is not None and max_output < output_tokens:
        output_tokens = max_output
    cost = None
    if profile.input_usd_per_token is not None and profile.output_usd_per_token is not None:
        cost = analysis.estimated_tokens * profile.input_usd_per_token + output_tokens * profile.output_usd_per_token
    return Candidate(
        profile,
        DEFAULT_QUALITY if quality is None else quality,
        quality is None,
        output_tokens,
        cost,
    )
