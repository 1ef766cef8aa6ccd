"""Offline, deterministic prompt token counting for routing decisions, per token family, and learning from what the
proxy bills.

* :mod:`app.tokens.counting` — the three prompt figures of a chat request (estimate, upper estimate, strict), from
  byte-class features of its texts (no tokenizer);
* :mod:`app.tokens.families` — which tokenizer family a model belongs to (OpenAI o200k/cl100k, Anthropic, Google,
  Meta Llama 3+, Mistral, DeepSeek, Qwen, unknown) and each family's prior bounds;
* :mod:`app.tokens.learning` — per-model bounds learned from billed ``usage.prompt_tokens``, behind a small store
  interface (:mod:`app.tokens.windows`: the store and its in-memory windows, kept sorted as they change;
  :mod:`app.tokens.views`: what was learned of a model and the bound it gives a request).

Pure and stdlib-only: nothing here does I/O or imports a tokenizer.
"""

from app.tokens.counting import (
    CALIBRATIONS,
    ENCODINGS,
    ESTIMATE_IMAGE_TOKENS,
    FEATURE_NAMES,
    LOW_DETAIL_IMAGE_TOKENS,
    STRICT_IMAGE_TOKENS,
    TEXT_GROUPS,
    UPPER_IMAGE_TOKENS,
    BoundMode,
    Calibration,
    EncodingName,
    GroupFeatures,
    TokenCounts,
    count_prompt_tokens,
    estimate_text_tokens,
    estimate_tokens,
    strict_text_tokens,
    text_estimates,
    text_features,
    text_group,
    upper_bound_text_tokens,
    upper_bound_tokens,
)
from app.tokens.families import (
    FAMILIES,
    PRIORS,
    FamilyCounts,
    FamilyPrior,
    FamilyResolution,
    TokenFamily,
    family_counts,
    family_figures,
    family_of_spec,
    resolve_family,
)
from app.tokens.learning import (
    BoundStore,
    LearnedView,
    LearningPolicy,
    MemoryBoundStore,
    PromptBoundLearner,
    PromptObservation,
)

__all__ = [
    "CALIBRATIONS",
    "ENCODINGS",
    "ESTIMATE_IMAGE_TOKENS",
    "FAMILIES",
    "FEATURE_NAMES",
    "LOW_DETAIL_IMAGE_TOKENS",
    "PRIORS",
    "STRICT_IMAGE_TOKENS",
    "TEXT_GROUPS",
    "UPPER_IMAGE_TOKENS",
    "BoundMode",
    "BoundStore",
    "Calibration",
    "EncodingName",
    "FamilyCounts",
    "FamilyPrior",
    "FamilyResolution",
    "GroupFeatures",
    "LearnedView",
    "LearningPolicy",
    "MemoryBoundStore",
    "PromptBoundLearner",
    "PromptObservation",
    "TokenCounts",
    "TokenFamily",
    "count_prompt_tokens",
    "estimate_text_tokens",
    "estimate_tokens",
    "family_counts",
    "family_figures",
    "family_of_spec",
    "resolve_family",
    "strict_text_tokens",
    "text_estimates",
    "text_features",
    "text_group",
    "upper_bound_text_tokens",
    "upper_bound_tokens",
]
