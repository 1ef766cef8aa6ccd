"""Fixtures shared by every test directory: a real ``redis-server`` (started only by the tests that ask for it).

Without a ``redis-server`` binary the tests that need one are skipped, with how to install it; with
``COSTMUX_REQUIRE_REDIS=1`` (``.ci/run`` sets it) they fail instead, so CI always runs them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from app.sandbox.redis_server import RedisServer, RedisServerError, find_redis_server
from app.stores import RedisConnection

REQUIRE_REDIS_ENV = "COSTMUX_REQUIRE_REDIS"


def require_redis_server() -> str:
    """The ``redis-server`` binary's path. Without one: skip the calling test, or fail it when
    ``COSTMUX_REQUIRE_REDIS=1``. A binary that is there but does not start is never skipped (``RedisServer.start``
    raises)."""
    try:
        return find_redis_server()
    except RedisServerError as exc:
        missing = str(exc)
    if os.environ.get(REQUIRE_REDIS_ENV) == "1":
        pytest.fail(f"a real redis-server is required ({REQUIRE_REDIS_ENV}=1): {missing}", pytrace=False)
    pytest.skip(
        "needs a real redis-server, which is not installed: install it (Debian/Ubuntu: apt-get install "
        f"redis-server) to run the Redis tests; {REQUIRE_REDIS_ENV}=1 makes this a failure (as in CI)"
    )


@pytest.fixture
def redis_binary() -> str:
    """For tests that start their own ``RedisServer``: the binary's path, or skipped/failed as
    :func:`require_redis_server`."""
    return require_redis_server()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real ``redis-server`` for the session, on a free loopback port in a temporary directory. A missing
    binary skips the tests that use it (fails them when ``COSTMUX_REQUIRE_REDIS=1``, as ``.ci/run`` sets); a
    binary that does not start fails them."""
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except RedisServerError as exc:
        pytest.fail(f"a real redis-server is required: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


async def _emptied(server: RedisServer) -> RedisConnection:
    """A connection to ``server`` (started again if a test stopped it), its database emptied (``FLUSHDB``)."""
    if not server.running:
        server.start()
    connection = RedisConnection(server.url, prefix="costmux-test")
    await connection.client.flushdb()
    return connection


@pytest.fixture
async def redis_connection(redis_server: RedisServer) -> AsyncIterator[RedisConnection]:
    """A connection to the session's Redis, emptied first."""
    connection = await _emptied(redis_server)
    try:
        yield connection
    finally:
        await connection.aclose()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test on each store backend: ``memory`` and ``redis`` (a real redis-server)."""
    return str(request.param)


@pytest.fixture
async def backend_connection(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[RedisConnection | None]:
    """``None`` for the memory backend; for ``redis``, a connection to an emptied real Redis."""
    if backend == "memory":
        yield None
        return
    connection = await _emptied(request.getfixturevalue("redis_server"))
    try:
        yield connection
    finally:
        await connection.aclose()
