"""Fixtures shared by every test directory: a real ``redis-server`` (started only by the tests that ask for it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from app.sandbox.redis_server import RedisServer, RedisServerError
from app.stores import RedisConnection


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real ``redis-server`` for the session, on a free loopback port in a temporary directory. A missing
    binary FAILS the test (never skips): ``.ci/run`` installs it."""
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
