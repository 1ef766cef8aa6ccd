"""Estimates per candidate, before any policy: expected output length, expected cost, quality for the task, and the
chance that an answer fits a given ``max_tokens``.

Nothing here knows about the cap; :mod:`app.router.policy` decides what is feasible and asks
:class:`AnswerLength` how likely the ``max_tokens`` it plans is to cut the answer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, NamedTuple

from app.catalog import Reasoning
from app.pricing import AttoUsd, to_atto_usd
from app.providers import ModelSpec
from app.router.analysis import PromptAnalysis
from app.tasks import TaskType
from app.tokens import TokenFamily

__all__ = [
    "ANSWER_LENGTH_SIGMA",
    "DEFAULT_QUALITY",
    "EXPECTED_OUTPUT_TOKENS",
    "AnswerLength",
    "ModelProfile",
    "QualityEstimate",
    "Score",
    "expected_output_tokens",
    "needed_capabilities",
    "score_all",
]

#: Quality assumed for a model with no quality data for the task and no prior (no catalog, or no price): below every
#: catalog model of note, so such a model wins only on price for easy tasks; the decision says it was assumed. A
#: priced model the catalog does not know gets a prior instead (``app.catalog.prior``), also marked assumed.
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


#: Spread of answer lengths: σ of ``ln(tokens)`` around the typical length (a log-normal whose median is
#: :func:`expected_output_tokens`). Measured with costmux's token estimate on public answers (docs/routing.md):
#: σ 0.44-0.46 for each model's GSM8K answers, 0.27-1.29 across MT-Bench's categories; the typical lengths
#: themselves are rougher than that (GSM8K's median answer is ~100 tokens, the math median assumed here 400), so
#: 0.8 is used for every task, and 0.5 for translation, whose length follows the prompt's.
ANSWER_LENGTH_SIGMA: Final[Mapping[TaskType, float]] = {
    task: 0.5 if task is TaskType.TRANSLATION else 0.8 for task in TaskType
}
_SQRT2: Final = math.sqrt(2.0)
#: Beyond this many σ above the median an answer is taken to fit for sure (P > 0.9987).
_SURE_FIT_SIGMAS: Final = 3.0


class AnswerLength(NamedTuple):
    """The distribution of one request's answer length: log-normal, ``median_tokens`` and ``sigma`` of ``ln``.

    ``sure_fit_tokens`` is where :meth:`fit_probability` reaches 1 (3σ above the median), so callers skip the
    computation for the usual ``max_tokens`` far above a typical answer.
    """

    median_tokens: int
    sigma: float
    sure_fit_tokens: int

    @classmethod
    def of(cls, analysis: PromptAnalysis) -> AnswerLength:
        """The answer length expected for the analysed request (median: :func:`expected_output_tokens`)."""
        median = max(1, expected_output_tokens(analysis))
        sigma = ANSWER_LENGTH_SIGMA[analysis.task_type]
        return cls(median, sigma, math.ceil(median * math.exp(_SURE_FIT_SIGMAS * sigma)))

    def fit_probability(self, max_tokens: int) -> float:
        """P(the answer is at most ``max_tokens`` tokens): ``Φ((ln max_tokens − ln median) / σ)``, in [0, 1]."""
        if max_tokens >= self.sure_fit_tokens:
            return 1.0
        if max_tokens < 1:
            return 0.0
        z = math.log(max_tokens / self.median_tokens) / self.sigma
        return 0.5 * math.erfc(-z / _SQRT2)


#: Capability bits of :attr:`ModelProfile.missing_capabilities` and of a request's needs.
NEEDS_TOOLS: Final = 1
NEEDS_VISION: Final = 2
NEEDS_JSON: Final = 4
CAPABILITY_NAMES: Final = ((NEEDS_TOOLS, "tools"), (NEEDS_VISION, "images"), (NEEDS_JSON, "JSON output"))


def needed_capabilities(analysis: PromptAnalysis) -> int:
    """The request's needs as capability bits."""
    return NEEDS_TOOLS * analysis.needs_tools | NEEDS_VISION * analysis.needs_vision | NEEDS_JSON * analysis.needs_json


#: What the policy reads of a profile for every request, as one tuple (unpacked in one step on the hot path):
#: provider, model, key, missing capability bits, input and output atto-USD per token, whole prices, max output
#: tokens, context window tokens.
ProfileRow = tuple[str, str, str, int, AttoUsd | None, AttoUsd | None, bool, int | None, int | None]


@dataclass(slots=True)
class ModelProfile:
    """What routing needs of one (provider, model), precomputed from its spec once per model-knowledge version.

    ``quality`` holds one score per :class:`TaskType` (in declaration order), ``None`` where the spec has none.
    ``token_family`` is the tokenizer family the model's prompts are counted with (:mod:`app.tokens.families`).
    Prices are kept in USD per token and in atto-USD per token (``input_atto``; see :mod:`app.pricing`), the unit
    the router computes in; ``whole_prices`` says both are ints. ``missing_capabilities`` has the bits of the
    capabilities the model is known not to have (unknown counts as supported). ``assumed`` says, per task, whether the
    score is assumed (a prior or no data at all); ``reasoning`` is how a reasoning model spends hidden tokens.
    """

    provider: str
    model: str
    key: str
    spec: ModelSpec
    input_usd_per_token: Decimal | None
    output_usd_per_token: Decimal | None
    input_atto: AttoUsd | None
    output_atto: AttoUsd | None
    whole_prices: bool
    max_output_tokens: int | None
    context_window_tokens: int | None
    missing_capabilities: int
    quality: tuple[float | None, ...]
    assumed: tuple[bool, ...] = ()
    reasoning: Reasoning | None = None
    token_family: TokenFamily = "unknown"
    row: ProfileRow = field(init=False)

    def __post_init__(self) -> None:
        self.row = (
            self.provider,
            self.model,
            self.key,
            self.missing_capabilities,
            self.input_atto,
            self.output_atto,
            self.whole_prices,
            self.max_output_tokens,
            self.context_window_tokens,
        )

    @classmethod
    def from_spec(cls, provider: str, model: str, spec: ModelSpec) -> ModelProfile:
        pricing = spec.pricing
        quality = spec.quality or {}
        caps = spec.capabilities
        missing = (
            NEEDS_TOOLS * (caps.tools is False)
            | NEEDS_VISION * (caps.vision is False)
            | NEEDS_JSON * (caps.json_output is False)
        )
        input_atto = to_atto_usd(pricing.input_usd_per_token) if pricing is not None else None
        output_atto = to_atto_usd(pricing.output_usd_per_token) if pricing is not None else None
        return cls(
            provider=provider,
            model=model,
            key=f"{provider}/{model}",
            spec=spec,
            input_usd_per_token=pricing.input_usd_per_token if pricing is not None else None,
            output_usd_per_token=pricing.output_usd_per_token if pricing is not None else None,
            input_atto=input_atto,
            output_atto=output_atto,
            whole_prices=isinstance(input_atto, int) and isinstance(output_atto, int),
            max_output_tokens=spec.max_output_tokens,
            context_window_tokens=spec.context_window_tokens,
            missing_capabilities=missing,
            quality=tuple(quality.get(task) for task in TASK_ORDER),
            assumed=tuple(task not in quality or task in spec.assumed_quality for task in TASK_ORDER),
            reasoning=spec.reasoning,
            token_family=spec.token_family().family,
        )


TASK_ORDER: Final = tuple(TaskType)
TASK_INDEX: Final[Mapping[TaskType, int]] = {task: index for index, task in enumerate(TASK_ORDER)}

#: One model's estimates for one request: ``(quality, quality_is_default, output_tokens, estimated_cost_atto,
#: quality_source)``. quality in [0, 1]: for the task (a prior or ``DEFAULT_QUALITY`` when assumed), or for this
#: prompt when a quality estimator gave one; expected output length (the answer plus a reasoning model's expected
#: reasoning tokens) capped by the model's maximum output, tokens; prompt estimate × input price + expected output
#: × output price in atto-USD (``None`` if unpriced); where the quality came from (``catalog``, ``prior``,
#: ``default``, or an estimator's source such as ``learned``). A plain tuple: one is made per model per request.
Score = tuple[float, bool, int, AttoUsd | None, str]

#: One estimator figure per profile: (quality, source), or None where the catalog's figure stands.
QualityEstimate = tuple[float, str] | None


def score_all(
    profiles: Sequence[ModelProfile],
    analysis: PromptAnalysis,
    output_tokens: int,
    estimates: Sequence[QualityEstimate] | None = None,
) -> list[Score]:
    """Estimate quality and expected cost of every profiled model for the analysed request (no policy here).
    ``estimates`` (one per profile, from a quality estimator) replace the catalog's quality where not ``None``."""
    task = TASK_INDEX[analysis.task_type]
    prompt_tokens = analysis.estimated_tokens
    asked = analysis.reasoning
    scores: list[Score] = []
    append = scores.append
    for index, profile in enumerate(profiles):
        quality = profile.quality[task]
        max_output = profile.max_output_tokens
        expected = output_tokens
        if profile.reasoning is not None:  # reasoning tokens are billed as output, within the same limit
            expected += profile.reasoning.expected_reasoning_tokens(asked)
        out = max_output if max_output is not None and max_output < expected else expected
        input_atto, output_atto = profile.input_atto, profile.output_atto
        cost = None if input_atto is None or output_atto is None else prompt_tokens * input_atto + out * output_atto
        estimate = estimates[index] if estimates is not None else None
        if estimate is not None:
            learned, source = estimate
            append((learned, source.endswith("prior"), out, cost, source))
        elif quality is None:
            append((DEFAULT_QUALITY, True, out, cost, "default"))
        elif profile.assumed and profile.assumed[task]:
            append((quality, True, out, cost, "prior"))
        else:
            append((quality, False, out, cost, "catalog"))
    return scores
