"""costmux inside the LiteLLM proxy: the callback an operator names in the proxy's ``config.yaml``::

    litellm_settings:
      callbacks: ["app.integrations.litellm_proxy.costmux_callback"]

Requests whose model is ``auto`` or ``auto:<strategy>`` are routed by costmux over the proxy's own deployments,
within ``max_cost`` (body, ``metadata`` or ``x-max-cost`` header); named models pass through untouched unless the
operator caps them too. Settings: ``callback_settings: {costmux: {...}}`` in the same file, or the environment
(:mod:`app.integrations.plugin_settings`). See docs/litellm-plugin.md.

Importing this module imports neither LiteLLM nor anything heavy: :data:`costmux_callback` is built on first access
(by the proxy, when it loads its config), and an invalid setting stops the proxy there with a clear message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.integrations._litellm_callback import CostmuxCallback

__all__ = ["CALLBACK_PATH", "build_callback", "costmux_callback", "managed_proxy_options", "source_path"]

#: What the proxy config's ``litellm_settings.callbacks`` lists.
CALLBACK_PATH = "app.integrations.litellm_proxy.costmux_callback"

costmux_callback: CostmuxCallback  # built on first access (PEP 562), see __getattr__


def build_callback(config: Mapping[str, Any] | None = None) -> CostmuxCallback:
    """A new callback from ``config`` (default: the proxy config's ``callback_settings.costmux``) over the
    environment. Imports LiteLLM: call it inside the proxy.

    Raises:
        ConfigurationError: an invalid setting.
    """
    from app.integrations._litellm_callback import create_callback

    return create_callback(config)


def __getattr__(name: str) -> Any:
    """``costmux_callback``: built once, on first access."""
    if name != "costmux_callback":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    callback = build_callback()
    globals()[name] = callback
    return callback


def source_path() -> str:
    """The directory holding this costmux's ``app`` package: put it on a proxy's ``PYTHONPATH`` to load this very
    code (tests and the demo do; a deployment installs costmux into the proxy's environment instead)."""
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2])


def managed_proxy_options(settings: Mapping[str, Any] | None = None, *, prometheus: bool = True) -> dict[str, Any]:
    """Keyword arguments of :class:`app.sandbox.LiteLLMProxy` that load this callback with ``settings`` (the
    ``callback_settings.costmux`` block) from this costmux's source, and LiteLLM's Prometheus ``/metrics`` (which then
    serves the ``costmux_*`` metrics too) unless ``prometheus`` is false. For tests, the demo and benchmarks."""
    callbacks = [CALLBACK_PATH, "prometheus"] if prometheus else [CALLBACK_PATH]
    return {
        "litellm_settings": {"callbacks": callbacks},
        "callback_settings": {"costmux": dict(settings or {})},
        "extra_env": {"PYTHONPATH": source_path()},
    }
