"""A provider that knows models but sends nothing: what ``costmux eval`` routes with, offline.

Its models' specs are merged field by field like :class:`~app.providers.LiteLLMProvider`'s (a
:class:`~app.providers.model_registry.ModelRegistry`): given ``custom_models`` entries and prices first, then a
snapshot of another provider's knowledge (for example a ``LiteLLMProvider`` synced once from a proxy), then the
bundled catalog, whose name matching resolves spellings like ``mistralai/Mixtral-8x7B-Instruct-v0.1``. Routers decide
with it through the same ``Router.decide`` path as with any provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from app.catalog import ModelCatalog, default_catalog
from app.errors import ProviderError
from app.models import ChatCompletionResponse, MessageInput
from app.providers import ModelSpec, Provider
from app.providers.model_registry import ModelRegistry, spec_from_custom

__all__ = ["OfflineProvider"]

_NONE: Mapping[str, tuple[str, str]] = {}


class OfflineProvider:
    """Knows ``models`` (names, in the given order) and their specs; ``chat_completion`` always raises.

    Args:
        models: the model names it serves.
        custom_models: ``{name: {"pricing": {...}, "metadata": {...}}}`` entries, as for ``LiteLLMProvider``.
        prices: ``{name: {"input_per_1m": 0.5, "output_per_1m": 1.5}}`` (any spelling :mod:`app.pricing` accepts);
            replaces the price of a ``custom_models`` entry of the same name.
        known: specs known elsewhere (another provider's), below the custom entries and above the catalog.
        catalog: ``"default"`` (the bundled catalog), a :class:`ModelCatalog`, or ``None``.
        name: the provider's name in decisions.

    Raises:
        ConfigurationError: a custom entry or price is invalid.
    """

    def __init__(
        self,
        models: Sequence[str],
        *,
        custom_models: Mapping[str, Mapping[str, Any]] | None = None,
        prices: Mapping[str, Any] | None = None,
        known: Mapping[str, ModelSpec] | None = None,
        catalog: ModelCatalog | Literal["default"] | None = "default",
        name: str = "offline",
    ) -> None:
        self.name = name
        self._models = list(dict.fromkeys(models))
        self._registry = ModelRegistry(default_catalog() if catalog == "default" else catalog)
        entries: dict[str, dict[str, Any]] = {key: dict(value) for key, value in (custom_models or {}).items()}
        for model, price in (prices or {}).items():
            entries.setdefault(model, {})["pricing"] = price
        for model, entry in entries.items():
            self._registry.add_custom(
                spec_from_custom(model, entry.get("pricing"), entry.get("rate_limits"), entry.get("metadata"))
            )
        if known:
            self._registry.set_discovered(known)
        self._registry.set_listed(self._models)

    @classmethod
    def snapshot(cls, provider: Provider, models: Sequence[str], **kwargs: Any) -> OfflineProvider:
        """An offline copy of what ``provider`` knows about ``models`` now (prices synced from a proxy, say)."""
        known = {model: spec for model in models if (spec := provider.get_model_spec(model)) is not None}
        return cls(models, known=known, **kwargs)

    @property
    def models_version(self) -> int:
        return self._registry.version

    def get_supported_models(self) -> list[str]:
        return list(self._models)

    def get_model_spec(self, model: str) -> ModelSpec | None:
        return self._registry.get(model)

    async def ensure_model_info(self) -> None:
        """Nothing to refresh: the specs were given."""

    def model_availability(self, model: str, prompt_tokens: int) -> tuple[str, str] | None:
        """Every model is always available offline."""
        return None

    def unavailable_models(self, prompt_tokens: int) -> Mapping[str, tuple[str, str]]:
        """No model is unavailable (routers ask this once per request instead of once per model)."""
        return _NONE

    async def chat_completion(
        self,
        messages: Iterable[MessageInput],
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        **params: Any,
    ) -> ChatCompletionResponse:
        """Always raises: an offline provider only informs routing decisions."""
        raise ProviderError(
            "the offline provider sends nothing (it only informs routing decisions)",
            provider=self.name,
            model=model,
            request_sent=False,
        )
