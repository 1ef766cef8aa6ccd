"""Gateway settings from the environment (pydantic-settings); the upstream proxy's URL and key are the provider's
settings (:class:`~app.settings.ProviderSettings`: ``LITELLM_BASE_URL``, ``LITELLM_API_KEY``).

=============================  ===================================================================================
environment variable           setting
=============================  ===================================================================================
``COSTMUX_API_KEY``            bearer key clients must send (unset: no authentication; bind to loopback then)
``COSTMUX_HOST``               address ``costmux serve`` binds (default ``127.0.0.1``)
``COSTMUX_PORT``               port ``costmux serve`` listens on (default 8080)
``COSTMUX_DEFAULT_STRATEGY``   strategy of ``model: "auto"`` (default ``cost_optimized``)
``COSTMUX_DEFAULT_MAX_COST``   cap in USD for requests that give none (default: no cap)
``COSTMUX_BUDGET_MODE``        prompt bound of the cap: ``estimate`` (default), ``strict`` or ``exact``
``COSTMUX_AUTO_EXCLUDE``       comma-separated models ``auto`` never picks (still reachable by name)
``COSTMUX_MAX_BODY_BYTES``     largest request body accepted, bytes (default 16 MiB; larger: 413)
``COSTMUX_KEYS_FILE``          YAML file of gateway keys, teams and spend budgets (docs/deployment.md)
``COSTMUX_REDIS_URL``          Redis shared by the replicas: budgets, rate limits, hold-offs, breakers (unset:
                               in memory, this process only); never logged with its password
``COSTMUX_REDIS_PREFIX``       first part of every Redis key (default ``costmux``)
``COSTMUX_REDIS_CLUSTER``      ``true``: the URL is a Redis Cluster node
``COSTMUX_BUDGET_HOLD_TTL_S``  how long a reservation of a dead replica holds budget before it is charged (300)
=============================  ===================================================================================
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any, Self

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigurationError
from app.router.budget import BudgetMode

__all__ = ["GatewaySettings"]


class GatewaySettings(BaseSettings):
    """Settings of the costmux gateway. ``api_key`` is a ``SecretStr``: it never shows in reprs or logs."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    api_key: SecretStr | None = Field(default=None, validation_alias="COSTMUX_API_KEY")
    host: str = Field(default="127.0.0.1", min_length=1, validation_alias="COSTMUX_HOST")
    port: int = Field(default=8080, ge=0, le=65535, validation_alias="COSTMUX_PORT")
    default_strategy: str = Field(default="cost_optimized", min_length=1, validation_alias="COSTMUX_DEFAULT_STRATEGY")
    default_max_cost: Decimal | None = Field(
        default=None, ge=0, allow_inf_nan=False, validation_alias="COSTMUX_DEFAULT_MAX_COST"
    )
    budget_mode: BudgetMode = Field(default="estimate", validation_alias="COSTMUX_BUDGET_MODE")
    #: A trained quality model for model "auto" (``costmux train``): a path, or ``default`` for the shipped one.
    quality_model: str | None = Field(default=None, min_length=1, validation_alias="COSTMUX_QUALITY_MODEL")
    auto_exclude: str = Field(default="", validation_alias="COSTMUX_AUTO_EXCLUDE")
    #: 16 MiB: a prompt filling a 2M-token context window as ASCII text (~4 bytes a token) is about 8 MB, a 1M-token
    #: CJK prompt escaped as JSON (\uXXXX, 6 bytes a character) about 6 MB, an image as a data URL up to ~7 MB.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024, validation_alias="COSTMUX_MAX_BODY_BYTES")
    keys_file: Path | None = Field(default=None, validation_alias="COSTMUX_KEYS_FILE")
    redis_url: SecretStr | None = Field(default=None, validation_alias="COSTMUX_REDIS_URL")
    redis_prefix: str = Field(default="costmux", min_length=1, validation_alias="COSTMUX_REDIS_PREFIX")
    redis_cluster: bool = Field(default=False, validation_alias="COSTMUX_REDIS_CLUSTER")
    budget_hold_ttl_s: float = Field(default=300.0, gt=0, validation_alias="COSTMUX_BUDGET_HOLD_TTL_S")
    #: With Redis: the most requests' worst cases one budget lease of a replica may hold (1: a reservation per
    #: request, a store call each); and the most of what a budget has left one lease may take.
    budget_lease_requests: int = Field(default=64, ge=1, validation_alias="COSTMUX_BUDGET_LEASE_REQUESTS")
    budget_lease_share: float = Field(default=0.1, gt=0, le=1, validation_alias="COSTMUX_BUDGET_LEASE_SHARE")

    @field_validator("api_key", "default_max_cost", "keys_file", "redis_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def auto_excluded(self) -> frozenset[str]:
        """The models (``provider/model`` keys or bare names) ``auto`` never picks."""
        return frozenset(name.strip() for name in self.auto_exclude.split(",") if name.strip())

    @classmethod
    def load(cls, env_file: str | Path | None = None, **overrides: object) -> Self:
        """Read the settings from the environment (and ``env_file`` if given); ``overrides`` (by field name) win.

        Raises:
            ConfigurationError: naming the first invalid setting.
        """
        given: dict[str, Any] = {name: value for name, value in overrides.items() if value is not None}
        try:
            return cls(_env_file=env_file, **given)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigurationError(f"invalid gateway setting {_name(first['loc'])}: {first['msg']}") from None


def _name(loc: tuple[int | str, ...]) -> str:
    """``field (ENV_VAR)`` for an error location given by field name or by environment variable."""
    where = str(loc[0]) if loc else "settings"
    for field, info in GatewaySettings.model_fields.items():
        if where in (field, info.validation_alias):
            return f"{field} ({info.validation_alias})"
    return where
