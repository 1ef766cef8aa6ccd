"""How a provider learns prompt bounds from what it was billed: the one code path of
:class:`~app.providers.LiteLLMProvider` (its calls over HTTP) and of the LiteLLM callback's
:class:`~app.integrations.deployments.ProxyDeployments` (the calls the proxy answered).

* :class:`TokenFamilies`: each model's token family from a provider's :class:`ModelRegistry`, cached until it changes;
* :func:`learn_from_usage`: one answered call recorded in the provider's
  :class:`~app.tokens.learning.PromptBoundLearner` (the request's figures under the model's family, the billed
  prompt and completion tokens, the ``max_tokens`` sent), a warning when the completion exceeded ``max_tokens``, and a
  :class:`~app.events.PromptUsageLearned` event;
* :func:`bind_learner`, :func:`close_learner`: a learner whose store is shared (Redis) reports its store's failures on
  the provider's events, and pushes what it still holds when the provider closes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from app.events import EventBus, PromptUsageLearned
from app.providers.model_registry import ModelRegistry
from app.stores.bounds import RedisBoundStore
from app.tokens import TEXT_GROUPS, TokenCounts
from app.tokens.families import PRIORS, FamilyCounts, FamilyResolution, family_counts
from app.tokens.learning import Mode, PromptBoundLearner

__all__ = ["TokenFamilies", "bind_learner", "close_learner", "learn_from_usage", "sent_max_tokens"]

logger = logging.getLogger("costmux.providers")


class TokenFamilies:
    """The token family of each model of ``registry`` (``unknown`` for a model it does not know), cached until the
    registry's models change."""

    def __init__(self, registry: ModelRegistry) -> None:
        self._registry = registry
        self._cached: tuple[int, dict[str, FamilyResolution]] = (-1, {})

    def of(self, model: str) -> FamilyResolution:
        version, families = self._cached
        if version != self._registry.version:
            families = {}
            self._cached = (self._registry.version, families)
        found = families.get(model)
        if found is None:
            spec = self._registry.get(model)
            found = spec.token_family() if spec is not None else FamilyResolution("unknown", "default")
            if spec is not None:
                families[model] = found
        return found

    def counts(self, model: str, prompt: TokenCounts) -> FamilyCounts:
        """The request's figures (``prompt``) under ``model``'s family."""
        return family_counts(prompt, PRIORS[self.of(model).family])

    def bound(self, learner: PromptBoundLearner, model: str, prompt: TokenCounts, mode: Mode = "estimate") -> int:
        """The prompt bound the cap is checked with for a request to ``model``: its family's, as ``learner`` widened
        or tightened it, tokens."""
        return learner.bound(model, self.counts(model, prompt), mode)


def sent_max_tokens(body: Mapping[str, Any]) -> int | None:
    """The output limit a request body sent (``max_completion_tokens``, else ``max_tokens``), if an int."""
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def learn_from_usage(
    learner: PromptBoundLearner,
    families: TokenFamilies,
    events: EventBus,
    *,
    provider: str,
    model: str,
    prompt: TokenCounts,
    billed_prompt_tokens: int | None,
    billed_completion_tokens: int | None,
    max_tokens: int | None,
) -> None:
    """Record an answered call of ``model``: its billed prompt tokens against the estimate of ``prompt`` under the
    model's family, and whether the billed completion stayed within the ``max_tokens`` sent. A call billed no prompt
    tokens teaches nothing: skipped."""
    if billed_prompt_tokens is None or billed_prompt_tokens <= 0:
        return
    family = families.of(model).family
    counts = family_counts(prompt, PRIORS[family])
    bound = learner.bound(model, counts) if events.active else 0
    learner.record(
        model, counts, billed_prompt_tokens, billed_completion_tokens=billed_completion_tokens, max_tokens=max_tokens
    )
    if max_tokens is not None and billed_completion_tokens is not None and billed_completion_tokens > max_tokens:
        logger.warning(
            "%s billed %d completion tokens for a call sent with max_tokens=%d (reasoning tokens?): the worst case"
            " of its calls is under-estimated",
            model,
            billed_completion_tokens,
            max_tokens,
        )
    if events.active:
        view = learner.view(model)
        group = counts.group
        events.emit(
            PromptUsageLearned(
                provider=provider,
                model=model,
                family=family,
                group=TEXT_GROUPS[group],
                estimate_tokens=counts.estimate_tokens,
                upper_tokens=counts.upper_tokens,
                bound_tokens=bound,
                billed_prompt_tokens=billed_prompt_tokens,
                factor=view.factors[group] if view is not None else None,
                group_observations=view.counts[group] if view is not None else 0,
                max_tokens=max_tokens,
                billed_completion_tokens=billed_completion_tokens,
            )
        )


def bind_learner(learner: PromptBoundLearner, events: EventBus, provider: str) -> None:
    """Have a shared store's failures reported on ``provider``'s ``events`` (a memory store has none)."""
    if isinstance(learner.store, RedisBoundStore):
        learner.store.bind(events, provider)


async def close_learner(learner: PromptBoundLearner) -> None:
    """Push what a shared store still holds and finish its background work (nothing for a memory store)."""
    if isinstance(learner.store, RedisBoundStore):
        await learner.store.aclose()
