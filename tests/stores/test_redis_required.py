"""Without a ``redis-server`` binary the Redis tests skip, saying how to install it; ``COSTMUX_REQUIRE_REDIS=1``
(``.ci/run``) makes them fail instead; with one they run."""

from __future__ import annotations

import pytest

import tests.conftest as shared
from app.sandbox.redis_server import RedisServerError


def _missing() -> str:
    raise RedisServerError("redis-server is not installed (Debian: apt-get install -y redis-server)")


def test_a_missing_binary_skips_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "find_redis_server", _missing)
    monkeypatch.delenv(shared.REQUIRE_REDIS_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        shared.require_redis_server()


def test_a_missing_binary_fails_when_redis_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "find_redis_server", _missing)
    monkeypatch.setenv(shared.REQUIRE_REDIS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="COSTMUX_REQUIRE_REDIS=1"):
        shared.require_redis_server()


def test_a_binary_that_is_there_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared, "find_redis_server", lambda: "/opt/redis/bin/redis-server")
    monkeypatch.setenv(shared.REQUIRE_REDIS_ENV, "1")
    assert shared.require_redis_server() == "/opt/redis/bin/redis-server"
