"""ProviderRegistry: register / unregister by name; routers read it (or a plain dict) at each call."""

from __future__ import annotations

import logging

import pytest

from app.errors import ConfigurationError, InvalidRequestError, NoModelAvailableError
from app.providers import LiteLLMProvider, ProviderRegistry
from app.router import CostOptimizedRouter

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


def provider(name: str, model: str, input_per_1m: float) -> LiteLLMProvider:
    custom = {model: {"pricing": {"input_per_1m": input_per_1m, "output_per_1m": input_per_1m}}}
    return LiteLLMProvider("http://proxy.invalid:4000", "k", custom_models=custom, catalog=None, name=name)


def test_register_and_unregister_by_name() -> None:
    registry = ProviderRegistry()
    first = provider("first", "model-a", 1)
    assert registry.register(first) == "first"
    assert registry.register(provider("x", "model-b", 2), name="second") == "second"
    assert list(registry) == ["first", "second"] and len(registry) == 2 and registry["first"] is first
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register(provider("first", "model-c", 3))
    replacement = provider("first", "model-c", 3)
    registry.register(replacement, replace=True)
    assert registry["first"] is replacement
    assert registry.unregister("first") is replacement
    assert list(registry) == ["second"]
    with pytest.raises(ConfigurationError, match="no provider named 'first'"):
        registry.unregister("first")
    assert repr(registry) == "ProviderRegistry(['second'])"


def test_a_registry_refuses_what_is_not_a_provider() -> None:
    registry = ProviderRegistry()
    with pytest.raises(ConfigurationError, match="does not implement the Provider interface"):
        registry.register(object(), name="thing")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="non-empty name"):
        registry.register(provider("", "m", 1))


def test_a_router_reads_its_registry_at_each_call() -> None:
    registry = ProviderRegistry()
    router = CostOptimizedRouter(providers=registry)
    registry.register(provider("pricey", "big-model", 10))
    assert router.select_model(MESSAGES, max_cost=0.01)[:2] == ("pricey", "big-model")
    registry.register(provider("cheap", "small-model", 0.1))
    assert router.select_model(MESSAGES, max_cost=0.01)[:2] == ("cheap", "small-model")
    registry.unregister("cheap")
    assert router.select_model(MESSAGES, max_cost=0.01)[:2] == ("pricey", "big-model")
    registry.unregister("pricey")
    with pytest.raises(InvalidRequestError, match="at least one provider"):
        router.select_model(MESSAGES, max_cost=0.01)


def test_a_plain_dict_still_works_and_a_call_may_override_the_routers_providers() -> None:
    cheap = provider("cheap", "small-model", 0.1)
    router = CostOptimizedRouter(providers={"pricey": provider("pricey", "big-model", 10)})
    assert router.select_model(MESSAGES, {"cheap": cheap})[:2] == ("cheap", "small-model")
    assert router.select_model(MESSAGES)[:2] == ("pricey", "big-model")
    with pytest.raises(InvalidRequestError, match="no providers"):
        CostOptimizedRouter().select_model(MESSAGES)
    with pytest.raises(NoModelAvailableError):
        router.select_model(MESSAGES, exclude=("big-model",))


def test_watchers_hear_of_every_registration_and_removal(caplog: pytest.LogCaptureFixture) -> None:
    registry = ProviderRegistry()
    heard: list[tuple[str, str, LiteLLMProvider]] = []

    def watcher(change: str, name: str, provider: LiteLLMProvider) -> None:
        heard.append((change, name, provider))

    def broken(change: str, name: str, provider: LiteLLMProvider) -> None:
        raise RuntimeError("watcher bug")

    registry.watch(watcher)
    registry.watch(watcher)  # a no-op
    registry.watch(broken)  # logged, never raised: the change is made
    first, second = provider("first", "a", 1), provider("first", "b", 2)
    with caplog.at_level(logging.ERROR, logger="costmux.providers"):
        registry.register(first)
        registry.register(second, replace=True)
        registry.unregister("first")
    assert heard == [
        ("registered", "first", first),
        ("unregistered", "first", first),
        ("registered", "first", second),
        ("unregistered", "first", second),
    ]
    assert "registry watcher" in caplog.text and len(registry) == 0
    registry.unwatch(watcher)
    registry.unwatch(broken)
    registry.unwatch(broken)  # unknown: ignored
    registry.register(first)
    assert len(heard) == 4
