"""The learned quality model: logistic heads over a prompt's terms, stored as a small versioned JSON artifact.

A model holds a vocabulary (the terms of :func:`~app.quality.features.prompt_terms` kept in training), the names of
a few dense features (computed by the router from its prompt analysis: length, complexity, task type), and
logistic heads, each ``P = σ(bias + Σ weight[term] + Σ dense_weight × dense)`` over the prompt's distinct terms:

- one **per model** of the training data: the probability that this model answers the prompt well (its expected
  score in [0, 1]);
- one **difficulty** head, model-agnostic: fitted on every (prompt, model) pair with one bias per model (the
  model's ``ability``), so its term weights say how much easier or harder a prompt is than the average for any
  model. For a model it was not trained on, quality = ``σ(logit(catalog quality) + prompt score − mean score)``.

The artifact is JSON (gzip-compressed when the file name ends in ``.gz``), never pickle: ``format``
``costmux-quality-model``, ``version`` 2 (version 1, before word triples, still loads: its vocabulary has none);
other versions are refused with a clear error. It also records a digest
of every prompt it was trained on, so ``costmux eval`` leaves those prompts out (:meth:`QualityModel.saw`).

Nothing here needs numpy: loading and estimating are pure Python (training is in :mod:`app.evaluation.training`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any, Final

from app.errors import QualityModelError
from app.quality.features import DEFAULT_WINDOW, LEGACY_WINDOW, Window, prompt_marks, prompt_words

__all__ = [
    "DEFAULT_MODEL",
    "FORMAT",
    "READABLE_VERSIONS",
    "VERSION",
    "Difficulty",
    "Head",
    "QualityModel",
    "Term",
    "load_quality_model",
    "logit",
    "prompt_digest",
    "sigmoid",
    "term_of",
    "term_text",
]

FORMAT: Final = "costmux-quality-model"
#: The shipped model (package data; rebuilt by ``scripts/train-default-quality``), named ``default`` in settings.
DEFAULT_MODEL: Final = "data/quality_default.json.gz"
VERSION: Final = 2
#: The versions this costmux reads: 1 is 2 without word triples in the vocabulary.
READABLE_VERSIONS: Final = (1, 2)
#: Decimal places of the stored weights (the artifact stays small; 1e-5 is far below what a weight means).
_WEIGHT_DECIMALS: Final = 5
_DIGEST_BYTES: Final = 8
_NO_PAIRS: Final[dict[str, int]] = {}
_NO_TRIPLES: Final[dict[str, dict[str, int]]] = {}


def prompt_digest(text: str) -> bytes:
    """An 8-byte BLAKE2b digest of a prompt's text: how a model remembers what it was trained on."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=_DIGEST_BYTES).digest()


def sigmoid(z: float) -> float:
    """``1 / (1 + e^-z)``, safe for any float."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def logit(p: float, eps: float = 1e-4) -> float:
    """``ln(p / (1 − p))`` with ``p`` clipped to ``[eps, 1 − eps]``."""
    p = min(max(p, eps), 1.0 - eps)
    return math.log(p / (1.0 - p))


#: A vocabulary term: a word or mark, or a pair or triple of adjacent words (:func:`app.quality.prompt_terms`).
Term = str | tuple[str, ...]


def term_text(term: Term) -> str:
    """A term as the artifact stores it: a pair or triple as its words joined by spaces (words hold no spaces)."""
    return term if isinstance(term, str) else " ".join(term)


def term_of(text: str) -> Term:
    """The term stored as ``text`` (the inverse of :func:`term_text`)."""
    words = text.split(" ")
    return tuple(words) if len(words) > 1 else text


@dataclass(frozen=True, slots=True)
class Head:
    """One logistic head: ``bias``, one weight per vocabulary column (``weights[0]`` is unused: columns start at 1,
    so a missing term's ``None`` can be filtered out in C), and one weight per dense feature."""

    bias: float
    weights: tuple[float, ...]
    dense: tuple[float, ...]

    def logit_of(self, columns: Sequence[int], dense: Sequence[float], scale: float = 1.0) -> float:
        """The head's log-odds for a prompt with these term columns (each term's value ``scale``) and dense
        features."""
        terms = sum(map(self.weights.__getitem__, columns))
        return self.bias + terms * scale + sum(map(float.__mul__, self.dense, dense))

    def to_json(self) -> dict[str, Any]:
        return {
            "bias": round(self.bias, _WEIGHT_DECIMALS),
            "weights": [round(w, _WEIGHT_DECIMALS) for w in self.weights[1:]],
            "dense": [round(w, _WEIGHT_DECIMALS) for w in self.dense],
        }

    @classmethod
    def from_json(cls, raw: Any, terms: int, dense: int, where: str) -> Head:
        if not isinstance(raw, Mapping):
            raise QualityModelError(f"{where}: a head must be an object")
        weights, dense_weights = raw.get("weights"), raw.get("dense")
        if not isinstance(weights, list) or len(weights) != terms:
            raise QualityModelError(f"{where}: weights must be a list of {terms} numbers (one per vocabulary term)")
        if not isinstance(dense_weights, list) or len(dense_weights) != dense:
            raise QualityModelError(f"{where}: dense must be a list of {dense} numbers (one per dense feature)")
        try:
            return cls(float(raw["bias"]), (0.0, *map(float, weights)), tuple(map(float, dense_weights)))
        except (KeyError, TypeError, ValueError) as exc:
            raise QualityModelError(f"{where}: bias and weights must be numbers") from exc


@dataclass(frozen=True, slots=True)
class Difficulty:
    """The model-agnostic head: its term/dense weights (``head``, bias 0), the mean prompt score over the training
    prompts (``mean_score``: a prompt scoring it is of average difficulty), and each training model's ``ability``
    (its bias, log-odds)."""

    head: Head
    mean_score: float
    abilities: Mapping[str, float]


@dataclass(frozen=True, slots=True, eq=False)
class QualityModel:
    """A loaded quality model (module doc). ``info`` is what training recorded (data, folds, figures)."""

    vocabulary: tuple[Term, ...]
    dense_names: tuple[str, ...]
    heads: Mapping[str, Head]
    difficulty: Difficulty | None = None
    trained_prompts: frozenset[bytes] = frozenset()
    info: Mapping[str, Any] = field(default_factory=dict)
    #: a term's value in a prompt: ``1`` (``"binary"``) or ``1/√(known terms)`` (``"sqrt"``: the prompt's term
    #: vector has length 1, so long prompts do not weigh more)
    term_scale: str = "binary"
    #: the characters read from the prompt's start and end, ``(head, tail)`` (:func:`~app.quality.features.window`)
    window_chars: Window = DEFAULT_WINDOW
    #: the vocabulary's columns (from 1): a word's or mark's, a pair's as ``_pairs[first][second]`` and a triple's
    #: as ``_triples[first][second][third]``
    _singles: dict[str, int] = field(init=False, repr=False)
    _pairs: dict[str, dict[str, int]] = field(init=False, repr=False)
    _triples: dict[str, dict[str, dict[str, int]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        singles: dict[str, int] = {}
        pairs: dict[str, dict[str, int]] = {}
        triples: dict[str, dict[str, dict[str, int]]] = {}
        for index, term in enumerate(self.vocabulary, start=1):
            if isinstance(term, str):
                singles[term] = index
            elif len(term) == 2:
                pairs.setdefault(term[0], {})[term[1]] = index
            else:
                triples.setdefault(term[0], {}).setdefault(term[1], {})[term[2]] = index
        object.__setattr__(self, "_singles", singles)
        object.__setattr__(self, "_pairs", pairs)
        object.__setattr__(self, "_triples", triples)

    def columns(self, terms: Iterable[Term]) -> list[int]:
        """The vocabulary columns of the terms the model knows (unknown terms are dropped)."""
        return list(filter(None, map(self._column, terms)))

    def _column(self, term: Term) -> int | None:
        if isinstance(term, str):
            return self._singles.get(term)
        if len(term) == 2:
            return self._pairs.get(term[0], _NO_PAIRS).get(term[1])
        return self._triples.get(term[0], _NO_TRIPLES).get(term[1], _NO_PAIRS).get(term[2])

    def text_columns(self, text: str) -> list[int]:
        """The columns of the terms the model knows among :func:`~app.quality.features.prompt_terms` of ``text``
        (the same set as ``columns(prompt_terms(text))``, in no particular order), found without making the word
        pairs and triples: a pair is looked up as ``_pairs[first].get(second)``, a triple as
        ``_triples[first][second].get(third)``, every step a C-level ``map`` (the request path's featurizer; tuples
        made and hashed per pair took half its time)."""
        lowered, words = prompt_words(text, self.window_chars)
        singles = self._singles
        found = set(filter(None, map(singles.get, words)))
        seconds = map(self._pairs.get, words[:-1], repeat(_NO_PAIRS))
        found.update(filter(None, map(dict.get, seconds, words[1:])))
        if self._triples:
            middles = map(self._triples.get, words[:-2], repeat(_NO_TRIPLES))
            thirds = map(dict.get, middles, words[1:-1], repeat(_NO_PAIRS))
            found.update(filter(None, map(dict.get, thirds, words[2:])))
        found.update(filter(None, map(singles.get, prompt_marks(lowered))))
        return list(found)

    def scale_of(self, columns: Sequence[int]) -> float:
        """The value of each of a prompt's terms (see ``term_scale``)."""
        if self.term_scale == "sqrt" and columns:
            return 1.0 / math.sqrt(len(columns))
        return 1.0

    def saw(self, text: str) -> bool:
        """Whether the model was trained on a prompt with exactly this text."""
        return prompt_digest(text) in self.trained_prompts

    # -- the artifact --------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        digests = b"".join(sorted(self.trained_prompts))
        result: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "info": dict(self.info),
            "vocabulary": list(map(term_text, self.vocabulary)),
            "dense": list(self.dense_names),
            "term_scale": self.term_scale,
            "window_chars": list(self.window_chars),
            "heads": {name: head.to_json() for name, head in self.heads.items()},
            "difficulty": None,
            "trained_prompts": base64.b64encode(digests).decode("ascii"),
        }
        if self.difficulty is not None:
            result["difficulty"] = {
                **self.difficulty.head.to_json(),
                "mean_score": round(self.difficulty.mean_score, _WEIGHT_DECIMALS),
                "abilities": {
                    name: round(value, _WEIGHT_DECIMALS) for name, value in self.difficulty.abilities.items()
                },
            }
        return result

    def save(self, path: str | Path) -> None:
        """Write the artifact (gzip-compressed when ``path`` ends in ``.gz``)."""
        data = json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        target = Path(path)
        if target.name.endswith(".gz"):
            import gzip

            data = gzip.compress(data, mtime=0)
        target.write_bytes(data)

    @classmethod
    def load(cls, path: str | Path) -> QualityModel:
        """Read an artifact written by :meth:`save`.

        Raises:
            QualityModelError: the file is missing, not an artifact, of another version, or malformed.
        """
        target = Path(path)
        try:
            data = target.read_bytes()
            if target.name.endswith(".gz"):
                import gzip

                data = gzip.decompress(data)
            raw = json.loads(data)
        except OSError as exc:
            raise QualityModelError(f"cannot read the quality model {str(path)!r}: {exc.strerror or exc}") from exc
        except ValueError as exc:  # bad gzip or JSON
            raise QualityModelError(f"{str(path)!r} is not a costmux quality model (not JSON: {exc})") from exc
        return cls.from_json(raw, where=str(path))

    @classmethod
    def from_json(cls, raw: Any, *, where: str = "quality model") -> QualityModel:
        """Build a model from the artifact's JSON (see :meth:`load` for the errors)."""
        if not isinstance(raw, Mapping) or raw.get("format") != FORMAT:
            raise QualityModelError(f"{where} is not a costmux quality model (format {FORMAT!r} expected)")
        if raw.get("version") not in READABLE_VERSIONS:
            raise QualityModelError(
                f"{where}: quality model version {raw.get('version')!r} is not supported (this costmux reads "
                f"versions {', '.join(map(str, READABLE_VERSIONS))}); train it again with `costmux train`"
            )
        vocabulary, dense = raw.get("vocabulary"), raw.get("dense")
        if not isinstance(vocabulary, list) or not all(isinstance(term, str) for term in vocabulary):
            raise QualityModelError(f"{where}: vocabulary must be a list of strings")
        if not isinstance(dense, list) or not all(isinstance(name, str) for name in dense):
            raise QualityModelError(f"{where}: dense must be a list of feature names")
        heads_raw = raw.get("heads")
        if not isinstance(heads_raw, Mapping):
            raise QualityModelError(f"{where}: heads must map model names to heads")
        heads = {
            str(name): Head.from_json(head, len(vocabulary), len(dense), f"{where}: head {name!r}")
            for name, head in heads_raw.items()
        }
        return cls(
            vocabulary=tuple(map(term_of, vocabulary)),
            dense_names=tuple(dense),
            heads=heads,
            difficulty=_difficulty_from_json(raw.get("difficulty"), len(vocabulary), len(dense), where),
            trained_prompts=_digests_from_json(raw.get("trained_prompts", ""), where),
            info=dict(raw.get("info") or {}),
            term_scale=_term_scale(raw.get("term_scale", "binary"), where),
            window_chars=_window_chars(raw.get("window_chars", list(LEGACY_WINDOW)), where),
        )


def _term_scale(raw: Any, where: str) -> str:
    if raw not in ("binary", "sqrt"):
        raise QualityModelError(f"{where}: term_scale must be 'binary' or 'sqrt', got {raw!r}")
    return str(raw)


def _window_chars(raw: Any, where: str) -> Window:
    if (
        not isinstance(raw, list)
        or len(raw) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in raw)
        or raw[0] + raw[1] < 1
    ):
        raise QualityModelError(f"{where}: window_chars must be [head, tail] characters (whole, ≥ 0), got {raw!r}")
    return raw[0], raw[1]


def _difficulty_from_json(raw: Any, terms: int, dense: int, where: str) -> Difficulty | None:
    if raw is None:
        return None
    head = Head.from_json(raw, terms, dense, f"{where}: difficulty")
    abilities = raw.get("abilities")
    if not isinstance(abilities, Mapping):
        raise QualityModelError(f"{where}: difficulty.abilities must map model names to numbers")
    try:
        return Difficulty(head, float(raw["mean_score"]), {str(k): float(v) for k, v in abilities.items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise QualityModelError(f"{where}: difficulty.mean_score and abilities must be numbers") from exc


def _digests_from_json(raw: Any, where: str) -> frozenset[bytes]:
    try:
        data = base64.b64decode(raw, validate=True)
    except (TypeError, ValueError) as exc:
        raise QualityModelError(f"{where}: trained_prompts must be base64") from exc
    if len(data) % _DIGEST_BYTES:
        raise QualityModelError(f"{where}: trained_prompts must hold {_DIGEST_BYTES}-byte digests")
    return frozenset(data[i : i + _DIGEST_BYTES] for i in range(0, len(data), _DIGEST_BYTES))


def load_quality_model(source: str | Path) -> QualityModel:
    """Load a quality model from a path, or the shipped one for ``"default"``.

    Raises:
        QualityModelError: see :meth:`QualityModel.load`.
    """
    if str(source) == "default":
        from importlib import resources

        with resources.as_file(resources.files("app").joinpath(DEFAULT_MODEL)) as path:
            return QualityModel.load(path)
    return QualityModel.load(source)
