"""The callback's settings (config over environment, checked at proxy start) and how a proxy request is read."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.errors import ConfigurationError, InvalidRequestError
from app.integrations.plugin_settings import PluginSettings
from app.integrations.proxy_requests import read_request


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COSTMUX_DEFAULT_STRATEGY", "COSTMUX_DEFAULT_MAX_COST", "COSTMUX_AUTO_EXCLUDE", "COSTMUX_BUDGET_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("COSTMUX_REDIS_URL", "COSTMUX_REDIS_PREFIX", "COSTMUX_REDIS_CLUSTER"):
        monkeypatch.delenv(name, raising=False)


def test_environment_then_config_by_field_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTMUX_DEFAULT_MAX_COST", "0.02")
    monkeypatch.setenv("COSTMUX_AUTO_EXCLUDE", "mock-gpt, llama-3-8b")
    from_env = PluginSettings.load(None)
    assert from_env.default_max_cost == Decimal("0.02")
    assert from_env.auto_exclude == frozenset({"mock-gpt", "llama-3-8b"})
    overridden = PluginSettings.load(
        {"default_max_cost": "0.5", "auto_exclude": ["gpt-4o"], "default_strategy": "heuristic"}
    )
    assert overridden.default_max_cost == Decimal("0.5")
    assert overridden.auto_exclude == frozenset({"gpt-4o"})
    assert overridden.default_strategy == "heuristic"


def test_strategy_options_build_each_strategy_once_with_its_options() -> None:
    settings = PluginSettings.load({"strategy_options": {"heuristic": {"default_share": 0.9}}})
    strategies = settings.strategies()
    assert strategies["heuristic"].default_share == 0.9  # type: ignore[attr-defined]
    assert set(strategies) >= {"heuristic", "cost_optimized"}


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"default_strategy": "cheapest-ever"}, "unknown routing strategy 'cheapest-ever'"),
        ({"strategy_options": {"nope": {}}}, "unknown routing strategy 'nope'"),
        (
            {"strategy_options": {"heuristic": {"default_share": 4}}},
            "strategy_options.heuristic: default_share must be a number in [0, 1]",
        ),
        ({"strategy_options": {"heuristic": {"colour": "red"}}}, "unexpected keyword argument 'colour'"),
        ({"strategy_options": {"cost_optimized": {"floor": {"base": 0.4}}}}, "strategy_options.cost_optimized"),
        ({"max_attempts": 0}, "max_attempts (COSTMUX_MAX_ATTEMPTS)"),
        ({"default_max_cost": "-1"}, "default_max_cost (COSTMUX_DEFAULT_MAX_COST)"),
        ({"budget_mode": "exact"}, "budget_mode (COSTMUX_BUDGET_MODE)"),
        ({"max_cots": 1}, "unknown costmux setting(s) max_cots"),
        ({"min_output_tokens": 500, "default_max_output_tokens": 100}, "min_output_tokens must not exceed"),
        ({"redis_url": "http://:hunter2@cache:6379"}, "Redis URL must start with redis://"),
        ({"redis_url": "redis://cache:6379", "redis_prefix": "a{b}"}, "prefix must be non-empty and contain no braces"),
    ],
)
def test_a_broken_setting_is_one_clear_configuration_error(config: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        PluginSettings.load(config)
    assert words in str(caught.value)


def test_a_redis_url_from_config_or_environment_is_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    assert PluginSettings.load(None).redis() is None
    assert PluginSettings.load({"redis_url": "  "}).redis_url is None  # empty: not set
    monkeypatch.setenv("COSTMUX_REDIS_URL", "redis://:hunter2@cache:6379/0")
    monkeypatch.setenv("COSTMUX_REDIS_PREFIX", "proxy-a")
    settings = PluginSettings.load(None)
    connection = settings.redis()
    assert connection is not None and connection.prefix == "proxy-a" and not connection.cluster
    assert "hunter2" not in repr(settings) and "hunter2" not in connection.url
    overridden = PluginSettings.load({"redis_url": "rediss://cache:6380", "redis_cluster": True}).redis()
    assert overridden is not None and overridden.cluster and overridden.url.startswith("rediss://cache:6380")


def test_a_bad_redis_url_never_shows_its_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        PluginSettings.load({"redis_url": "http://:hunter2@cache:6379"})
    assert "hunter2" not in str(caught.value) and "redis_url" in str(caught.value)


def test_settings_block_must_be_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="must be a mapping"):
        PluginSettings.load(["default_strategy"])  # type: ignore[arg-type]


def _read(data: dict[str, Any], *, cap_named: bool = False, default: Decimal | None = None) -> Any:
    return read_request(
        data,
        default_strategy="cost_optimized",
        strategies={"cost_optimized", "heuristic"},
        default_max_cost=default,
        cap_named_models=cap_named,
    )


def _data(model: str = "auto", **fields: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_auto_routes_and_named_models_pass_through_unless_capped() -> None:
    assert _read(_data()).strategy == "cost_optimized"
    assert _read(_data("auto:heuristic")).strategy == "heuristic"
    assert _read(_data("gpt-4o")) is None
    capped = _read(_data("gpt-4o"), cap_named=True)
    assert capped.strategy is None and capped.model == "gpt-4o"


def test_unknown_strategy_names_the_model_field() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        _read(_data("auto:fastest"))
    assert caught.value.param == "model"
    assert "auto:heuristic" in str(caught.value)


def test_max_cost_body_then_metadata_then_header_then_default() -> None:
    headers = {"proxy_server_request": {"headers": {"X-Max-Cost": " 0.4 "}}}
    assert _read(_data(max_cost=0.1, metadata={"max_cost": "0.2"}, **headers)).max_cost == Decimal("0.1")
    assert _read(_data(metadata={"max_cost": "0.2"}, **headers)).max_cost == Decimal("0.2")
    assert _read(_data(**headers)).max_cost == Decimal("0.4")
    assert _read(_data(), default=Decimal("0.7")).max_cost == Decimal("0.7")
    assert _read(_data()).max_cost is None


def test_quality_share_body_then_metadata_then_header_else_the_strategys() -> None:
    headers = {"proxy_server_request": {"headers": {"X-Quality-Share": " 0.8 "}}}
    assert _read(_data(quality_share=1, metadata={"quality_share": 0.5}, **headers)).quality_share == 1.0
    assert _read(_data(metadata={"quality_share": 0.5}, **headers)).quality_share == 0.5
    assert _read(_data(**headers)).quality_share == 0.8
    assert _read(_data(quality_share=0)).quality_share == 0.0
    assert _read(_data()).quality_share is None


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"quality_share": 1.5}, "quality_share"),
        ({"quality_share": "high"}, "quality_share"),
        ({"metadata": {"quality_share": True}}, "metadata.quality_share"),
        ({"proxy_server_request": {"headers": {"x-quality-share": "most"}}}, "x-quality-share"),
        ({"proxy_server_request": {"headers": {"x-quality-share": "-0.1"}}}, "x-quality-share"),
        ({"max_cost": -1}, "max_cost"),
        ({"max_cost": True}, "max_cost"),
        ({"max_cost": "NaN"}, "max_cost"),
        ({"metadata": {"max_cost": "lots"}}, "metadata.max_cost"),
        ({"proxy_server_request": {"headers": {"x-max-cost": "abc"}}}, "x-max-cost"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": "9"}, "max_completion_tokens"),
        ({"n": 2}, "n"),
        ({"messages": []}, "messages"),
    ],
)
def test_invalid_fields_are_named(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        _read(_data(**fields))
    assert caught.value.param == param


def test_the_smaller_token_limit_wins_and_both_fields_are_kept() -> None:
    request = _read(_data(max_tokens=300, max_completion_tokens=200))
    assert request.max_tokens == 200
    assert request.token_fields == ("max_tokens", "max_completion_tokens")
