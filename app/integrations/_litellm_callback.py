"""The LiteLLM ``CustomLogger`` that runs :class:`~app.integrations.proxy_routing.ProxyRouting` inside the proxy.

This module imports LiteLLM: it is imported only inside the proxy, on first access to
:data:`app.integrations.litellm_proxy.costmux_callback`. Each hook is a thin adapter; what is decided and why lives
in :mod:`app.integrations.proxy_routing`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException

from app.errors import BudgetExceededError, CostmuxError, RoutingError
from app.gateway.errors import error_answer
from app.integrations.attempts import AttemptRefusedError
from app.integrations.deployments import ProxyDeployments
from app.integrations.plugin_settings import SETTINGS_KEY, PluginSettings
from app.integrations.proxy_routing import CHAT_CALL_TYPES, ProxyRouting
from app.pricing import decimal_str, to_decimal_usd

__all__ = ["CostmuxCallback", "create_callback"]

logger = logging.getLogger("costmux.integrations")


class CostmuxCallback(CustomLogger):
    """Routes ``model="auto"`` requests of the LiteLLM proxy with costmux, within ``max_cost`` (see
    docs/litellm-plugin.md). ``routing`` holds the state; ``metrics`` the ``costmux_*`` metrics, if enabled;
    ``at_shutdown`` what to await when the proxy stops (pushing the shared prompt-bound calibration to Redis)."""

    def __init__(
        self,
        routing: ProxyRouting,
        metrics: Any = None,
        at_shutdown: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.routing = routing
        self.metrics = metrics
        self._at_shutdown = at_shutdown
        self._shutdown_waiter: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"CostmuxCallback(strategy={self.routing.settings.default_strategy!r})"

    # -- before routing: the decision -------------------------------------------------------------------------------

    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: Any
    ) -> dict[str, Any]:
        if call_type not in CHAT_CALL_TYPES:
            return data
        try:
            request = self.routing.read(data)
            if request is None:
                return data
            proxy_router = _proxy_router()
            if proxy_router is None:
                return data
            self.routing.sync(proxy_router)
            self.routing.route(data, request, await _cooling(proxy_router))
        except CostmuxError as exc:
            raise proxy_exception(exc) from exc
        return data

    # -- each deployment attempt: the cap inside LiteLLM ------------------------------------------------------------

    async def async_pre_call_deployment_hook(self, kwargs: dict[str, Any], call_type: Any) -> dict[str, Any] | None:
        result = self.routing.plan_attempt(kwargs)
        return dict(result) if result is not None else None

    async def async_post_call_failure_deployment_hook(
        self, request_data: Mapping[str, Any], exception: Exception, call_type: Any, fallback_depth: int | None = None
    ) -> None:
        self.routing.attempt_failed(request_data, exception, stream=request_data.get("stream") is True)

    # -- the end of a request ---------------------------------------------------------------------------------------

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        if self._shutdown_waiter is None and self._at_shutdown is not None:  # the first answer: what it learns
            self._shutdown_waiter = asyncio.get_running_loop().create_task(run_at_shutdown(self._at_shutdown))
        logged = kwargs.get("standard_logging_object") or {}
        cost = kwargs.get("response_cost")
        if cost is None and isinstance(logged, Mapping):
            cost = logged.get("response_cost")
        usage = getattr(response_obj, "usage", None)
        self.routing.attempt_answered(
            kwargs,
            cost_usd=cost,
            prompt_tokens=_int_or_none(getattr(usage, "prompt_tokens", None)),
            completion_tokens=_int_or_none(getattr(usage, "completion_tokens", None)),
            stream=kwargs.get("stream") is True,
        )

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: Any = None,
    ) -> Any:
        self.routing.request_failed(request_data)
        if isinstance(original_exception, AttemptRefusedError):
            return proxy_exception(original_exception)  # the fallbacks left no room: a budget answer, not a 400
        return None

    async def async_post_call_response_headers_hook(
        self,
        data: dict[str, Any],
        user_api_key_dict: Any,
        response: Any,
        request_headers: Any = None,
        litellm_call_info: Any = None,
    ) -> dict[str, str] | None:
        hidden = getattr(response, "_hidden_params", None) if response is not None else None
        cost = hidden.get("response_cost") if isinstance(hidden, Mapping) and data.get("stream") is not True else None
        return self.routing.headers(data, cost) or None


def proxy_exception(exc: CostmuxError) -> ProxyException:
    """``exc`` as the proxy answers it: the gateway's status, ``type`` and ``param``; the gateway's ``code`` (the
    proxy's ``code`` is always the status) and extra fields go in ``provider_specific_fields``."""
    answer = error_answer(exc)
    error = answer.body["error"]
    fields = {"costmux_code": error["code"]}
    fields.update({k: v for k, v in error.items() if k not in ("message", "type", "param", "code")})
    if isinstance(exc, RoutingError) and exc.reasons:  # why each model was ruled out, by model group
        fields["rejected"] = {key.split("/", 1)[-1]: why for key, why in exc.reasons.items()}
    headers = dict(answer.headers)
    if isinstance(exc, BudgetExceededError):
        headers["x-costmux-max-cost"] = decimal_str(to_decimal_usd(exc.max_cost_usd))
    return ProxyException(
        message=error["message"],
        type=error["type"],
        param=error["param"],
        code=answer.status,
        headers=headers,
        provider_specific_fields=fields,
    )


async def run_at_shutdown(work: Callable[[], Awaitable[None]]) -> None:
    """Wait until cancelled, then await ``work``. LiteLLM has no shutdown hook for callbacks, but the proxy's server
    runs in an ``asyncio.Runner``, which cancels the tasks left when the server stops and runs the loop until they
    end: this is how the callback flushes what it holds (the event loop and its connections are still there)."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        try:
            await work()
        except Exception:  # the proxy is stopping: say so, do not fail its shutdown
            logger.warning("costmux: could not flush at shutdown", exc_info=True)
        raise


def _proxy_router() -> Any:
    """The running proxy's router (replaced when the proxy reloads its config), or ``None``."""
    from litellm.proxy import proxy_server

    return getattr(proxy_server, "llm_router", None)


async def _cooling(proxy_router: Any) -> list[str]:
    """The ids of the deployments LiteLLM cools down now (none if it cannot say)."""
    from litellm.router_utils.cooldown_handlers import async_get_cooldown_deployments

    try:
        return list(await async_get_cooldown_deployments(proxy_router, parent_otel_span=None))
    except Exception:  # a cooldown store that fails must not fail the request: LiteLLM skips cooling deployments
        logger.debug("could not read LiteLLM's cooldowns", exc_info=True)
        return []


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def create_callback(config: Mapping[str, Any] | None = None) -> CostmuxCallback:
    """Build the callback from ``config`` (default: the proxy config's ``callback_settings.costmux``) over the
    environment; wire the ``costmux_*`` metrics (and their own port, if set).

    Raises:
        ConfigurationError: an invalid setting (the proxy does not start).
    """
    if config is None:
        import litellm

        config = (getattr(litellm, "callback_settings", None) or {}).get(SETTINGS_KEY)
    settings = PluginSettings.load(config)
    deployments, at_shutdown = _deployments(settings)
    routing = ProxyRouting(settings, deployments=deployments)
    metrics = None
    if settings.metrics:
        from app.metrics import CostmuxMetrics, start_metrics_server

        metrics = CostmuxMetrics()
        metrics.instrument(routing.router)
        metrics.instrument(routing.deployments)
        if settings.metrics_port is not None:
            server, _ = start_metrics_server(settings.metrics_port)
            logger.warning("costmux metrics on http://127.0.0.1:%d/metrics", server.server_port)
    return CostmuxCallback(routing, metrics, at_shutdown)


def _deployments(
    settings: PluginSettings,
) -> tuple[ProxyDeployments, Callable[[], Awaitable[None]] | None]:
    """The proxy's deployments as costmux's provider; with ``redis_url``, their prompt-bound calibration shared with
    the other replicas (the gateway's store, under the same provider name ``litellm``), and what to await at
    shutdown: push what the store still holds, close its connection."""
    connection = settings.redis()
    if connection is None:
        return ProxyDeployments(refresh_s=settings.models_refresh_s), None
    from app.stores.bounds import RedisBoundStore
    from app.tokens import PromptBoundLearner

    logger.warning("costmux: prompt-bound calibration shared through %s", connection.url)
    store = RedisBoundStore(connection, "litellm")
    learner = PromptBoundLearner(store)

    async def close() -> None:
        try:
            await store.aclose()
        finally:
            await connection.aclose()

    return ProxyDeployments(refresh_s=settings.models_refresh_s, prompt_bounds=learner), close
