"""Quality estimators: for one request and each candidate, an expected quality in [0, 1] and where it came from.

The router scores first, then decides (:mod:`app.router.scoring`, then the policy and the strategy); the quality
part of a score comes from a :class:`QualityEstimator`:

- :class:`CatalogQuality` (the default): the model's quality for the request's task type from its spec (the
  catalog's per-task table, a custom entry, or a price prior); source ``catalog``, ``prior`` or ``default``.
- :class:`LearnedQuality`: a trained :class:`~app.quality.QualityModel`, per prompt. ``mode="combined"`` (default):
  a model the quality model was trained on gets its own head's probability (source ``learned``); any other model
  its catalog quality moved by the prompt's difficulty, ``σ(logit(catalog) + difficulty shift)`` (source
  ``difficulty+catalog``, or ``difficulty+prior`` on a prior); ``"difficulty"``: that combination for every model;
  ``"learned"``: own heads only, the catalog for the rest.

Per-prompt figures are probabilities that *this* prompt is answered well, so the cost/quality knob reads them on an
absolute scale (:func:`app.router.strategies.knob_threshold`); :attr:`CandidateVerdict.quality_per_prompt` tells.

Speed: the prompt is featurized once per request (:mod:`app.quality.features`: ~30 µs for 2 KB), each head's sum is
one C-level ``map`` over the prompt's known terms, and each model's plan (which head, its catalog log-odds per
task) is kept per provider profile tuple, so the per-model work is a lookup and one sigmoid.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from app.catalog.names import parse_name
from app.errors import ConfigurationError
from app.quality import TEXT_FEATURES, QualityModel, load_quality_model, prompt_text, text_features
from app.quality.features import DEFAULT_WINDOW, Window
from app.quality.model import Head, logit, sigmoid
from app.router.analysis import PromptAnalysis
from app.router.decision import PER_PROMPT_SOURCES
from app.router.scoring import TASK_INDEX, TASK_ORDER, ModelProfile, QualityEstimate
from app.tasks import TaskType

__all__ = [
    "DENSE_FEATURES",
    "PER_PROMPT_SOURCES",
    "CatalogQuality",
    "LearnedQuality",
    "PromptQuality",
    "QualityEstimator",
    "QualityMode",
    "dense_features",
    "quality_estimator",
]


#: The dense features a quality model is trained with, from the router's prompt analysis (see dense_features).
DENSE_FEATURES: Final = (
    "log_tokens",
    "complexity",
    "has_code",
    "multi_turn",
    *(f"task:{task}" for task in TaskType),
    *TEXT_FEATURES,
)

QualityMode = Literal["combined", "learned", "difficulty"]


def dense_features(analysis: PromptAnalysis, text: str, chars: Window = DEFAULT_WINDOW) -> tuple[float, ...]:
    """The :data:`DENSE_FEATURES` of an analysed prompt whose text (:func:`~app.quality.prompt_text`) is ``text``:
    ``ln(1 + prompt tokens) / 5``, complexity in [0, 1], code (0/1), several messages (0/1), the task type one-hot,
    then :func:`~app.quality.text_features` of the ``chars`` window."""
    return (
        math.log1p(analysis.estimated_tokens) / 5.0,
        analysis.complexity,
        1.0 if analysis.has_code else 0.0,
        1.0 if analysis.message_count > 1 else 0.0,
        *_ONE_HOT[TASK_INDEX[analysis.task_type]],
        *text_features(text, chars),
    )


#: The task type one-hot per task index.
_ONE_HOT: Final = tuple(
    tuple(1.0 if index == task else 0.0 for index in range(len(TASK_ORDER))) for task in range(len(TASK_ORDER))
)


class PromptQuality(ABC):
    """One request's quality estimates (the prompt featurized once), asked once per provider."""

    @abstractmethod
    def estimate(self, profiles: Sequence[ModelProfile]) -> list[QualityEstimate]:
        """One estimate per profile, in order; ``None`` keeps the profile's catalog figure."""


class QualityEstimator(ABC):
    """Makes a :class:`PromptQuality` per request (``None``: the catalog's figures for every model)."""

    name: ClassVar[str] = ""

    @abstractmethod
    def prepare(self, messages: Sequence[Any], analysis: PromptAnalysis) -> PromptQuality | None:
        """Featurize the request (messages as routed, and the router's analysis of them)."""


class CatalogQuality(QualityEstimator):
    """Each model's quality for the task type from its spec: the router's behaviour without a quality model."""

    name = "catalog"

    def prepare(self, messages: Sequence[Any], analysis: PromptAnalysis) -> PromptQuality | None:
        return None


#: A model's plan under a quality model: (its own head or None, catalog log-odds per task or None, assumed per task).
_Plan = tuple[Head | None, tuple[float | None, ...], tuple[bool, ...]]


class LearnedQuality(QualityEstimator):
    """Per-prompt quality from a trained :class:`~app.quality.QualityModel` (module doc for the modes).

    Raises:
        ConfigurationError: an unknown mode, or ``"difficulty"`` with a model that has no difficulty head.
    """

    name = "learned"

    def __init__(self, model: QualityModel, mode: QualityMode = "combined") -> None:
        if mode not in ("combined", "learned", "difficulty"):
            raise ConfigurationError(f"quality mode must be combined, learned or difficulty, got {mode!r}")
        if mode == "difficulty" and model.difficulty is None:
            raise ConfigurationError("this quality model has no difficulty head: use mode 'combined' or 'learned'")
        self.model = model
        self.mode = mode
        self._heads = {name: head for name, head in model.heads.items()} if mode != "difficulty" else {}
        self._canonical = {parse_name(name).canonical: head for name, head in self._heads.items()}
        self._plans: dict[int, tuple[Sequence[ModelProfile], list[_Plan]]] = {}

    def __repr__(self) -> str:
        return f"LearnedQuality(mode={self.mode!r}, heads={len(self._heads)}, terms={len(self.model.vocabulary)})"

    def prepare(self, messages: Sequence[Any], analysis: PromptAnalysis) -> PromptQuality:
        model = self.model
        text = prompt_text(messages)
        columns = model.text_columns(text)
        dense = dense_features(analysis, text, model.window_chars)
        scale = model.scale_of(columns)
        shift = None
        if model.difficulty is not None and self.mode != "learned":
            shift = model.difficulty.head.logit_of(columns, dense, scale) - model.difficulty.mean_score
        return _LearnedPrompt(self, columns, dense, scale, shift, TASK_INDEX[analysis.task_type])

    def plans(self, profiles: Sequence[ModelProfile]) -> list[_Plan]:
        """Each profile's plan, kept per profile tuple (the router rebuilds its tuple when a provider's models
        change)."""
        cached = self._plans.get(id(profiles))
        if cached is not None and cached[0] is profiles:
            return cached[1]
        plans = [self._plan(profile) for profile in profiles]
        if len(self._plans) >= 64:
            self._plans.clear()
        self._plans[id(profiles)] = (profiles, plans)
        return plans

    def _plan(self, profile: ModelProfile) -> _Plan:
        head = self._heads.get(profile.model)
        if head is None and self._heads:
            head = self._canonical.get(parse_name(profile.model).canonical)
        odds = tuple(None if quality is None else logit(quality) for quality in profile.quality)
        assumed = profile.assumed or (False,) * len(odds)
        return head, odds, assumed


class _LearnedPrompt(PromptQuality):
    __slots__ = ("_columns", "_dense", "_estimator", "_logits", "_scale", "_shift", "_task")

    def __init__(
        self,
        estimator: LearnedQuality,
        columns: list[int],
        dense: tuple[float, ...],
        scale: float,
        shift: float | None,
        task: int,
    ) -> None:
        self._estimator = estimator
        self._columns = columns
        self._dense = dense
        self._scale = scale
        self._shift = shift
        self._task = task
        self._logits: dict[int, float] = {}

    def estimate(self, profiles: Sequence[ModelProfile]) -> list[QualityEstimate]:
        task, shift, logits = self._task, self._shift, self._logits
        estimates: list[QualityEstimate] = []
        append = estimates.append
        for head, odds, assumed in self._estimator.plans(profiles):
            if head is not None:
                z = logits.get(id(head))
                if z is None:
                    z = logits[id(head)] = head.logit_of(self._columns, self._dense, self._scale)
                append((sigmoid(z), "learned"))
            elif shift is not None and (base := odds[task]) is not None:
                append((sigmoid(base + shift), "difficulty+prior" if assumed[task] else "difficulty+catalog"))
            else:
                append(None)
        return estimates


def quality_estimator(
    source: QualityEstimator | QualityModel | str | Path | None, mode: QualityMode = "combined"
) -> QualityEstimator:
    """The estimator a router uses: ``None`` → :class:`CatalogQuality`; a :class:`QualityModel`, or the path of
    one (``"default"``: the shipped model) → :class:`LearnedQuality` in ``mode``; an estimator as given.

    Raises:
        QualityModelError: the file cannot be used.  ConfigurationError: a bad mode.
    """
    if source is None:
        return CatalogQuality()
    if isinstance(source, QualityEstimator):
        return source
    model = source if isinstance(source, QualityModel) else load_quality_model(source)
    return LearnedQuality(model, mode)
