"""What one gateway app holds while it runs: its settings, its providers (one :class:`ProviderRegistry`), its
router, its keys and spend budgets, its Redis connection (when replicas share state) and its metrics; built on
startup, closed on shutdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from app.budgets import (
    BudgetLedger,
    KeysFile,
    KeyTable,
    MemoryBudgetStore,
    Principal,
    RedisBudgetStore,
    load_keys_file,
)
from app.errors import ConfigurationError
from app.gateway.settings import GatewaySettings
from app.gateway.upstream import upstream_client
from app.providers import LiteLLMProvider, Provider, ProviderRegistry
from app.providers.guard_store import RedisGuardStore
from app.router import Router
from app.router.strategies import available_strategies
from app.settings import ProviderSettings
from app.stores import RedisConnection
from app.stores.bounds import RedisBoundStore
from app.tokens import PromptBoundLearner

if TYPE_CHECKING:
    from app.metrics import CostmuxMetrics

__all__ = ["GatewayState"]


class GatewayState:
    """The running gateway's parts.

    Args:
        settings: the gateway's settings.
        registry: the providers requests are routed over.
        owned: the providers the gateway created (closed by :meth:`aclose`).
        clients: the HTTP clients the gateway created for them (closed by :meth:`aclose`).
        metrics: the app's metrics (``None``: none recorded).
        keys: the keys file (gateway keys, teams, spend budgets), if any.
        redis: the Redis connection the replicas share (closed by :meth:`aclose`), if any.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        registry: ProviderRegistry,
        *,
        owned: Sequence[Provider] = (),
        clients: Sequence[httpx.AsyncClient] = (),
        metrics: CostmuxMetrics | None = None,
        keys: KeysFile | None = None,
        redis: RedisConnection | None = None,
    ) -> None:
        if settings.default_strategy not in available_strategies():
            known = ", ".join(available_strategies())
            raise ConfigurationError(f"COSTMUX_DEFAULT_STRATEGY={settings.default_strategy!r} is unknown ({known})")
        self.settings = settings
        self.registry = registry
        self.router = Router(
            settings.default_strategy,
            budget_mode=settings.budget_mode,
            providers=registry,
            quality_model=settings.quality_model,
        )
        self.metrics = metrics
        self._owned = tuple(owned)
        self._clients = tuple(clients)
        self.keys = KeyTable(keys, settings.api_key.get_secret_value() if settings.api_key is not None else None)
        self.redis = redis
        self.budgets: BudgetLedger | None = None
        if keys is not None and any(budgets for _, budgets in _all_budgets(keys)):
            store = RedisBudgetStore(redis) if redis is not None else MemoryBudgetStore()
            self.budgets = BudgetLedger(
                keys,
                store,
                hold_ttl_s=settings.budget_hold_ttl_s,
                lease_requests=settings.budget_lease_requests if redis is not None else 1,  # memory: no store call
                lease_share=settings.budget_lease_share,
            )
        self.auto_excluded = settings.auto_excluded
        if metrics is not None:  # the registry's providers, also those registered while the gateway runs
            metrics.instrument(self.router)
            metrics.instrument(registry)
            if self.budgets is not None:
                metrics.instrument(self.budgets)

    @classmethod
    def build(
        cls,
        settings: GatewaySettings,
        upstream: ProviderSettings | None,
        providers: ProviderRegistry | None,
        metrics: CostmuxMetrics | None,
    ) -> GatewayState:
        """The state for ``providers``, or for one :class:`LiteLLMProvider` from ``upstream`` (URL and key) that the
        gateway owns; with a Redis URL its rate limits, health and prompt-bound calibration are shared with the
        other replicas."""
        keys = load_keys_file(settings.keys_file) if settings.keys_file is not None else None
        redis = None
        if settings.redis_url is not None:
            redis = RedisConnection(
                settings.redis_url.get_secret_value(), prefix=settings.redis_prefix, cluster=settings.redis_cluster
            )
        if providers is not None:
            return cls(settings, providers, metrics=metrics, keys=keys, redis=redis)
        upstream = upstream or ProviderSettings.load()
        key = upstream.api_key.get_secret_value() if upstream.api_key is not None else None
        client = upstream_client(timeout_s=upstream.timeout_s)  # holds nothing open until its first request
        guard_store = RedisGuardStore(redis, "litellm") if redis is not None else None
        bounds = PromptBoundLearner(RedisBoundStore(redis, "litellm")) if redis is not None else None
        provider = LiteLLMProvider(
            upstream.base_url, key, http_client=client, guard_store=guard_store, prompt_bounds=bounds
        )
        registry = ProviderRegistry({provider.name: provider})
        return cls(settings, registry, owned=[provider], clients=[client], metrics=metrics, keys=keys, redis=redis)

    def start(self) -> None:
        """Start the background upkeep (keep-alive of running requests' reservations). Needs the running loop."""
        if self.budgets is not None:
            self.budgets.start()

    async def aclose(self) -> None:
        """Stop observing the providers; close the ones the gateway created; settle what is left; close Redis."""
        if self.budgets is not None:
            await self.budgets.aclose()
        if self.metrics is not None:
            self.metrics.uninstrument(self.router)
            self.metrics.uninstrument(self.registry)
            if self.budgets is not None:
                self.metrics.uninstrument(self.budgets)
        for provider in self._owned:
            closer = getattr(provider, "aclose", None)
            if closer is not None:
                await closer()
        for client in self._clients:
            await client.aclose()
        if self.redis is not None:
            await self.redis.aclose()

    def caller(self, authorization: str | None) -> tuple[bool, Principal | None]:
        """``(allowed, who)`` for an ``Authorization`` header: with no key configured everyone is allowed
        (anonymously); else only a known key (its :class:`~app.budgets.Principal`)."""
        if self.keys.open:
            return True, None
        principal = self.keys.lookup(authorization)
        return principal is not None, principal

    def authorized(self, authorization: str | None) -> bool:
        """Whether the ``Authorization`` header carries a gateway key (always, when none is configured)."""
        return self.caller(authorization)[0]

    def known_models(self) -> set[tuple[str, str]]:
        """Every ``(provider, model)`` the providers know."""
        return {(name, model) for name, provider in self.registry.items() for model in provider.get_supported_models()}

    async def refresh_models(self) -> None:
        """Let each provider refresh its model knowledge if stale (never raises)."""
        for provider in self.registry.values():
            await provider.ensure_model_info()

    def describe_models(self) -> list[dict[str, Any]]:
        """The routable models (those with a price) and the ``auto`` routes, OpenAI ``model`` objects with costmux's
        prices (USD per 1M tokens, exact decimal strings) and limits."""
        routes = [("auto", self.settings.default_strategy), *((f"auto:{s}", s) for s in available_strategies())]
        data: list[dict[str, Any]] = [
            {"id": name, "object": "model", "created": 0, "owned_by": "costmux", "costmux": {"strategy": strategy}}
            for name, strategy in routes
        ]
        for provider_name, provider in self.registry.items():
            for model in provider.get_supported_models():
                spec = provider.get_model_spec(model)
                if spec is None or spec.pricing is None:
                    continue
                described = spec.describe()["pricing"]
                data.append(
                    {
                        "id": model,
                        "object": "model",
                        "created": 0,
                        "owned_by": provider_name,
                        "costmux": {
                            "provider": provider_name,
                            "input_usd_per_1m": described["input_usd_per_1m"],
                            "output_usd_per_1m": described["output_usd_per_1m"],
                            "context_window": spec.context_window_tokens,
                            "max_output_tokens": spec.max_output_tokens,
                            "auto": model not in self.auto_excluded
                            and f"{provider_name}/{model}" not in self.auto_excluded,
                        },
                    }
                )
        return data


def _all_budgets(keys: KeysFile) -> list[tuple[str, tuple[Any, ...]]]:
    """Every configured budget list of the keys file (keys', teams', the gateway's)."""
    found: list[tuple[str, tuple[Any, ...]]] = [(k.name, k.budgets) for k in keys.keys]
    found += [(name, team.budgets) for name, team in keys.teams.items()]
    return [*found, ("gateway", keys.gateway.budgets)]
