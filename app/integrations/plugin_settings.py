"""Settings of the LiteLLM proxy callback: the proxy config's ``callback_settings: {costmux: {...}}`` (by field name)
over the environment (pydantic-settings), validated once, when the proxy loads the callback.

=================================  ===================================================================================
environment variable               setting (``callback_settings.costmux`` key)
=================================  ===================================================================================
``COSTMUX_DEFAULT_STRATEGY``       ``default_strategy``: strategy of ``model: "auto"`` (default ``cost_optimized``)
``COSTMUX_DEFAULT_MAX_COST``       ``default_max_cost``: cap in USD for routed requests that give none (default none)
``COSTMUX_BUDGET_MODE``            ``budget_mode``: prompt bound of the cap, ``estimate`` (default) or ``strict``
``COSTMUX_AUTO_EXCLUDE``           ``auto_exclude``: models ``auto`` never picks (comma-separated, or a YAML list)
``COSTMUX_CAP_NAMED_MODELS``       ``cap_named_models``: also cap requests that name a model (default false)
``COSTMUX_MAX_ATTEMPTS``           ``max_attempts``: models LiteLLM may try per request, the choice included (3)
``COSTMUX_DECISION_HEADERS``       ``decision_headers``: ``x-costmux-*`` response headers (default true)
``COSTMUX_METRICS``                ``metrics``: ``costmux_*`` metrics on the default Prometheus registry (true)
``COSTMUX_METRICS_PORT``           ``metrics_port``: also serve them on this loopback port (default: not)
``COSTMUX_MODELS_REFRESH_S``       ``models_refresh_s``: re-read the proxy's deployments at least this often (30)
``COSTMUX_QUALITY_MODEL``          ``quality_model``: a learned quality model file, or ``default`` (read at start)
``COSTMUX_REDIS_URL``              ``redis_url``: share the prompt-bound calibration with the other replicas (none)
``COSTMUX_REDIS_PREFIX``           ``redis_prefix``: first part of every Redis key (default ``costmux``)
``COSTMUX_REDIS_CLUSTER``          ``redis_cluster``: ``redis_url`` is a Redis Cluster (default false)
(config only)                      ``strategy_options``: ``{strategy: {option: value}}`` passed to the strategies
=================================  ===================================================================================

``strategy_options`` is how knobs of a strategy are set (for example the cost/quality knob's ``default_share``):
each strategy is built once, at proxy start, with its options, so a wrong option stops the proxy with a clear
message instead of failing requests.

``redis_url`` (``redis://``, ``rediss://`` or ``unix://``; never logged with its password) is what ``costmux serve
--redis-url`` shares too: the prompt-bound calibration of the proxy's model groups, under the same keys (the store
name ``litellm``), so proxy replicas and gateway replicas in front of the same deployments learn together. A URL of
the wrong form stops the proxy at start; Redis unreachable later is not an error: each replica learns alone meanwhile
(logged, and counted by ``costmux_store_failures_total``) and catches up when it is back.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.errors import ConfigurationError
from app.router.strategies import RoutingStrategy, available_strategies, get_strategy

if TYPE_CHECKING:
    from app.stores import RedisConnection

__all__ = ["PluginSettings"]

#: The key of the proxy config's ``callback_settings`` block read by the callback.
SETTINGS_KEY = "costmux"


class PluginSettings(BaseSettings):
    """Settings of the costmux callback inside a LiteLLM proxy (see the module doc for each one)."""

    model_config = SettingsConfigDict(extra="forbid", populate_by_name=True)

    default_strategy: str = Field(default="cost_optimized", min_length=1, validation_alias="COSTMUX_DEFAULT_STRATEGY")
    default_max_cost: Decimal | None = Field(
        default=None, ge=0, allow_inf_nan=False, validation_alias="COSTMUX_DEFAULT_MAX_COST"
    )
    budget_mode: Literal["estimate", "strict"] = Field(default="estimate", validation_alias="COSTMUX_BUDGET_MODE")
    auto_exclude: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(), validation_alias="COSTMUX_AUTO_EXCLUDE"
    )
    #: A trained quality model for "auto" requests (``costmux train``): a path, or ``default`` for the shipped one.
    quality_model: str | None = Field(default=None, min_length=1, validation_alias="COSTMUX_QUALITY_MODEL")
    cap_named_models: bool = Field(default=False, validation_alias="COSTMUX_CAP_NAMED_MODELS")
    max_attempts: int = Field(default=3, ge=1, le=10, validation_alias="COSTMUX_MAX_ATTEMPTS")
    min_output_tokens: int = Field(default=16, ge=1, validation_alias="COSTMUX_MIN_OUTPUT_TOKENS")
    default_max_output_tokens: int = Field(default=4096, ge=1, validation_alias="COSTMUX_DEFAULT_MAX_OUTPUT_TOKENS")
    decision_headers: bool = Field(default=True, validation_alias="COSTMUX_DECISION_HEADERS")
    metrics: bool = Field(default=True, validation_alias="COSTMUX_METRICS")
    metrics_port: int | None = Field(default=None, ge=0, le=65535, validation_alias="COSTMUX_METRICS_PORT")
    models_refresh_s: float = Field(default=30.0, gt=0, validation_alias="COSTMUX_MODELS_REFRESH_S")
    #: Shares the prompt-bound calibration with the other replicas (the gateway's ``--redis-url``): a ``SecretStr``,
    #: never shown in reprs or logs.
    redis_url: SecretStr | None = Field(default=None, validation_alias="COSTMUX_REDIS_URL")
    redis_prefix: str = Field(default="costmux", min_length=1, validation_alias="COSTMUX_REDIS_PREFIX")
    redis_cluster: bool = Field(default=False, validation_alias="COSTMUX_REDIS_CLUSTER")
    strategy_options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("default_max_cost", "metrics_port", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("auto_exclude", mode="before")
    @classmethod
    def _names(cls, value: object) -> object:
        """A comma-separated string (environment) or a list of names (YAML)."""
        if isinstance(value, str):
            return frozenset(name.strip() for name in value.split(",") if name.strip())
        return value

    @classmethod
    def load(cls, config: Mapping[str, Any] | None = None) -> Self:
        """The environment, overridden by ``config`` (the ``callback_settings.costmux`` block, by field name).

        Raises:
            ConfigurationError: naming the first invalid setting, or an unknown strategy or strategy option.
        """
        if config is not None and not isinstance(config, Mapping):
            raise ConfigurationError(f"callback_settings.{SETTINGS_KEY} must be a mapping, got {type(config).__name__}")
        given = dict(config or {})
        unknown = sorted(set(given) - set(cls.model_fields))
        if unknown:
            raise ConfigurationError(
                f"unknown costmux setting(s) {', '.join(unknown)} in callback_settings.{SETTINGS_KEY} "
                f"(known: {', '.join(cls.model_fields)})"
            )
        try:
            settings = cls(**given)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigurationError(f"invalid costmux setting {_name(first['loc'])}: {first['msg']}") from None
        settings.strategies()  # unknown strategies and bad options fail here, at proxy start
        settings.redis()  # a Redis URL or prefix of the wrong form fails here too (nothing is connected yet)
        if settings.min_output_tokens > settings.default_max_output_tokens:
            raise ConfigurationError("costmux setting min_output_tokens must not exceed default_max_output_tokens")
        return settings

    def redis(self) -> RedisConnection | None:
        """A new connection to ``redis_url`` (opened on its first command), or ``None`` without one.

        Raises:
            ConfigurationError: the URL or the prefix is not of a valid form.
        """
        if self.redis_url is None:
            return None
        from app.stores import RedisConnection

        try:
            return RedisConnection(
                self.redis_url.get_secret_value(), prefix=self.redis_prefix, cluster=self.redis_cluster
            )
        except ConfigurationError as exc:
            raise ConfigurationError(f"invalid costmux Redis setting (redis_url, redis_prefix): {exc}") from None

    def strategies(self) -> dict[str, RoutingStrategy]:
        """One instance of every registered strategy, built with its ``strategy_options``.

        Raises:
            ConfigurationError: the default strategy or a ``strategy_options`` key is not registered, or a strategy
                rejects its options.
        """
        known = available_strategies()
        for name in (self.default_strategy, *self.strategy_options):
            if name not in known:
                raise ConfigurationError(f"unknown routing strategy {name!r} in costmux settings ({', '.join(known)})")
        built: dict[str, RoutingStrategy] = {}
        for name in known:
            options = self.strategy_options.get(name, {})
            if not isinstance(options, Mapping):
                raise ConfigurationError(f"strategy_options.{name} must be a mapping of option names to values")
            try:
                built[name] = _tried(get_strategy(name, **options))
            except (TypeError, ValueError, AttributeError) as exc:
                raise ConfigurationError(f"strategy_options.{name}: {exc}") from exc
        return built


def _tried(strategy: RoutingStrategy) -> RoutingStrategy:
    """``strategy`` once it has ranked a made-up candidate (an option of the wrong kind fails here, at proxy start,
    instead of on every request)."""
    from app.router import analyze
    from app.router.decision import KEPT_NOTE, CandidateVerdict

    analysis = analyze([{"role": "user", "content": "What is the capital of France?"}])
    verdict = CandidateVerdict(
        "p", "m", True, None, 0.9, False, 10**12, 10**13, 100, False, "p/m", (KEPT_NOTE, ("", ("", ()), 100)), 0.9
    )
    strategy.rank([verdict], analysis)
    return strategy


def _name(loc: tuple[int | str, ...]) -> str:
    """``field (ENV_VAR)`` for an error location given by field name or by environment variable."""
    where = str(loc[0]) if loc else "settings"
    for field, info in PluginSettings.model_fields.items():
        if where in (field, info.validation_alias):
            return f"{field} ({info.validation_alias})" if info.validation_alias else field
    return where
