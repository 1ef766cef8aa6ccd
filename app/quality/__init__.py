"""Learned per-prompt quality: the request-path featurizer and the versioned model artifact.

A low layer (no router import): the router's :mod:`app.router.quality` estimates each candidate's quality with a
:class:`QualityModel`; :mod:`app.evaluation.training` fits one (``costmux train``).
"""

from app.quality.features import prompt_terms, prompt_text
from app.quality.model import FORMAT, VERSION, Difficulty, Head, QualityModel, load_quality_model, prompt_digest

__all__ = [
    "FORMAT",
    "VERSION",
    "Difficulty",
    "Head",
    "QualityModel",
    "load_quality_model",
    "prompt_digest",
    "prompt_terms",
    "prompt_text",
]
