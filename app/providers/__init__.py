"""Providers: clients that send chat requests to an LLM gateway (today the LiteLLM proxy).

Public API: :class:`LiteLLMProvider`, :class:`ChatStream`, :class:`ModelList`, :class:`ModelSpec`,
:class:`RateLimits`, :class:`RetryPolicy`.
"""

from app.providers.litellm_provider import LiteLLMProvider
from app.providers.model_list import ModelList
from app.providers.model_registry import ModelSpec, RateLimits
from app.providers.retry import RetryPolicy
from app.providers.streaming import ChatStream

__all__ = ["ChatStream", "LiteLLMProvider", "ModelList", "ModelSpec", "RateLimits", "RetryPolicy"]
