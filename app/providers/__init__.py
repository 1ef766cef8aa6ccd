"""Providers: clients that send chat requests to an LLM gateway (today the LiteLLM proxy).

Public API: :class:`LiteLLMProvider` and the :class:`Provider` interface routers use; :class:`ProviderRegistry`;
:class:`ChatStream`, :class:`ModelList`, :class:`ModelSpec`, :class:`RateLimits`, :class:`RetryPolicy`; the
resilience parts (:class:`ModelGuard`, :class:`RateLimiter`, :class:`BucketStore`, :class:`MemoryBucketStore`,
:class:`ModelHealth`, :class:`HealthPolicy`, :class:`ProxyHealthMonitor`).
"""

from app.providers.base import Provider
from app.providers.guard import Admission, ModelGuard
from app.providers.health import HealthPolicy, ModelHealth, ProxyHealthMonitor
from app.providers.litellm_provider import LiteLLMProvider
from app.providers.model_list import ModelList
from app.providers.model_registry import ModelSpec, RateLimits
from app.providers.ratelimit import BucketStore, MemoryBucketStore, RateLimiter, Reservation
from app.providers.registry import ProviderRegistry, RegistryChange, RegistryWatcher
from app.providers.retry import RetryPolicy
from app.providers.streaming import ChatStream

__all__ = [
    "Admission",
    "BucketStore",
    "ChatStream",
    "HealthPolicy",
    "LiteLLMProvider",
    "MemoryBucketStore",
    "ModelGuard",
    "ModelHealth",
    "ModelList",
    "ModelSpec",
    "Provider",
    "ProviderRegistry",
    "ProxyHealthMonitor",
    "RateLimiter",
    "RateLimits",
    "RegistryChange",
    "RegistryWatcher",
    "Reservation",
    "RetryPolicy",
]
