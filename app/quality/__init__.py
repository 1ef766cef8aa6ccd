"""Learned per-prompt quality: the request-path featurizer and the versioned model artifact.

A low layer (no router import): the router's :mod:`app.router.quality` estimates each candidate's quality with a
:class:`QualityModel`; :mod:`app.evaluation.training` fits one (``costmux train``).
"""

from app.quality.features import TEXT_FEATURES, prompt_terms, prompt_text, text_features
from app.quality.model import FORMAT, VERSION, Difficulty, Head, QualityModel, load_quality_model, prompt_digest

__all__ = [
    "FORMAT",
    "TEXT_FEATURES",
    "VERSION",
    "Difficulty",
    "Head",
    "QualityModel",
    "load_quality_model",
    "prompt_digest",
    "prompt_terms",
    "prompt_text",
    "text_features",
]
