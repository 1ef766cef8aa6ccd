"""Small quality models built by hand, so tests know exactly what each head says."""

from __future__ import annotations

from collections.abc import Mapping

from app.quality import Difficulty, Head, QualityModel
from app.router.quality import DENSE_FEATURES


def head(vocabulary: tuple[str, ...], bias: float, weights: Mapping[str, float]) -> Head:
    """A head with ``bias`` and the given term weights (every other term and dense feature: 0)."""
    return Head(bias, (0.0, *(weights.get(term, 0.0) for term in vocabulary)), (0.0,) * len(DENSE_FEATURES))


def hand_model(
    heads: Mapping[str, tuple[float, Mapping[str, float]]],
    difficulty: Mapping[str, float] | None = None,
    vocabulary: tuple[str, ...] = ("integral", "hello", "prove"),
) -> QualityModel:
    """Heads ``{model: (bias, {term: weight})}`` and an optional difficulty head ``{term: weight}`` (mean 0)."""
    hard = None
    if difficulty is not None:
        hard = Difficulty(head(vocabulary, 0.0, difficulty), 0.0, {name: 0.0 for name in heads})
    return QualityModel(
        vocabulary=vocabulary,
        dense_names=DENSE_FEATURES,
        heads={name: head(vocabulary, bias, weights) for name, (bias, weights) in heads.items()},
        difficulty=hard,
    )
