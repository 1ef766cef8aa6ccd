"""The interface routers use to talk to a provider (``LiteLLMProvider`` implements it)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from app.models import ChatCompletionResponse, MessageInput
from app.providers.model_registry import ModelSpec

__all__ = ["Provider"]


@runtime_checkable
class Provider(Protocol):
    """What a router needs from a provider: its models, their specs, and a way to send a chat completion.

    Optional: ``unavailable_models(prompt_tokens) -> {model: (reason, why)}``, the answer of
    :meth:`model_availability` for every model at once; routers ask it once per request when a provider has it.
    """

    name: str

    @property
    def models_version(self) -> int:
        """Changes whenever the provider's model knowledge changes."""

    def get_supported_models(self) -> list[str]:
        """Names of the models this provider can serve."""

    def get_model_spec(self, model: str) -> ModelSpec | None:
        """Prices, windows, limits, capabilities and quality of ``model``, or ``None`` if unknown."""

    async def ensure_model_info(self) -> None:
        """Refresh model knowledge if it is stale (never raises for an unreachable provider)."""

    async def chat_completion(
        self,
        messages: Iterable[MessageInput],
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        *,
        rate_limit_timeout_s: float | None = None,
        retry_unanswered: bool = True,
        **params: Any,
    ) -> ChatCompletionResponse:
        """Send one chat completion; ``rate_limit_timeout_s=0`` refuses at once (``RateLimitError``) instead of
        waiting for a client-side rate limit; ``retry_unanswered=False`` does not retry a sent request that got no
        answer (it may have been billed)."""

    def model_availability(self, model: str, prompt_tokens: int) -> tuple[str, str] | None:
        """Without waiting: ``None`` if ``model`` can take a request now, else ``("unhealthy" | "rate_limited",
        why)``."""
