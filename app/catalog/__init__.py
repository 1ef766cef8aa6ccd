"""The bundled catalog of well-known models, name resolution, reasoning behaviour and priors for unknown models.

See :mod:`app.catalog.catalog` (lookup), :mod:`app.catalog.names` (how names are read),
:mod:`app.catalog.reasoning` (reasoning models under a cap), :mod:`app.catalog.prior` (unknown models), and
:mod:`app.catalog.quality_inputs` / :mod:`app.catalog.quality_sync` (the sourced benchmark figures the quality scores
are derived from, and the tool that regenerates the scores and the docs tables from them).
"""

from app.catalog.catalog import CatalogMatch, ModelCatalog, default_catalog
from app.catalog.entry import Capabilities, CatalogEntry
from app.catalog.names import ParsedName, parse_name, vendor_of
from app.catalog.prior import QualityPrior, quality_prior
from app.catalog.reasoning import Reasoning, ReasoningRequest, ReasoningStyle, reasoning_request

__all__ = [
    "Capabilities",
    "CatalogEntry",
    "CatalogMatch",
    "ModelCatalog",
    "ParsedName",
    "QualityPrior",
    "Reasoning",
    "ReasoningRequest",
    "ReasoningStyle",
    "default_catalog",
    "parse_name",
    "quality_prior",
    "reasoning_request",
    "vendor_of",
]
