"""``LiteLLMProvider``: chat, streaming, model discovery, pricing and health checks through a LiteLLM proxy.

One ``httpx.AsyncClient`` (created on first use) is shared by every call. Nothing touches the network in the
constructor. The API key is kept as a ``SecretStr`` and redacted from every error message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from app.catalog import ModelCatalog, default_catalog
from app.errors import (
    ConfigurationError,
    CostmuxError,
    InvalidRequestError,
    InvalidResponseError,
    ModelNotFoundError,
    PricingError,
    ProviderError,
)
from app.events import EventBus, Observer, RequestFinished, error_kind
from app.models import ChatCompletionResponse, MessageInput, Usage, to_message_dicts
from app.pricing import CostSource, ModelPricing, resolve_actual_cost
from app.providers.bound_learning import TokenFamilies, bind_learner, close_learner, learn_from_usage, sent_max_tokens
from app.providers.guard import Admission, ModelGuard
from app.providers.guard_store import GuardStore
from app.providers.health import HealthPolicy, ProxyHealthMonitor
from app.providers.model_list import ModelList
from app.providers.model_registry import ModelRegistry, ModelSpec, RateLimits, parse_model_info, spec_from_custom
from app.providers.payloads import parse_completion, reported_cost, request_body
from app.providers.ratelimit import BucketStore
from app.providers.retry import RetryPolicy
from app.providers.streaming import ChatStream, OpenedStream
from app.providers.transport import ProxyTransport, json_body, normalize_base_url
from app.settings import CostTracking, ProviderSettings
from app.tokens import TokenCounts, count_prompt_tokens
from app.tokens.families import FamilyResolution
from app.tokens.learning import PromptBoundLearner

__all__ = ["LiteLLMProvider"]

logger = logging.getLogger("costmux.providers")

T = TypeVar("T")
Clock = Callable[[], float]


class LiteLLMProvider:
    """A provider that sends OpenAI-shaped requests to a LiteLLM proxy.

    Args:
        base_url: the proxy's URL (``/v1`` suffix allowed); default from ``LITELLM_BASE_URL`` and its aliases.
        api_key: the proxy key; default from ``LITELLM_API_KEY`` and its aliases.
        custom_models: ``{name: {"pricing": {...}, "rate_limits": {...}, "metadata": {...}}}``; overrides
            what the proxy reports, field by field.
        timeout_s: total time allowed for one HTTP attempt, in seconds (``timeout`` is accepted as an alias).
        max_retries: retries after the first attempt for retryable failures.
        http_client: an ``httpx.AsyncClient`` to use instead of the provider's own (it is not closed by us).
        cost_tracking: ``"strict"`` raises :class:`PricingError` for unpriced models; ``"ignore_errors"`` returns
            ``None`` costs instead. Default from ``COSTMUX_COST_TRACKING``.
        models_cache_ttl_s: how long ``/v1/models`` and ``/model/info`` answers are reused, in seconds.
        max_connections: size of the shared connection pool.
        retry_policy: a :class:`RetryPolicy` (its ``max_retries`` is replaced by ``max_retries`` when given).
        clock: monotonic clock in seconds, injectable for tests.
        name: the provider's name in errors and decisions.
        catalog: fills in what neither ``custom_models`` nor the proxy says (prices, windows, capabilities,
            quality): ``"default"`` is the bundled catalog of well-known models, ``None`` disables it.
        rate_limit_timeout_s: how long a call waits for the client-side rate limiter (per-model rpm/tpm from
            ``custom_models`` or the proxy), seconds; ``0``: raise ``RateLimitError`` at once. Per call too.
            Default from ``COSTMUX_RATE_LIMIT_TIMEOUT_S`` (30).
        health_policy: thresholds and cooldowns of the per-model circuit breaker (see ``health.py``).
        limiter_store: where the limiter keeps its buckets (in memory by default).
        guard_store: rate limits, 429 hold-offs and circuit breakers shared with other replicas
            (:class:`~app.providers.guard_store.RedisGuardStore`); this process's own state is the fallback.
        shared_clock: wall-clock seconds used with ``guard_store`` (replicas must agree on it; tests inject one).
        observers: callables that receive the provider's events (``app.events``: requests, retries, rate-limit
            waits and holds, health changes, learned prompt usage); more can be added with
            ``provider.events.subscribe``.
        prompt_bounds: learns each model's prompt bounds from the usage the proxy bills (every answered call is
            recorded; routers check the cap with what it learned); default a new in-memory
            :class:`~app.tokens.PromptBoundLearner`. Pass one built on a shared store to share it between replicas
            (:class:`~app.stores.bounds.RedisBoundStore`: its failures are reported on the provider's events, and
            :meth:`aclose` pushes what it still holds).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        custom_models: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        timeout_s: float | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        http_client: httpx.AsyncClient | None = None,
        cost_tracking: CostTracking | None = None,
        models_cache_ttl_s: float | None = None,
        max_connections: int = 100,
        retry_policy: RetryPolicy | None = None,
        clock: Clock = time.monotonic,
        name: str = "litellm",
        catalog: ModelCatalog | Literal["default"] | None = "default",
        rate_limit_timeout_s: float | None = None,
        health_policy: HealthPolicy | None = None,
        limiter_store: BucketStore | None = None,
        observers: Sequence[Observer] = (),
        guard_store: GuardStore | None = None,
        shared_clock: Clock = time.time,
        prompt_bounds: PromptBoundLearner | None = None,
    ) -> None:
        env = ProviderSettings.load()
        url = base_url or env.base_url
        if not url:
            raise ConfigurationError(
                "no LiteLLM proxy URL: pass base_url= or set LITELLM_BASE_URL (or LITELLM_PROXY_BASE_URL / "
                "OPENAI_BASE_URL), e.g. http://127.0.0.1:4000"
            )
        self.name = name
        self.base_url = normalize_base_url(url)
        self._api_key = SecretStr(api_key) if api_key is not None else env.api_key
        self.cost_tracking: CostTracking = cost_tracking or env.cost_tracking
        if self.cost_tracking not in ("strict", "ignore_errors"):
            raise ConfigurationError("cost_tracking must be 'strict' or 'ignore_errors'")
        self.timeout_s = float(timeout_s or timeout or env.timeout_s)
        retries = env.max_retries if max_retries is None else max_retries
        if retries < 0:
            raise ConfigurationError("max_retries must not be negative")
        policy = retry_policy or RetryPolicy()
        self.retry_policy = RetryPolicy(**{**policy.__dict__, "max_retries": retries})
        self.models_cache_ttl_s = env.models_cache_ttl_s if models_cache_ttl_s is None else models_cache_ttl_s
        self.events = EventBus(list(observers))
        self._transport = ProxyTransport(
            self.base_url,
            self._api_key,
            provider=name,
            timeout_s=self.timeout_s,
            max_connections=max_connections,
            retry_policy=self.retry_policy,
            client=http_client,
            events=self.events,
        )
        self._clock = clock
        self._registry = ModelRegistry(default_catalog() if catalog == "default" else catalog)
        self.rate_limit_timeout_s = env.rate_limit_timeout_s if rate_limit_timeout_s is None else rate_limit_timeout_s
        self.guard = ModelGuard(
            self._rate_limits,
            health_policy=health_policy,
            store=limiter_store,
            clock=clock,
            sleep=self.retry_policy.sleep,
            provider=name,
            events=self.events,
            guard_store=guard_store,
            shared_clock=shared_clock,
        )
        self._monitor: ProxyHealthMonitor | None = None
        self._model_list: ModelList | None = None
        self._model_info_synced_at: float | None = None
        self._sync_lock = asyncio.Lock()
        self.prompt_bounds = prompt_bounds if prompt_bounds is not None else PromptBoundLearner()
        bind_learner(self.prompt_bounds, self.events, name)
        self._families = TokenFamilies(self._registry)
        for model_name, entry in (custom_models or {}).items():
            if not isinstance(entry, Mapping):
                raise ConfigurationError(f"custom_models[{model_name!r}] must be a mapping")
            self.add_custom_model(model_name, entry.get("pricing"), entry.get("rate_limits"), entry.get("metadata"))

    def __repr__(self) -> str:
        return f"LiteLLMProvider(name={self.name!r}, base_url={self.base_url!r}, models={len(self._registry.names())})"

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def __aenter__(self) -> LiteLLMProvider:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the health monitor if one runs; close the connection pool if the provider created it."""
        if self._monitor is not None:
            await self._monitor.stop()
        await self.guard.aclose()
        await close_learner(self.prompt_bounds)
        await self._transport.aclose()

    # -- model catalog -------------------------------------------------------------------------------------------

    def add_custom_model(
        self,
        model_name: str,
        pricing: Mapping[str, Any] | ModelPricing | None,
        rate_limits: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Register a model's prices (any accepted unit), rate limits and metadata; validated, never mutated.

        Raises:
            ConfigurationError: invalid values, or ``model_name`` is already a custom model.
        """
        self._registry.add_custom(spec_from_custom(model_name, pricing, rate_limits, metadata))

    def get_supported_models(self) -> list[str]:
        """Configured models, then those discovered from the proxy (``/model/info`` and ``/v1/models``)."""
        return self._registry.names()

    @property
    def models_version(self) -> int:
        """Changes whenever what the provider knows about its models changes (for caches of derived data)."""
        return self._registry.version

    def get_model_spec(self, model: str) -> ModelSpec | None:
        """The merged spec of ``model``, or ``None`` when it is neither configured nor discovered."""
        return self._registry.get(model)

    def get_model_info(self, model: str) -> dict[str, Any]:
        """Pricing (exact decimal strings), rate limits, context window and metadata of ``model``.

        Raises:
            ModelNotFoundError: the model is neither configured nor discovered.
        """
        spec = self._registry.get(model)
        if spec is None:
            raise ModelNotFoundError(f"model {model!r} is not known to {self.name}", provider=self.name, model=model)
        return {**spec.describe(), **self.guard.snapshot(model), "prompt_bounds": self.prompt_bounds.describe(model)}

    def token_family(self, model: str) -> FamilyResolution:
        """``model``'s token family (``unknown`` for a model the provider does not know), cached until the provider's
        model knowledge changes."""
        return self._families.of(model)

    def _learn(
        self, model: str, body: Mapping[str, Any], usage: Usage | None, counted: list[TokenCounts] | None = None
    ) -> None:
        """Record an answered call's billed usage (:func:`~app.providers.bound_learning.learn_from_usage`). The
        prompt is counted once per call: ``counted`` holds the admission's count, if it made one."""
        if usage is None or usage.prompt_tokens <= 0:
            return
        prompt = (
            counted[0]
            if counted
            else count_prompt_tokens(
                body["messages"], tools=body.get("tools"), response_format=body.get("response_format")
            )
        )
        learn_from_usage(
            self.prompt_bounds,
            self._families,
            self.events,
            provider=self.name,
            model=model,
            prompt=prompt,
            billed_prompt_tokens=usage.prompt_tokens,
            billed_completion_tokens=usage.completion_tokens,
            max_tokens=sent_max_tokens(body),
        )

    def _limit_field(self, model: str) -> str:
        """The request field that bounds the whole completion of ``model``: ``max_completion_tokens`` for OpenAI
        reasoning models (known from the catalog, also behind an alias), ``max_tokens`` otherwise."""
        spec = self._registry.get(model)
        return spec.reasoning.limit_param if spec is not None and spec.reasoning is not None else "max_tokens"

    def _rate_limits(self, model: str) -> RateLimits | None:
        spec = self._registry.get(model)
        return spec.rate_limits if spec is not None else None

    def model_availability(self, model: str, prompt_tokens: int) -> tuple[str, str] | None:
        """Without waiting: ``None`` if ``model`` can take a request of about ``prompt_tokens`` now, else
        ``("unhealthy" | "rate_limited", why)`` (routers skip such models)."""
        return self.guard.availability(model, prompt_tokens + _DEFAULT_OUTPUT_ALLOWANCE_TOKENS)

    def unavailable_models(self, prompt_tokens: int) -> dict[str, tuple[str, str]]:
        """:meth:`model_availability` of every model at once: ``{model: ("unhealthy" | "rate_limited", why)}`` of
        those that can't take a request of about ``prompt_tokens`` now (a router asks this once per request)."""
        return self.guard.unavailable(self._registry.rate_limited(), prompt_tokens + _DEFAULT_OUTPUT_ALLOWANCE_TOKENS)

    async def sync_pricing(self) -> dict[str, ModelSpec]:
        """Fetch prices, context windows and rpm/tpm from the proxy's ``/model/info`` (custom entries still win).

        Raises:
            ProviderError: the proxy could not be asked; InvalidResponseError: the answer is malformed.
        """
        async with self._sync_lock:
            await self._fetch_model_info(retry=True)
        return {name: spec for name in self._registry.names() if (spec := self._registry.get(name)) is not None}

    async def _fetch_model_info(self, *, retry: bool) -> None:
        payload = await self._transport.get_json("/model/info", retry=retry)
        try:
            specs = parse_model_info(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidResponseError(f"/model/info answer is malformed: {exc}", provider=self.name) from exc
        self._registry.set_discovered(specs)
        self._model_info_synced_at = self._clock()

    def _model_info_fresh(self) -> bool:
        synced_at = self._model_info_synced_at
        return synced_at is not None and self._clock() - synced_at < self.models_cache_ttl_s

    async def ensure_model_info(self) -> None:
        """Sync ``/model/info`` on first use and after the cache TTL, once for concurrent callers. A failed sync
        is logged, not raised (the request itself then reports what is wrong with the proxy)."""
        if self._model_info_fresh():
            return
        async with self._sync_lock:
            if self._model_info_fresh():
                return
            try:
                await self._fetch_model_info(retry=False)
            except CostmuxError as exc:
                self._model_info_synced_at = self._clock()  # do not ask again on every request
                logger.warning("could not sync model info from %s: %s", self.base_url, exc)

    async def get_available_models(self, *, refresh: bool = False) -> ModelList:
        """The proxy's models as ``GET /v1/models`` lists them (dicts with ``id``, ``object``, ``owned_by``, ...),
        cached for ``models_cache_ttl_s``; each call returns its own copy.

        When the proxy cannot be reached, the last good list is returned with ``stale=True``; with no list yet
        the error is raised.

        Raises:
            ProviderError: the proxy could not be reached and nothing was fetched before.
            InvalidResponseError: the answer is not a list of objects with an ``id``.
        """
        cached = self._model_list
        if cached is not None and not refresh and self._clock() - cached.fetched_at < self.models_cache_ttl_s:
            return cached.copy_as(stale=False)
        try:
            payload = await self._transport.get_json("/v1/models")
            models = ModelList(_model_objects(payload), fetched_at=self._clock())
        except ProviderError as exc:
            if cached is None:
                raise
            logger.warning("serving a stale model list: %s", exc)
            return cached.copy_as(stale=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidResponseError(f"/v1/models answer is malformed: {exc}", provider=self.name) from exc
        self._model_list = models
        self._registry.set_listed(models.ids)
        return models.copy_as(stale=False)

    async def health_check(self, *, timeout_s: float = 5.0) -> bool:
        """True when the proxy answers 200 on ``/health/liveliness`` and ``/health/readiness``.

        Never makes a paid call (``/health`` would call every model) and never raises.
        """
        try:
            for path in ("/health/liveliness", "/health/readiness"):
                await self._transport.send_once("GET", path, timeout_s=timeout_s)
        except CostmuxError as exc:
            logger.info("health check of %s failed: %s", self.base_url, exc)
            return False
        return True

    async def count_prompt_tokens(self, messages: Iterable[MessageInput], model: str) -> int:
        """The prompt's token count with ``model``'s own tokenizer, from the proxy's ``/utils/token_counter``.

        Raises:
            ProviderError: the proxy could not count; InvalidResponseError: the answer has no ``total_tokens``.
        """
        body = {"model": model, "messages": to_message_dicts(messages)}
        response = await self._transport.post("/utils/token_counter", body, model=model)
        count = json_body(response, self.name).get("total_tokens") if response.content else None
        if not isinstance(count, int) or count < 0:
            raise InvalidResponseError("/utils/token_counter answered without total_tokens", provider=self.name)
        return count

    def start_health_monitor(self, interval_s: float = 30.0) -> ProxyHealthMonitor:
        """Check the proxy's liveliness and readiness every ``interval_s`` seconds in the background (free: no model
        is called); stopped by :meth:`aclose`. Needs a running event loop."""
        if self._monitor is None:
            self._monitor = ProxyHealthMonitor(self.health_check, interval_s=interval_s, clock=self._clock)
        self._monitor.start()
        return self._monitor

    async def check_model_health(self, model: str) -> bool:
        """Actively check one model through the proxy's ``GET /health?model=...`` and record the outcome.

        This makes a **real, paid call** to the model's deployments, so nothing calls it unless you do.
        """
        try:
            body = await self._transport.get_json(f"/health?model={quote(model, safe='')}", retry=False)
        except ProviderError as exc:
            self.guard.health.record_failure(model, exc)
            return False
        healthy = bool(body.get("healthy_count")) and not body.get("unhealthy_count")
        if healthy:
            self.guard.health.record_success(model)
        else:
            self.guard.health.record_failure(model)
        return healthy

    # -- costs -------------------------------------------------------------------------------------------------

    def _pricing(self, model: str) -> ModelPricing | None:
        spec = self._registry.get(model)
        return spec.pricing if spec is not None else None

    def calculate_cost_usd(self, prompt_tokens: int, completion_tokens: int, model: str) -> Decimal | None:
        """Exact cost in USD, or ``None`` for an unpriced model when cost tracking ignores errors.

        Raises:
            PricingError: no price is known for ``model`` (strict cost tracking).
        """
        pricing = self._pricing(model)
        if pricing is None:
            if self.cost_tracking == "ignore_errors":
                logger.warning("no price known for model %r; its cost is unknown", model)
                return None
            raise PricingError(_no_price_message(model), model=model)
        return pricing.cost_usd(prompt_tokens, completion_tokens)

    def calculate_cost(self, prompt_tokens: int, completion_tokens: int, model: str) -> float | None:
        """Cost in USD as a float (see :meth:`calculate_cost_usd`)."""
        cost = self.calculate_cost_usd(prompt_tokens, completion_tokens, model)
        return float(cost) if cost is not None else None

    def _actual_cost(
        self, model: str, usage: Usage | None, reported: Decimal | None
    ) -> tuple[Decimal | None, CostSource]:
        cost: Decimal | None
        source: CostSource
        if usage is None:  # no usage reported (e.g. a stream without its usage chunk): only a reported cost counts
            cost, source = (reported, "proxy") if reported is not None else (None, "unknown")
        else:
            cost, source = resolve_actual_cost(
                reported, usage.prompt_tokens, usage.completion_tokens, self._pricing(model)
            )
        if source == "unknown":
            logger.warning("cost of a %r call is unknown: no price and no cost reported by the proxy", model)
        return cost, source

    def _require_price(self, model: str) -> None:
        """Strict cost tracking refuses, before sending, a model known to exist but to have no price."""
        spec = self._registry.get(model)
        if self.cost_tracking == "strict" and spec is not None and spec.pricing is None:
            raise PricingError(_no_price_message(model), model=model)

    # -- chat ----------------------------------------------------------------------------------------------------

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
        """Send a chat completion and return it with its actual cost and the proxy's call id.

        The call first passes the model's circuit breaker and client-side rate limits, waiting up to
        ``rate_limit_timeout_s`` (default: the provider's; ``0``: do not wait). ``retry_unanswered=False`` does not
        retry a request that was sent but got no answer (it may have been generated and billed): for callers that
        cap the cost of a request.

        Raises:
            InvalidRequestError: bad arguments (nothing was sent). PricingError: unpriced model (strict).
            RateLimitError: the client-side limit would need a longer wait, or the proxy answered 429.
            ProviderUnavailableError: the model is cooling down after failures, or the proxy failed.
            ProviderError subclasses: what the proxy answered, after retries.
        """
        if params.get("stream"):
            raise InvalidRequestError("chat_completion does not stream; use stream_chat_completion")
        body = request_body(messages, model, max_tokens, temperature, params, limit_field=self._limit_field(model))
        await self.ensure_model_info()
        started = self._clock()
        counted: list[TokenCounts] = []
        try:
            self._require_price(model)
            admission = await self._admit(model, body, rate_limit_timeout_s, counted)
        except BaseException as exc:
            self._report(model, started, error=exc)
            raise
        try:
            response = await self._transport.post(
                "/v1/chat/completions", body, model=model, retry_unanswered=retry_unanswered
            )
            completion = parse_completion(response, self.name, model)
        except BaseException as exc:
            admission.failed(exc)
            self._report(model, started, error=exc)
            raise
        admission.succeeded(completion.usage, response.headers)
        reported = reported_cost(response.headers.get("x-litellm-response-cost"))
        cost, source = self._actual_cost(model, completion.usage, reported)
        completion.cost_usd = float(cost) if cost is not None else None
        completion.cost_source = source
        completion.call_id = response.headers.get("x-litellm-call-id")
        self._report(model, started, usage=completion.usage, cost_usd=cost)
        self._learn(model, body, completion.usage, counted)
        return completion

    def _report(
        self,
        model: str,
        started: float,
        *,
        error: BaseException | None = None,
        usage: Usage | None = None,
        cost_usd: Decimal | None = None,
        stream: bool = False,
        ttft_s: float | None = None,
    ) -> None:
        """Emit the one :class:`RequestFinished` of a call (when anyone listens)."""
        if not self.events.active:
            return
        self.events.emit(
            RequestFinished(
                provider=self.name,
                model=model,
                stream=stream,
                outcome="success" if error is None else error_kind(error),
                duration_s=self._clock() - started,
                ttft_s=ttft_s,
                prompt_tokens=usage.prompt_tokens if usage is not None else None,
                completion_tokens=usage.completion_tokens if usage is not None else None,
                cost_usd=cost_usd,
            )
        )

    async def _admit(
        self, model: str, body: Mapping[str, Any], timeout_s: float | None, counted: list[TokenCounts] | None = None
    ) -> Admission:
        """Pass the circuit breaker and reserve the rate limits for one call. Tokens charged up front: an upper
        estimate of the prompt plus ``min(max_tokens, 256)`` of output; the actual usage corrects it after the call
        (charging a whole ``max_tokens`` would starve a tokens-per-minute limit for output that rarely comes).
        The estimate is only made for a model with a tokens-per-minute limit (and kept in ``counted``, for the
        learning after the answer)."""

        def tokens() -> int:
            counts = count_prompt_tokens(
                body["messages"], tools=body.get("tools"), response_format=body.get("response_format")
            )
            if counted is not None:
                counted.append(counts)
            limit = body.get("max_tokens") or body.get("max_completion_tokens")
            return counts.upper_estimate_tokens + min(
                limit or _DEFAULT_OUTPUT_ALLOWANCE_TOKENS, _DEFAULT_OUTPUT_ALLOWANCE_TOKENS
            )

        wait_s = self.rate_limit_timeout_s if timeout_s is None else timeout_s
        return await self.guard.admit(model, tokens, provider=self.name, timeout_s=wait_s)

    def stream_chat_completion(
        self,
        messages: Iterable[MessageInput],
        model: str,
        max_tokens: int | None = None,
        temperature: float | None = None,
        *,
        rate_limit_timeout_s: float | None = None,
        retry_unanswered: bool = True,
        **params: Any,
    ) -> ChatStream:
        """Stream a chat completion: ``async for chunk in provider.stream_chat_completion(...)``.

        Always asks the proxy for ``stream_options.include_usage``; the final usage and cost are on the returned
        :class:`ChatStream` once iteration ends. Retries happen only before the first chunk.
        """
        caller_options = params.pop("stream_options", None) or {}
        body = request_body(messages, model, max_tokens, temperature, params, limit_field=self._limit_field(model))
        body["stream"] = True
        body["stream_options"] = {**caller_options, "include_usage": True}

        admitted: list[Admission] = []
        counted: list[TokenCounts] = []
        timing: list[float] = []  # when the call started, when its first chunk came
        final_cost: list[Decimal | None] = [None]

        async def open_stream() -> OpenedStream:
            await self.ensure_model_info()
            timing.append(self._clock())
            try:
                self._require_price(model)
                admission = await self._admit(model, body, rate_limit_timeout_s, counted)
            except BaseException as exc:
                self._report(model, timing[0], error=exc, stream=True)
                raise
            admitted.append(admission)
            try:
                opened = await self._transport.with_retries(
                    lambda: self._transport.open_stream(body, model), retry_unanswered=retry_unanswered, model=model
                )
            except BaseException as exc:
                admission.failed(exc)
                self._report(model, timing[0], error=exc, stream=True)
                raise
            timing.append(self._clock())
            return opened

        def finish(usage: Usage | None, reported: Decimal | None) -> tuple[Decimal | None, CostSource]:
            cost, source = self._actual_cost(model, usage, reported)
            final_cost[0] = cost
            return cost, source

        def settle(usage: Usage | None, headers: Mapping[str, str] | None, error: BaseException | None) -> None:
            # called once the stream has opened: chunks were generated, so a failure keeps the charge
            if admitted:
                admitted[0].succeeded(usage, headers) if error is None else admitted[0].failed(error, generated=True)
            ttft_s = timing[1] - timing[0]
            self._report(model, timing[0], error=error, usage=usage, cost_usd=final_cost[0], stream=True, ttft_s=ttft_s)
            if error is None:  # complete: the usage chunk, when the proxy sent one
                self._learn(model, body, usage, counted)

        return ChatStream(
            open_stream,
            next_frame=lambda events: self._transport.next_frame(events, model, mid_stream=True),
            finish=finish,
            settle=settle,
            model=model,
            pass_usage_chunk=bool(caller_options.get("include_usage")),
        )


_DEFAULT_OUTPUT_ALLOWANCE_TOKENS = 256  # output charged to the tokens-per-minute limit before a call, tokens


def _no_price_message(model: str) -> str:
    return (
        f"no price is known for model {model!r}: add it with custom_models or add_custom_model(), configure "
        "input_cost_per_token/output_cost_per_token in the proxy, or set cost_tracking='ignore_errors'"
    )


def _model_objects(payload: Any) -> list[dict[str, Any]]:
    """The model objects of a ``/v1/models`` answer. Raises KeyError/TypeError/ValueError when malformed."""
    models = payload["data"]
    if not isinstance(models, list):
        raise TypeError("data is not a list")
    for model in models:
        if not isinstance(model, dict) or not isinstance(model.get("id"), str) or not model["id"]:
            raise ValueError(f"a model has no id: {model!r}"[:200])
    return models
