"""Integration fixtures: one fake OpenAI-compatible upstream and one real LiteLLM proxy per test session.

Every test under this directory is marked ``proxy``. If the proxy cannot be found or started, the fixture
FAILS (never skips): CI must not pass without exercising the real proxy.
Tests marked ``stops_proxy`` (they stop the session proxy) are moved to the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.sandbox import FakeUpstream, LiteLLMProxy, default_test_models
from app.sandbox.redis_server import RedisServer
from tests.conftest import require_redis_server

_HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def redis(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real ``redis-server`` of the test module's own (its tests may stop and start it), not the session's."""
    require_redis_server()
    name = request.module.__name__.rsplit(".", 1)[-1]
    server = RedisServer(tmp_path_factory.mktemp(f"{name}-redis")).start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stops_proxy: stops the session LiteLLM proxy; run after every other test")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(_HERE):
            item.add_marker(pytest.mark.proxy)
    # Stable sort: tests that stop the shared proxy go last, the others keep their order.
    items.sort(key=lambda item: item.get_closest_marker("stops_proxy") is not None)


@pytest.fixture(scope="session")
def fake_upstream() -> Iterator[FakeUpstream]:
    """A started :class:`FakeUpstream` shared by the session (the proxy's models point at it)."""
    upstream = FakeUpstream().start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="session")
def litellm_proxy(fake_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    """A started real LiteLLM proxy serving :func:`default_test_models` (started once per session)."""
    log_path = tmp_path_factory.mktemp("litellm-proxy") / "proxy.log"
    proxy = LiteLLMProxy(default_test_models(fake_upstream.base_url), log_path=log_path)
    error: str | None = None
    try:
        proxy.start()
    except Exception as exc:  # LiteLLMNotFoundError, ProxyStartError, OSError, ...
        error = f"{type(exc).__name__}: {exc}"
    if error is not None:
        pytest.fail(f"the real LiteLLM proxy is required but did not start: {error}", pytrace=False)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def proxy_client(litellm_proxy: LiteLLMProxy) -> Iterator[httpx.Client]:
    """A sync httpx client for the proxy, authenticated with its master key."""
    with httpx.Client(
        base_url=litellm_proxy.base_url,
        headers={"Authorization": f"Bearer {litellm_proxy.master_key}"},
        timeout=30.0,
        trust_env=False,
    ) as client:
        yield client


#: A marker in a prompt that makes the plugin proxy's upstream answer as long as ``max_tokens`` allows (so an attempt
#: bills its worst case).
BILL_MAX = "[bill-max]"
#: Settings of the session's plugin proxy (models the tests route over: gpt-4o, gpt-4o-mini, claude-3-haiku).
PLUGIN_SETTINGS = {"auto_exclude": ["llama-3-8b", "mock-gpt"]}


def _plugin_completion_tokens(messages: list[dict[str, object]], model: str) -> int | None:
    return 10**6 if any(BILL_MAX in str(message.get("content")) for message in messages) else None


@pytest.fixture(scope="session")
def plugin_upstream() -> Iterator[FakeUpstream]:
    """The upstream of the plugin proxy (its own: tests inject faults into it), recording every answer's usage."""
    upstream = FakeUpstream(record_usage=True, completion_tokens=_plugin_completion_tokens).start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="session")
def plugin_proxy(plugin_upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteLLMProxy]:
    """A real LiteLLM proxy with the costmux callback in its config (started once per session; LiteLLM's own retries
    off, so a fault goes straight to costmux's fallbacks unless a test asks for retries)."""
    from app.integrations.litellm_proxy import managed_proxy_options

    log_path = tmp_path_factory.mktemp("plugin-proxy") / "proxy.log"
    proxy = LiteLLMProxy(
        default_test_models(plugin_upstream.base_url),
        log_path=log_path,
        router_settings={"num_retries": 0},
        **managed_proxy_options(PLUGIN_SETTINGS),
    )
    try:
        proxy.start()
    except Exception as exc:
        pytest.fail(f"the LiteLLM proxy with the costmux callback did not start: {exc}", pytrace=False)
    try:
        yield proxy
    finally:
        proxy.stop()
