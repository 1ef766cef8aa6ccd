"""A LiteLLM callback that does nothing, with the hooks the costmux callback uses, for ``bench/bench_plugin.py``: the
floor any callback with those integration points pays in the proxy (LiteLLM's own work to call them per request),
against which what costmux's work adds is measured.

A proxy loads ``bench._noop_callback.noop_callback``. Benchmarks only: never in a deployment.
"""

from __future__ import annotations

from typing import Any

from litellm.integrations.custom_logger import CustomLogger

__all__ = ["CALLBACK_PATH", "NoopCallback", "noop_callback"]

CALLBACK_PATH = "bench._noop_callback.noop_callback"


class NoopCallback(CustomLogger):
    """The costmux callback's hooks (:class:`app.integrations._litellm_callback.CostmuxCallback`), each returning at
    once with what leaves the request unchanged."""

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        return data

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        return None

    async def async_post_call_failure_deployment_hook(
        self, request_data: Any, exception: Exception, call_type: Any, fallback_depth: int | None = None
    ) -> None:
        return None

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        return None

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: Any = None,
    ) -> Any:
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: Any = None,
        litellm_call_info: Any = None,
    ) -> dict[str, str] | None:
        return None


noop_callback = NoopCallback()
