"""ProxyDeployments: the proxy's router read in process as a costmux provider."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.errors import ConfigurationError
from app.events import HealthChanged
from app.integrations.deployments import ProxyDeployments

from .conftest import FakeProxyRouter, deployment, standard_models


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_groups_get_the_spec_an_http_sync_would_give() -> None:
    provider = ProxyDeployments()
    provider.sync(FakeProxyRouter(standard_models()))
    assert provider.get_supported_models() == ["gpt-4o", "gpt-4o-mini", "claude-3-haiku", "mystery"]
    mini = provider.get_model_spec("gpt-4o-mini")
    assert mini is not None and mini.pricing is not None
    assert mini.pricing.input_usd_per_token == Decimal("1.5e-7")
    assert mini.max_output_tokens == 16384 and mini.context_window_tokens == 128000
    assert mini.quality is not None  # the bundled catalog fills in quality
    haiku = provider.get_model_spec("claude-3-haiku")
    assert haiku is not None and haiku.quality is not None  # found through its LiteLLM model name
    mystery = provider.get_model_spec("mystery")
    assert mystery is not None and mystery.pricing is None  # unpriced: never routed as free


def test_several_deployments_of_a_group_are_bounded_safely_and_known_one_by_one() -> None:
    provider = ProxyDeployments()
    provider.sync(
        FakeProxyRouter(
            [
                deployment("gpt-4o", "openai/gpt-4o", 2.5e-6, 1e-5, model_id="a", window=128000, rpm=100),
                deployment("gpt-4o", "azure/gpt-4o", 3e-6, 1.2e-5, model_id="b", window=64000, rpm=50),
            ]
        )
    )
    spec = provider.get_model_spec("gpt-4o")
    assert spec is not None and spec.pricing is not None
    assert spec.pricing.output_usd_per_token == Decimal("1.2e-5")  # the highest price
    assert spec.context_window_tokens == 64000  # the smallest window
    assert spec.rate_limits.requests_per_minute == 150  # summed
    first, second = provider.deployment("a"), provider.deployment("b")
    assert first is not None and second is not None and first.pricing is not None and second.pricing is not None
    assert (first.group, first.pricing.output_usd_per_token) == ("gpt-4o", Decimal("1e-5"))
    assert second.pricing.output_usd_per_token == Decimal("1.2e-5")
    assert provider.deployment("c") is None and provider.deployment(None) is None


def test_the_router_is_reread_only_when_it_may_have_changed() -> None:
    clock = Clock()
    router = FakeProxyRouter(standard_models())
    provider = ProxyDeployments(refresh_s=30.0, clock=clock)
    assert provider.sync(router) is True
    version, reads = provider.models_version, router.reads
    assert provider.sync(router) is False
    assert router.reads == reads  # the fingerprint matched: nothing read
    router.model_list.append(deployment("gpt-4.1", "openai/gpt-4.1", 2e-6, 8e-6))
    assert provider.sync(router) is True  # a deployment added (the list grew)
    assert "gpt-4.1" in provider.get_supported_models() and provider.models_version > version
    router.model_list[0]["model_info"]["input_cost_per_token"] = 5e-6  # edited in place
    assert provider.sync(router) is False  # not seen before refresh_s
    clock.now = 31.0
    assert provider.sync(router) is True
    spec = provider.get_model_spec("gpt-4o")
    assert spec is not None and spec.pricing is not None and spec.pricing.input_usd_per_token == Decimal("5e-6")
    clock.now = 62.0
    version = provider.models_version
    assert provider.sync(router) is False  # re-read, unchanged: the version stays
    assert provider.models_version == version


def test_no_secret_of_a_deployment_is_kept() -> None:
    provider = ProxyDeployments()
    provider.sync(FakeProxyRouter(standard_models()))
    assert "sk-upstream-secret" not in repr(provider._entries)  # the upstream key is never read


def test_an_invalid_price_names_the_deployment() -> None:
    with pytest.raises(ConfigurationError, match="gpt-4o"):
        ProxyDeployments().sync(FakeProxyRouter([deployment("gpt-4o", "openai/gpt-4o", -1.0, 1e-5)]))


def test_a_group_is_unavailable_while_all_its_deployments_cool_down_and_health_is_reported() -> None:
    provider = ProxyDeployments()
    provider.sync(
        FakeProxyRouter(
            [
                deployment("gpt-4o", "openai/gpt-4o", 2.5e-6, 1e-5, model_id="a"),
                deployment("gpt-4o", "azure/gpt-4o", 2.5e-6, 1e-5, model_id="b"),
                deployment("gpt-4o-mini", "openai/gpt-4o-mini", 1.5e-7, 6e-7, model_id="m"),
            ]
        )
    )
    seen: list[object] = []
    provider.events.subscribe(seen.append)
    provider.set_cooling(["a", "m"])
    assert dict(provider.unavailable_models(100)) == {
        "gpt-4o-mini": ("unhealthy", "all 1 of its deployments are cooling down in LiteLLM")
    }  # gpt-4o still has a deployment
    provider.set_cooling(["a", "b"])
    assert set(provider.unavailable_models(100)) == {"gpt-4o"}
    assert provider.model_availability("gpt-4o", 100) is not None
    provider.set_cooling([])
    assert not provider.unavailable_models(100)
    assert seen == [
        HealthChanged("litellm", "gpt-4o-mini", "open", 0.0),
        HealthChanged("litellm", "gpt-4o-mini", "closed", 0.0),
        HealthChanged("litellm", "gpt-4o", "open", 0.0),
        HealthChanged("litellm", "gpt-4o", "closed", 0.0),
    ]


async def test_it_describes_models_and_never_sends() -> None:
    provider = ProxyDeployments()
    await provider.ensure_model_info()
    with pytest.raises(ConfigurationError, match="LiteLLM sends"):
        await provider.chat_completion([{"role": "user", "content": "hi"}], "gpt-4o")
