"""Shared state stores: what several gateway replicas must agree on, kept in Redis (or in memory for one process).

* :class:`RedisConnection`: one ``redis.asyncio`` client from a URL, the key layout (hash tags for Redis Cluster) and
  the Lua scripts every atomic operation runs as (:mod:`app.stores.redis_client`);
* :mod:`app.stores.guard_store`: rate-limit buckets, 429 hold-offs and circuit breakers of a provider's models
  (:class:`GuardStore`; :class:`MemoryGuardStore`, :class:`RedisGuardStore`).

Spend budgets keep their ledger in :mod:`app.budgets` (they belong to the gateway), on the same connection.
Nothing connects at import; ``redis`` itself is imported on first use (extra ``redis``).
"""

from app.stores.redis_client import RedisConnection, redact_url

__all__ = [
    "RedisConnection",
    "redact_url",
]
