"""Shared state stores: what several gateway replicas must agree on, kept in Redis (or in memory for one process).

* :class:`RedisConnection`: one ``redis.asyncio`` client from a URL, the key layout (hash tags for Redis Cluster) and
  the Lua scripts every atomic operation runs as (:mod:`app.stores.redis_client`, scripts in ``app/stores/lua/``);
* :class:`~app.stores.batch.Coalescer`: concurrent calls of one kind sent as one script call;
* :class:`~app.stores.link.StoreLink`: a local mirror's link to its shared store (background work, periodic sync,
  degraded mode while the store is unreachable);
* :class:`~app.stores.bounds.RedisBoundStore`: the prompt-bound calibration (:mod:`app.tokens.learning`) shared by
  replicas, a mirror of it behind the learner's synchronous store interface.

The other stores sit with what uses them: rate-limit buckets, 429 hold-offs and circuit breakers in
:mod:`app.providers.guard_store` (below the router, as providers are), spend budgets in :mod:`app.budgets.store`
(the gateway's side). Each has a memory twin with the same semantics.
Nothing connects at import; ``redis`` itself is imported on first use (extra ``redis``).
"""

from app.stores.redis_client import RedisConnection, redact_url

__all__ = [
    "RedisConnection",
    "redact_url",
]
