"""A LiteLLM callback that does nothing, with the hooks the costmux callback uses, for ``bench/bench_plugin.py``: the
floor any callback with those integration points pays in the proxy (LiteLLM's own work to call them per request),
against which what costmux's work adds is measured.

The hooks are those :class:`~app.integrations._litellm_callback.CostmuxCallback` defines (read from the class, so the
two never drift apart); each returns at once with what leaves the request unchanged: the pre-call hook its ``data``,
the others ``None``. A proxy loads ``bench._noop_callback.noop_callback``. Benchmarks only: never in a deployment.
"""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from app.integrations._litellm_callback import CostmuxCallback

__all__ = ["CALLBACK_PATH", "HOOKS", "NoopCallback", "noop_callback"]

CALLBACK_PATH = "bench._noop_callback.noop_callback"
#: the CustomLogger hooks costmux's callback overrides
HOOKS = tuple(name for name in vars(CostmuxCallback) if name.startswith("async_") and hasattr(CustomLogger, name))


async def _pre_call(self: Any, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any) -> Any:
    return data


async def _nothing(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


NoopCallback = type(
    "NoopCallback",
    (CustomLogger,),
    {name: _pre_call if name == "async_pre_call_hook" else _nothing for name in HOOKS},
)
noop_callback = NoopCallback()
