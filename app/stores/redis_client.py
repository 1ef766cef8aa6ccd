"""``RedisConnection``: the one ``redis.asyncio`` client of a process, its key layout and its Lua scripts.

Key layout (every key starts with the configured prefix, ``costmux`` by default; ``{...}`` is the Redis Cluster hash
tag, so every key a script touches is in one slot):

==============================================  ===================================================================
key                                             what
==============================================  ===================================================================
``{P:budgets}:w:<scope>:<window>:<id>``         one budget window: spent and reserved atto-USD (hash)
``{P:budgets}:h:<hold id>``                     one reservation (a request's or a lease's): amount, state, windows
``{P:budgets}:expiry``                          reservations by expiry time (sorted set)
``{P:guard:<provider>}:b:<model>:rpm|tpm``      a rate-limit token bucket: level and last refill time (hash)
``{P:guard:<provider>}:holds``                  429 hold-offs: model -> deadline (hash)
``{P:guard:<provider>}:cb:<model>``             a model's circuit breaker (hash)
``{P:guard:<provider>}:open``                   models whose breaker is not closed (set)
``{P:bounds:<provider>}:w:<model>:<series>``    a prompt-bound window: ``<revision>:<value>`` entries (list)
``{P:bounds:<provider>}:s:<model>``             the model's series (set)
``{P:bounds:<provider>}:models|rev|epoch``      models by last push (sorted set), pushes, the calibration's id
==============================================  ===================================================================

All budgets share one slot, so a reservation across a key's, its team's and the gateway's budgets is one atomic
script; each provider's guard state is one slot (admission checks the breaker, the hold-off and both buckets in one
script), and its prompt-bound calibration another (:mod:`app.stores.bounds`). Names in keys come from
configuration (key names, team names, provider and model names); ``{`` and ``}`` in them are escaped so they can
never change the slot.

Errors: a connection failure, a timeout or an error reply becomes :class:`~app.errors.StoreUnavailableError` (the
URL's password never appears in it). Scripts are sent by SHA (``EVALSHA``) and loaded again when the server lost its
script cache (a restart), by redis-py's ``AsyncScript``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit, urlunsplit

from app.errors import ConfigurationError, StoreUnavailableError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisConnection", "escape_key_part", "redact_url"]

logger = logging.getLogger("costmux.stores")

_COMMON = "common.lua"  # helpers prepended to every script


def redact_url(url: str) -> str:
    """``url`` with its password (and user) replaced by ``***``: safe to log."""
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def escape_key_part(name: str) -> str:
    """A configuration name made safe inside a key: braces (the hash-tag markers) and ``%`` are escaped."""
    return name.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _script_text(name: str) -> str:
    """The script ``lua/<name>`` after ``common.lua`` and the files its ``--@include <file>`` lines name."""
    lua = resources.files("app.stores") / "lua"
    body = (lua / name).read_text(encoding="utf-8")
    parts = [(lua / _COMMON).read_text(encoding="utf-8")]
    for line in body.splitlines():
        if line.startswith("--@include "):
            parts.append((lua / line.removeprefix("--@include ").strip()).read_text(encoding="utf-8"))
    parts.append(body)
    return "\n".join(parts)


class RedisConnection:
    """One Redis client (created on first use) with the key layout and scripts of costmux.

    Args:
        url: ``redis://[:password@]host:port/db`` or ``rediss://...`` (TLS); never logged with its password.
        prefix: first part of every key (several deployments can share one Redis with different prefixes).
        cluster: talk to a Redis Cluster (``redis.asyncio.RedisCluster``) instead of one server.
        timeout_s: how long one command may take before the store counts as unavailable, seconds.
        connect_timeout_s: how long connecting may take, seconds.
        max_connections: size of the connection pool.
        client: a ready client to use instead (tests); it is not closed by :meth:`aclose`.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "costmux",
        cluster: bool = False,
        timeout_s: float = 1.0,
        connect_timeout_s: float = 1.0,
        max_connections: int = 200,
        client: Redis | None = None,
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigurationError(
                f"Redis URL must start with redis://, rediss:// or unix://, got {redact_url(url)!r}"
            )
        if not prefix or "{" in prefix or "}" in prefix:
            raise ConfigurationError("the Redis key prefix must be non-empty and contain no braces")
        self._url = url
        self.prefix = prefix
        self.cluster = cluster
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.max_connections = max_connections
        self._client = client
        self._owned = client is None
        self._scripts: dict[str, AsyncScript] = {}

    def __repr__(self) -> str:
        return f"RedisConnection({self.url!r}, prefix={self.prefix!r})"

    @property
    def url(self) -> str:
        """The URL without its password."""
        return redact_url(self._url)

    @property
    def client(self) -> Redis:
        """The ``redis.asyncio`` client (created on first use; connections open on the first command)."""
        if self._client is None:
            self._client = self._create()
        return self._client

    def _create(self) -> Redis:
        try:
            from redis.asyncio import Redis, RedisCluster
        except ImportError as exc:  # pragma: no cover - the redis extra is missing
            raise ConfigurationError(
                f"a Redis store needs the 'redis' extra (pip install 'costmux[redis]'): {exc}"
            ) from None
        options: dict[str, Any] = {
            "socket_timeout": self.timeout_s,
            "socket_connect_timeout": self.connect_timeout_s,
            "decode_responses": True,
            "max_connections": self.max_connections,
        }
        if self.cluster:  # the same command and script API as Redis
            return cast("Redis", RedisCluster.from_url(self._url, **options))
        return Redis.from_url(self._url, **options)

    def key(self, tag: str, *parts: str) -> str:
        """``{prefix:tag}:part:part...`` (each part escaped; the tag decides the cluster slot)."""
        return ":".join((f"{{{self.prefix}:{escape_key_part(tag)}}}", *(escape_key_part(p) for p in parts)))

    def _script(self, name: str) -> AsyncScript:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(_script_text(name))
        return script

    async def run(
        self, script: str, keys: Sequence[str], args: Sequence[str | int | float], *, store: str, operation: str
    ) -> Any:
        """Run the Lua script ``lua/<script>`` atomically.

        Raises:
            StoreUnavailableError: no connection, a timeout, or an error reply.
        """
        from redis.exceptions import RedisError

        try:
            return await self._script(script)(keys=list(keys), args=list(args))
        except RedisError as exc:
            raise StoreUnavailableError(
                f"Redis at {self.url} failed ({operation} of {store}): {type(exc).__name__}: "
                f"{redact_url(str(exc)) or 'no detail'}",
                store=store,
                operation=operation,
            ) from None
        except OSError as exc:  # a socket error not wrapped by redis-py
            raise StoreUnavailableError(
                f"Redis at {self.url} is unreachable ({operation} of {store}): {exc.strerror or exc}",
                store=store,
                operation=operation,
            ) from None

    async def ping(self) -> bool:
        """Whether Redis answers now (never raises)."""
        from redis.exceptions import RedisError

        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        """Close the client the connection created (a client given to it is left open)."""
        if self._client is not None and self._owned:
            await self._client.aclose()
            self._client = None
            self._scripts.clear()
