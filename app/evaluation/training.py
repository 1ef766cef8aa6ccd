"""Fit a :class:`~app.quality.QualityModel` from labelled outcomes (``costmux train``): L2-regularised logistic
heads over the request-path features, solved with L-BFGS.

Features per prompt are exactly what the router computes at run time: the distinct terms of
:func:`~app.quality.prompt_terms` (presence, 0/1) that occur in at least ``min_df`` training prompts (at most
``max_terms`` of them, the most frequent), and :data:`~app.router.quality.DENSE_FEATURES`.

- **Per-model heads**: for each model of the data, minimise ``Σᵢ logloss(σ(b + w·xᵢ), yᵢ) + l2/2 ‖w‖²`` where
  ``yᵢ`` is the model's score on prompt ``i`` in [0, 1] (fractional scores are soft labels).
- **Difficulty head**: one ``w`` shared by every model with one bias ``b_m`` per model (its ability), minimising
  the same loss summed over every (prompt, model) pair: ``w·x`` is how much easier than average a prompt is for
  any model. Its mean over the training prompts is stored, so a prompt's shift is 0 on average.

Needs numpy and scipy (the ``train`` extra); never imported on the request path. Why not scikit-learn: the
featurizer must be costmux's own (the request path cannot afford a library vectorizer), and with the features
built, a logistic loss and its gradient are three lines of numpy; scipy's L-BFGS does the rest.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.errors import ConfigurationError
from app.evaluation.outcomes import Outcome
from app.quality import Difficulty, Head, QualityModel, prompt_digest, prompt_terms, prompt_text
from app.quality.features import DEFAULT_WINDOW, Window
from app.quality.model import Term, term_text
from app.router import analyze
from app.router.quality import DENSE_FEATURES, dense_features

if TYPE_CHECKING:
    import numpy as np
    from scipy import sparse

__all__ = ["Featurized", "TrainOptions", "balanced_weights", "featurize", "fit"]


@dataclass(frozen=True, slots=True)
class TrainOptions:
    """``l2``: the penalty on the weights (bias unpenalised), per head; ``min_df``: a term must occur in this many
    training prompts; ``max_terms``: the most frequent terms kept; ``max_iter``: L-BFGS iterations per head;
    ``difficulty``: fit the model-agnostic head too; ``window_chars``: the characters read from each prompt's start
    and end (:func:`~app.quality.features.window`; fewer make routing faster)."""

    l2: float = 128.0
    l2_dense: float = 128.0
    term_scale: str = "binary"
    min_df: int = 2
    max_terms: int = 100_000
    max_iter: int = 300
    difficulty: bool = True
    window_chars: Window = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not self.l2 > 0 or self.min_df < 1 or self.max_terms < 1 or self.max_iter < 1:
            raise ConfigurationError("training options: l2 > 0, min_df ≥ 1, max_terms ≥ 1, max_iter ≥ 1")
        head, tail = self.window_chars
        if head < 0 or tail < 0 or head + tail < 1:
            raise ConfigurationError(f"training options: window_chars must be ≥ 0, not both 0: {self.window_chars}")


@dataclass(frozen=True, slots=True)
class Featurized:
    """Prompts as the router sees them: each prompt's text, distinct terms and dense features, read through the
    ``window_chars`` window."""

    texts: list[str]
    terms: list[set[Term]]
    dense: list[tuple[float, ...]]
    window_chars: Window = DEFAULT_WINDOW

    def subset(self, indices: Sequence[int]) -> Featurized:
        """The features of the rows at ``indices``, in that order."""
        return Featurized(
            [self.texts[i] for i in indices],
            [self.terms[i] for i in indices],
            [self.dense[i] for i in indices],
            self.window_chars,
        )


def featurize(rows: Sequence[Outcome], window_chars: Window = DEFAULT_WINDOW) -> Featurized:
    """The request-path features of every row (the same functions the router calls), through ``window_chars``."""
    texts = [prompt_text(row.messages) for row in rows]
    terms = [prompt_terms(text, window_chars) for text in texts]
    dense = [dense_features(analyze(row.messages), text, window_chars) for row, text in zip(rows, texts, strict=True)]
    return Featurized(texts, terms, dense, window_chars)


def _numpy() -> tuple[Any, Any, Any]:
    try:
        import numpy
        from scipy import optimize, sparse
    except ImportError as exc:
        raise ConfigurationError(
            'training needs numpy and scipy: pip install "costmux[train]" (never needed to route)'
        ) from exc
    return numpy, sparse, optimize


def _vocabulary(terms: Sequence[set[Term]], options: TrainOptions) -> list[Term]:
    counts = Counter(term for prompt in terms for term in prompt)
    kept = [(count, term) for term, count in counts.items() if count >= options.min_df]
    kept.sort(key=lambda item: (-item[0], term_text(item[1])))
    return sorted((term for _, term in kept[: options.max_terms]), key=term_text)


def _matrix(features: Featurized, vocabulary: Sequence[Term], term_scale: str = "binary") -> sparse.csr_matrix:
    """Rows: prompts; columns: the vocabulary's terms (0/1), then the dense features."""
    numpy, sparse, _ = _numpy()
    column = {term: index for index, term in enumerate(vocabulary)}
    width = len(vocabulary)
    indptr, indices, values = [0], [], []
    for terms, dense in zip(features.terms, features.dense, strict=True):
        cols = sorted(index for index in map(column.get, terms) if index is not None)
        indices += cols
        values += [1.0 / math.sqrt(len(cols)) if term_scale == "sqrt" and cols else 1.0] * len(cols)
        for offset, value in enumerate(dense):
            if value:
                indices.append(width + offset)
                values.append(value)
        indptr.append(len(indices))
    shape = (len(features.terms), width + len(DENSE_FEATURES))
    return sparse.csr_matrix(
        (numpy.asarray(values), numpy.asarray(indices, dtype=numpy.int32), numpy.asarray(indptr)), shape=shape
    )


def _penalty(width: int, options: TrainOptions) -> np.ndarray:
    """The L2 penalty of each weight: ``l2`` for the terms, ``l2_dense`` for the dense features (the last
    columns: a few features every prompt has, which a term-sized penalty would mute)."""
    numpy, _, _ = _numpy()
    penalty: np.ndarray = numpy.full(width, options.l2)
    penalty[width - len(DENSE_FEATURES) :] = options.l2_dense
    return penalty


def _fit_logistic(
    x: sparse.csr_matrix, xt: sparse.csr_matrix, ys: np.ndarray, penalty: np.ndarray, w: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(biases, weights)``: one bias per column of the soft labels ``ys`` (each in [0, 1]) and term/dense weights
    shared by all columns, minimising the row-weighted (``w``) logistic loss plus ``Σ penalty × weight² / 2``
    (biases unpenalised). With one column this is a model's own head; with every model's column, the difficulty
    head (each bias a model's ability). ``xt`` is ``x`` transposed (CSR), made once by the caller."""
    numpy, _, optimize = _numpy()
    columns = ys.shape[1]

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        biases, weights = params[:columns], params[columns:]
        z = (x @ weights)[:, None] + biases[None, :]
        value = float(w @ (numpy.logaddexp(0.0, z) - ys * z).sum(axis=1)) + 0.5 * float(penalty @ (weights * weights))
        error = w[:, None] * (1.0 / (1.0 + numpy.exp(-z)) - ys)
        gradient = numpy.concatenate((error.sum(axis=0), xt @ error.sum(axis=1) + penalty * weights))
        return value, gradient

    start = numpy.zeros(columns + x.shape[1])
    result = optimize.minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    return result.x[:columns], result.x[columns:]


def fit(
    rows: Sequence[Outcome],
    models: Sequence[str],
    options: TrainOptions | None = None,
    *,
    features: Featurized | None = None,
    info: dict[str, Any] | None = None,
    row_weights: Sequence[float] | None = None,
) -> QualityModel:
    """Fit a quality model on ``rows`` (each scoring every one of ``models``); ``features`` may be given when the
    caller featurized the rows already (cross-validation featurizes once); ``row_weights`` weigh each row's loss
    (default 1 each: :func:`balanced_weights` gives every source file the same total).

    Raises:
        ConfigurationError: no rows, or numpy/scipy missing.
    """
    if not rows:
        raise ConfigurationError("no prompts to train on")
    numpy, _, _ = _numpy()
    options = options or TrainOptions()
    started = time.perf_counter()
    features = features or featurize(rows, options.window_chars)
    if features.window_chars != options.window_chars:
        raise ConfigurationError(
            f"the features were made through window {features.window_chars}, the options ask for {options.window_chars}"
        )
    vocabulary = _vocabulary(features.terms, options)
    x = _matrix(features, vocabulary, options.term_scale)
    width = len(vocabulary)
    ys = numpy.asarray([[row.scores[model] for model in models] for row in rows], dtype=float)
    w = numpy.ones(len(rows)) if row_weights is None else numpy.asarray(row_weights, dtype=float)
    xt = x.T.tocsr()
    penalty = _penalty(x.shape[1], options)
    heads = {}
    for index, model in enumerate(models):
        biases, weights = _fit_logistic(x, xt, ys[:, index : index + 1], penalty, w, options.max_iter)
        heads[model] = _head(float(biases[0]), weights, width)
    difficulty = None
    if options.difficulty:
        abilities, weights = _fit_logistic(x, xt, ys, penalty, w, options.max_iter)
        scores = x @ weights
        difficulty = Difficulty(
            _head(0.0, weights, width),
            float(scores.mean()),
            {model: float(value) for model, value in zip(models, abilities, strict=True)},
        )
    record = {
        "trained_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "prompts": len(rows),
        "models": list(models),
        "options": {
            "l2": options.l2,
            "l2_dense": options.l2_dense,
            "term_scale": options.term_scale,
            "min_df": options.min_df,
            "max_terms": options.max_terms,
            "max_iter": options.max_iter,
            "window_chars": list(options.window_chars),
        },
        "seconds": round(time.perf_counter() - started, 2),
        **(info or {}),
    }
    return QualityModel(
        vocabulary=tuple(vocabulary),
        dense_names=DENSE_FEATURES,
        heads=heads,
        difficulty=difficulty,
        trained_prompts=frozenset(map(prompt_digest, features.texts)),
        info=record,
        term_scale=options.term_scale,
        window_chars=options.window_chars,
    )


def balanced_weights(sources: Sequence[int]) -> list[float]:
    """Row weights that give each source (``sources[i]``: the index of row ``i``'s file) the same total weight,
    with a mean of 1: so a small set is not drowned by a large one."""
    counts = Counter(sources)
    per_source = len(sources) / len(counts)
    return [per_source / counts[source] for source in sources]


def _head(bias: float, weights: np.ndarray, width: int) -> Head:
    return Head(bias, (0.0, *map(float, weights[:width])), tuple(map(float, weights[width:])))
