"""Settings read from the environment (pydantic-settings); arguments given in code always win.

=============================================================  ==========================================
environment variable (first one set wins)                      setting
=============================================================  ==========================================
``LITELLM_BASE_URL``, ``LITELLM_PROXY_BASE_URL``, ``OPENAI_BASE_URL``  proxy base URL (``/v1`` suffix allowed)
``LITELLM_API_KEY``, ``LITELLM_PROXY_API_KEY``, ``OPENAI_API_KEY``     proxy API key
``COSTMUX_COST_TRACKING``                                       ``strict`` (default) or ``ignore_errors``
``COSTMUX_TIMEOUT_S``                                           request timeout in seconds (default 60)
``COSTMUX_MAX_RETRIES``                                         retries after the first attempt (default 2)
``COSTMUX_MODELS_CACHE_TTL_S``                                  ``/v1/models`` cache lifetime (default 300)
``COSTMUX_RATE_LIMIT_TIMEOUT_S``                                how long a direct call waits for a client-side rate
                                                                limit, seconds (default 30; 0 = refuse at once)
``COSTMUX_QUALITY_SHARE``                                       routers' cost/quality knob in [0, 1]: the share of
                                                                the best model's expected quality to keep (default:
                                                                each strategy's own; docs/routing.md)
=============================================================  ==========================================
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import ConfigurationError

__all__ = ["CostTracking", "ProviderSettings", "RoutingSettings"]

CostTracking = Literal["strict", "ignore_errors"]


class _EnvironmentSettings(BaseSettings):
    """Settings read from the process environment with one way to fail."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def load(cls) -> Self:
        """Read the settings. Raises ConfigurationError naming the first invalid variable."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigurationError(f"invalid environment setting {first['loc'][0]}: {first['msg']}") from None


class ProviderSettings(_EnvironmentSettings):
    """Provider defaults from the environment. The API key is a ``SecretStr``: it never shows in reprs."""

    base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LITELLM_BASE_URL", "LITELLM_PROXY_BASE_URL", "OPENAI_BASE_URL")
    )
    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LITELLM_API_KEY", "LITELLM_PROXY_API_KEY", "OPENAI_API_KEY")
    )
    cost_tracking: CostTracking = Field(default="strict", validation_alias="COSTMUX_COST_TRACKING")
    timeout_s: float = Field(default=60.0, gt=0, validation_alias="COSTMUX_TIMEOUT_S")
    max_retries: int = Field(default=2, ge=0, le=10, validation_alias="COSTMUX_MAX_RETRIES")
    models_cache_ttl_s: float = Field(default=300.0, ge=0, validation_alias="COSTMUX_MODELS_CACHE_TTL_S")
    rate_limit_timeout_s: float = Field(default=30.0, ge=0, validation_alias="COSTMUX_RATE_LIMIT_TIMEOUT_S")


class RoutingSettings(_EnvironmentSettings):
    """Router defaults from the environment (a router's own arguments win)."""

    quality_share: float | None = Field(default=None, ge=0, le=1, validation_alias="COSTMUX_QUALITY_SHARE")
    #: A trained quality model (``costmux train``): a file path, or ``default`` for the shipped one.
    quality_model: str | None = Field(default=None, validation_alias="COSTMUX_QUALITY_MODEL")
    quality_mode: Literal["combined", "learned", "difficulty"] = Field(
        default="combined", validation_alias="COSTMUX_QUALITY_MODE"
    )

    @field_validator("quality_share", "quality_model", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
