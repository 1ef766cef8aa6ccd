"""The keys file (``costmux serve --keys FILE``, ``COSTMUX_KEYS_FILE``): gateway keys, teams and spend budgets (YAML).

.. code-block:: yaml

    timezone: UTC                 # calendar of the windows (an IANA name); default UTC
    gateway:                      # budgets of the whole gateway (every request)
      budgets: [{window: month, max_usd: 500}]
    teams:
      research:
        budgets: [{window: day, max_usd: 50}]
    keys:
      - name: alice               # shown in metrics, headers and the status endpoint (never the key)
        key_sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
        team: research
        budgets: [{window: day, max_usd: 5}, {window: hour, max_usd: 1}]
      - name: ops
        key: sk-plain-key-of-ops   # a plain key is hashed when the file is read and never kept
        admin: true                # may read GET /v1/budgets

A key is given plain (``key``) or as the hex SHA-256 of its UTF-8 bytes (``key_sha256``). Names are letters, digits,
``.``, ``_`` and ``-``: they become metric labels and Redis key parts. Errors name the entry and field, never a key.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from app.errors import ConfigurationError

__all__ = ["BudgetSpec", "KeySpec", "KeysFile", "Principal", "TeamSpec", "Window", "hash_key", "load_keys_file"]

Window = Literal["hour", "day", "month"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key's UTF-8 bytes (what the keys file may hold instead of the key)."""
    return hashlib.sha256(key.encode()).hexdigest()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetSpec(_Strict):
    """At most ``max_usd`` (USD, exact) spent per calendar ``window``."""

    window: Window
    max_usd: Decimal = Field(ge=0, allow_inf_nan=False)

    @field_validator("max_usd", mode="before")
    @classmethod
    def _exact(cls, value: object) -> object:
        return repr(value) if isinstance(value, float) else value  # 0.1 means 0.1, not its binary expansion


class TeamSpec(_Strict):
    """The budgets of a team (or of the whole gateway)."""

    budgets: tuple[BudgetSpec, ...] = ()

    @field_validator("budgets")
    @classmethod
    def _one_per_window(cls, budgets: tuple[BudgetSpec, ...]) -> tuple[BudgetSpec, ...]:
        windows = [b.window for b in budgets]
        if len(set(windows)) != len(windows):
            raise ValueError("at most one budget per window")
        return budgets


class KeySpec(TeamSpec):
    """One gateway key: its name, the key (plain or hashed), its team, its budgets, whether it is an admin."""

    name: str
    key: SecretStr | None = None
    key_sha256: str | None = None
    team: str | None = None
    admin: bool = False

    @field_validator("name", "team")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _NAME.match(value):
            raise ValueError("must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)")
        return value

    @field_validator("key_sha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256.match(value.lower()):
            raise ValueError("must be 64 hex digits (the SHA-256 of the key)")
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _one_key(self) -> KeySpec:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of key and key_sha256")
        if self.key is not None and len(self.key.get_secret_value()) < 8:
            raise ValueError("key must be at least 8 characters")
        return self

    @property
    def digest(self) -> str:
        """The key's hex SHA-256."""
        return self.key_sha256 if self.key_sha256 is not None else hash_key(self.key.get_secret_value())  # type: ignore[union-attr]


class KeysFile(_Strict):
    """The whole keys file (see the module doc)."""

    timezone: str = "UTC"
    gateway: TeamSpec = TeamSpec()
    teams: dict[str, TeamSpec] = {}
    keys: tuple[KeySpec, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC or Europe/Paris)") from None
        return value

    @field_validator("teams")
    @classmethod
    def _team_names(cls, teams: dict[str, TeamSpec]) -> dict[str, TeamSpec]:
        for name in teams:
            if not _NAME.match(name):
                raise ValueError(f"team name {name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return teams

    @model_validator(mode="after")
    def _consistent(self) -> KeysFile:
        names: set[str] = set()
        digests: set[str] = set()
        for spec in self.keys:
            if spec.name in names:
                raise ValueError(f"two keys are named {spec.name!r}")
            names.add(spec.name)
            if spec.digest in digests:
                raise ValueError(f"key {spec.name!r} is the same key as another entry")
            digests.add(spec.digest)
            if spec.team is not None and spec.team not in self.teams:
                raise ValueError(f"key {spec.name!r} names team {spec.team!r}, which is not under teams")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Principal(BaseModel):
    """Who sent a request: the key's name, team and budgets (from the keys file), and whether it is an admin."""

    model_config = ConfigDict(frozen=True)

    name: str
    team: str | None = None
    admin: bool = False
    budgets: tuple[BudgetSpec, ...] = ()


def load_keys_file(path: str | Path) -> KeysFile:
    """Read and validate a keys file.

    Raises:
        ConfigurationError: unreadable file, invalid YAML, or an invalid entry (named by its place and field; the
            value itself is never echoed, since it may be a key).
    """
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - the server extra is missing
        raise ConfigurationError(f"reading a keys file needs PyYAML (pip install 'costmux[server]'): {exc}") from None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the keys file {path}: {exc.strerror or exc}") from None
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise ConfigurationError(f"the keys file {path} is not valid YAML{line}") from None
    return parse_keys(data if data is not None else {}, source=str(path))


def parse_keys(data: Any, *, source: str = "keys file") -> KeysFile:
    """Validate keys-file data already parsed (see :func:`load_keys_file`)."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"the {source} must be a mapping with keys, teams, gateway and timezone")
    try:
        return KeysFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"invalid {source}: {where}: {message}") from None
