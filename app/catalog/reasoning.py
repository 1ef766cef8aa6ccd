"""How reasoning ("thinking") models spend and bill their hidden tokens, and what a request asks of them.

Every reasoning model bills its reasoning tokens as output tokens, and every one counts them within the output
limit of the request, so the limit costmux sends bounds the whole completion and the hard cap holds:

- ``openai`` (o-series, gpt-5 family): reasoning within ``max_completion_tokens``; OpenAI rejects ``max_tokens``
  for these models, so costmux sends ``max_completion_tokens`` (LiteLLM 1.106.2 maps ``max_tokens`` to it only when
  it recognises the model by its name; an alias it does not recognise would be sent ``max_tokens``). Reasons at
  ``reasoning_effort`` "medium" unless told otherwise.
- ``anthropic`` (Claude 3.7 and 4.x extended thinking): thinking counts within ``max_tokens``, which must exceed
  the thinking budget. Off unless the request asks (``reasoning_effort`` or ``thinking``); LiteLLM 1.106.2 maps
  ``reasoning_effort`` to a fixed budget (:data:`ANTHROPIC_THINKING_BUDGETS`) without lowering it to ``max_tokens``.
- ``gemini`` (Gemini 2.5 and 3.x): thinking counts within ``maxOutputTokens`` (LiteLLM maps ``max_tokens`` to it);
  Pro and Flash think by default, Flash-Lite does not.
- ``always``: models that always reason and take no effort setting (DeepSeek's reasoner, Kimi K2 Thinking,
  Grok 4); reasoning within ``max_tokens``.

Expected reasoning tokens per effort are estimates (see ``docs/catalog.md``); they rank candidates by expected cost
and flag answers the cap may cut, never the cap itself (the worst case is the whole limit at the output price).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ANTHROPIC_THINKING_BUDGETS",
    "EFFORTS",
    "Reasoning",
    "ReasoningRequest",
    "ReasoningStyle",
    "reasoning_request",
]

#: Reasoning effort levels, least to most (OpenAI's names; LiteLLM maps them for the other vendors).
EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

#: LiteLLM 1.106.2's thinking budget per ``reasoning_effort`` for Claude models (``litellm/constants.py``,
#: ``DEFAULT_REASONING_EFFORT_*_THINKING_BUDGET``; "minimal" is raised to Anthropic's minimum of 1024), tokens.
ANTHROPIC_THINKING_BUDGETS: Final[Mapping[str, int]] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 2048,
    "high": 4096,
    "xhigh": 8192,
    "max": 16384,
}


class ReasoningStyle(enum.StrEnum):
    """How a model reasons (see the module doc)."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    ALWAYS = "always"


class ReasoningRequest(NamedTuple):
    """What one request asks of a reasoning model: a ``reasoning_effort`` level and/or an explicit thinking budget
    (Anthropic's ``thinking.budget_tokens``), either ``None``."""

    effort: str | None
    budget_tokens: int | None


def reasoning_request(params: Mapping[str, Any]) -> ReasoningRequest | None:
    """The reasoning asked by a chat request's extra parameters (``reasoning_effort`` as a string or
    ``{"effort": ...}``, ``thinking={"type": "enabled", "budget_tokens": N}``), or ``None`` when it asks none."""
    raw = params.get("reasoning_effort")
    if isinstance(raw, Mapping):
        raw = raw.get("effort")
    effort = raw.strip().lower() if isinstance(raw, str) and raw.strip().lower() in EFFORTS else None
    thinking = params.get("thinking")
    budget = thinking.get("budget_tokens") if isinstance(thinking, Mapping) else None
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        budget = None
    if isinstance(thinking, Mapping) and thinking.get("type") == "disabled":
        effort, budget = effort or "none", None
    return None if effort is None and budget is None else ReasoningRequest(effort, budget)


class Reasoning(BaseModel):
    """A reasoning model's behaviour: its :class:`ReasoningStyle`, the effort it uses when the request names none
    (``None``: it does not reason unless asked), and the reasoning tokens a typical request spends per effort
    (estimates; efforts not listed fall back to the nearest listed one below, then above)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    style: ReasoningStyle
    default_effort: str | None = None
    expected_tokens: dict[str, int] = Field(default_factory=dict)

    @field_validator("default_effort")
    @classmethod
    def _known_default(cls, value: str | None) -> str | None:
        if value is not None and value not in EFFORTS:
            raise ValueError(f"default_effort must be one of {', '.join(EFFORTS)}, got {value!r}")
        return value

    @field_validator("expected_tokens")
    @classmethod
    def _known_efforts(cls, value: dict[str, int]) -> dict[str, int]:
        for effort, tokens in value.items():
            if effort not in EFFORTS:
                raise ValueError(f"expected_tokens: unknown effort {effort!r} ({', '.join(EFFORTS)})")
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
                raise ValueError(f"expected_tokens[{effort!r}] must be a non-negative integer, got {tokens!r}")
        return value

    @property
    def limit_param(self) -> str:
        """The request field that bounds the whole completion (reasoning included) for this model."""
        return "max_completion_tokens" if self.style is ReasoningStyle.OPENAI else "max_tokens"

    def effort_for(self, request: ReasoningRequest | None) -> str | None:
        """The effort the model will use for ``request`` (``None``: it will not reason)."""
        effort = request.effort if request is not None and request.effort is not None else None
        if request is not None and request.budget_tokens is not None and effort is None:
            return "budget"
        if effort is None:
            effort = self.default_effort if self.style is not ReasoningStyle.ALWAYS else self.default_effort or "medium"
            return None if effort == "none" else effort
        if effort == "none" and self.style is ReasoningStyle.ALWAYS:
            return self.default_effort or "medium"  # always-reasoning models take no effort setting
        return None if effort == "none" else effort

    def expected_reasoning_tokens(self, request: ReasoningRequest | None) -> int:
        """Reasoning tokens a typical answer to ``request`` spends on this model (0 when it will not reason)."""
        effort = self.effort_for(request)
        if effort is None:
            return 0
        if effort == "budget":
            assert request is not None and request.budget_tokens is not None
            return request.budget_tokens
        if self.style is ReasoningStyle.ANTHROPIC and request is not None and request.budget_tokens is not None:
            return request.budget_tokens
        return self._tokens_at(effort)

    def _tokens_at(self, effort: str) -> int:
        if not self.expected_tokens:
            return 0
        if effort in self.expected_tokens:
            return self.expected_tokens[effort]
        rank = EFFORTS.index(effort)
        below = [e for e in EFFORTS[:rank] if e in self.expected_tokens]
        if below:
            return self.expected_tokens[below[-1]]
        above = [e for e in EFFORTS[rank:] if e in self.expected_tokens]
        return self.expected_tokens[above[0]]

    def minimum_limit_tokens(self, request: ReasoningRequest | None) -> int:
        """Output tokens the request's limit must exceed for the upstream to accept it: Anthropic's thinking budget
        (``max_tokens`` must be greater), 0 for the other styles."""
        if self.style is not ReasoningStyle.ANTHROPIC or request is None:
            return 0
        if request.budget_tokens is not None:
            return request.budget_tokens
        if request.effort is None or request.effort == "none":
            return 0
        return ANTHROPIC_THINKING_BUDGETS.get(request.effort, 0)

    def to_json_dict(self) -> dict[str, Any]:
        """Catalog-file form."""
        out: dict[str, Any] = {"style": self.style.value}
        if self.default_effort is not None:
            out["default_effort"] = self.default_effort
        if self.expected_tokens:
            out["expected_tokens"] = dict(self.expected_tokens)
        return out
