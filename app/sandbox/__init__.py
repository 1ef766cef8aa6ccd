"""Local, offline stand-ins used by tests, the demo and benchmarks: a loopback OpenAI-compatible upstream
and a managed real LiteLLM proxy process.

Names are loaded lazily on first access, so importing this package starts nothing and imports nothing heavy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.sandbox.proxy import (
        FAKE_UPSTREAM_API_KEY,
        LiteLLMNotFoundError,
        LiteLLMProxy,
        ProxyModel,
        ProxyStartError,
        default_test_models,
        find_litellm_binary,
        free_port,
        proxy_env,
        render_config,
    )
    from app.sandbox.upstream import (
        DEFAULT_UPSTREAM_MODELS,
        FakeUpstream,
        Fault,
        count_tokens,
        prompt_tokens_for,
    )

__all__ = [
    "DEFAULT_UPSTREAM_MODELS",
    "FAKE_UPSTREAM_API_KEY",
    "FakeUpstream",
    "Fault",
    "LiteLLMNotFoundError",
    "LiteLLMProxy",
    "ProxyModel",
    "ProxyStartError",
    "count_tokens",
    "default_test_models",
    "find_litellm_binary",
    "free_port",
    "prompt_tokens_for",
    "proxy_env",
    "render_config",
]

_UPSTREAM_NAMES = frozenset({"DEFAULT_UPSTREAM_MODELS", "FakeUpstream", "Fault", "count_tokens", "prompt_tokens_for"})


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first access (PEP 562)."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module("app.sandbox.upstream" if name in _UPSTREAM_NAMES else "app.sandbox.proxy")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
