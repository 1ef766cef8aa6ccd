"""Replicas of the real LiteLLM proxy 1.106.2 with the costmux callback sharing a real redis-server (``redis_url``):
what one replica was billed widens the prompt bound another one checks the cap with, before that one has seen any
bill; Redis going down leaves each replica routing alone (logged, counted on ``costmux_store_errors_total``) and
they share again once it is back; a Redis URL of the wrong form stops the proxy at start with one clear message."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from app.sandbox import FakeUpstream, LiteLLMProxy, ProxyStartError, default_test_models
from app.sandbox.redis_server import RedisServer
from app.tokens import PRIORS, TEXT_GROUPS, count_prompt_tokens, family_counts, resolve_family

from .conftest import PLUGIN_SETTINGS
from .test_plugin_proxy import _eventually, _metric

BILLED_OVER = "[bills-1.3x]"  # a prompt the upstream bills 1.3 x costmux's estimate of it (under the model's family)
TEXT = f"{BILLED_OVER} Summarise the release notes of a small library in plain words. " * 6
CAP = 0.0001


def _bill_over(messages: list[dict[str, Any]], model: str) -> int | None:
    if not any(BILLED_OVER in str(m.get("content")) for m in messages):
        return None
    family = resolve_family((model,)).family
    return math.ceil(1.3 * family_counts(count_prompt_tokens(messages), PRIORS[family]).estimate_tokens)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    server = FakeUpstream(prompt_tokens=_bill_over, completion_tokens=lambda messages, model: 5).start()
    yield server
    server.stop()


def _proxy(upstream: FakeUpstream, tmp_path: Any, name: str, **settings: Any) -> LiteLLMProxy:
    from app.integrations.litellm_proxy import managed_proxy_options

    return LiteLLMProxy(
        default_test_models(upstream.base_url),
        log_path=tmp_path / f"{name}.log",
        router_settings={"num_retries": 0},
        startup_timeout_s=90.0,
        **managed_proxy_options({**PLUGIN_SETTINGS, **settings}),
    )


@pytest.fixture(scope="module")
def replicas(
    redis: RedisServer, upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiteLLMProxy, LiteLLMProxy]]:
    """Two proxies with the callback, sharing ``redis`` (their own key prefix)."""
    tmp = tmp_path_factory.mktemp("plugin-replicas")
    shared = {"redis_url": redis.url, "redis_prefix": "plugin-replicas"}
    first, second = _proxy(upstream, tmp, "a", **shared), _proxy(upstream, tmp, "b", **shared)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        second.stop()
        first.stop()


def _ask(proxy: LiteLLMProxy, content: str, max_cost: float = CAP) -> Any:
    with openai.OpenAI(base_url=f"{proxy.base_url}/v1", api_key=proxy.master_key, max_retries=0) as client:
        return client.chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": content}],
            extra_body={"max_cost": max_cost},  # type: ignore[arg-type]
        )


def _refused(proxy: LiteLLMProxy) -> None:
    """A request refused before any upstream call (it reads the calibration, so a due sync starts; nothing billed)."""
    with pytest.raises(openai.APIStatusError) as caught:
        _ask(proxy, TEXT, max_cost=0)
    assert caught.value.status_code == 402


def _planned(proxy: LiteLLMProxy, wait_s: float, below: int) -> int:
    """The ``max_tokens`` ``proxy`` plans for ``TEXT`` once it is below ``below`` (or after ``wait_s``): each try is a
    refused request first (a sync starts), then, a sync interval later, the real one."""
    deadline = time.monotonic() + wait_s
    while True:
        _refused(proxy)
        time.sleep(1.2)  # the shared store's sync interval is 1 s
        planned = int(_ask(proxy, TEXT).headers["x-costmux-max-tokens"])
        if planned < below or time.monotonic() > deadline:
            return planned


def test_a_replica_checks_the_cap_with_what_another_replica_was_billed(
    replicas: tuple[LiteLLMProxy, LiteLLMProxy],
) -> None:
    teacher, learner = replicas
    first = _ask(teacher, TEXT)
    model, fresh = first.headers["x-costmux-model"], int(first.headers["x-costmux-max-tokens"])
    messages = [{"role": "user", "content": TEXT}]
    counts = family_counts(count_prompt_tokens(messages), PRIORS[resolve_family((model,)).family])
    billed = first.parse().usage.prompt_tokens
    assert billed == _bill_over(messages, model) > counts.upper_tokens  # the premise
    factor = _eventually(
        lambda: _metric(teacher, "costmux_prompt_bound_factor", model=model, group=TEXT_GROUPS[counts.group]),
        billed / counts.estimate_tokens,
    )
    assert factor == pytest.approx(billed / counts.estimate_tokens)
    widened = int(_ask(teacher, TEXT).headers["x-costmux-max-tokens"])
    assert widened < fresh  # the teacher's own bound widened

    # the other replica has seen no bill of its own: its plan narrows only through Redis
    assert _metric(learner, "costmux_prompt_bound_factor", model=model, group=TEXT_GROUPS[counts.group]) == 0
    planned = _planned(learner, wait_s=10.0, below=fresh)
    assert planned == widened


def test_redis_down_each_replica_routes_alone_and_shares_again_when_it_is_back(
    replicas: tuple[LiteLLMProxy, LiteLLMProxy], redis: RedisServer
) -> None:
    teacher, _ = replicas
    failures_before = _metric(teacher, "costmux_store_errors_total", store="prompt_bounds", outcome="fallback")
    redis.stop(remove=False)
    try:
        for _ in range(3):  # routed and answered while Redis is down; the answers are learned locally
            answer = _ask(teacher, TEXT)
            assert answer.headers["x-costmux-model"] and answer.parse().choices[0].message.content
            time.sleep(0.6)
        failures = _eventually(
            lambda: _metric(teacher, "costmux_store_errors_total", store="prompt_bounds", outcome="fallback"),
            failures_before + 1,
        )
        assert failures > failures_before
        log = teacher.log_path.read_text() if teacher.log_path is not None else ""
        assert "unavailable, using this process's own state" in log
    finally:
        redis.start()
    failures_down = _metric(teacher, "costmux_store_errors_total", store="prompt_bounds", outcome="fallback")
    time.sleep(1.5)  # past the retry interval: the next sync reaches Redis again
    for _ in range(3):
        _ask(teacher, TEXT)
        time.sleep(0.5)
    assert _metric(teacher, "costmux_store_errors_total", store="prompt_bounds", outcome="fallback") == failures_down


def test_a_redis_url_of_the_wrong_form_stops_the_proxy_at_start(upstream: FakeUpstream, tmp_path: Any) -> None:
    proxy = _proxy(upstream, tmp_path, "bad", redis_url="http://:hunter2@127.0.0.1:6379")
    with pytest.raises(ProxyStartError) as caught:
        proxy.start()
    message = str(caught.value)
    assert "invalid costmux Redis setting" in message and "Redis URL must start with redis://" in message
    assert "hunter2" not in message
    assert not proxy.running


def test_what_a_replica_learned_just_before_it_stops_still_reaches_redis(
    redis: RedisServer, upstream: FakeUpstream, tmp_path: Any
) -> None:
    import redis as redis_client

    proxy = _proxy(upstream, tmp_path, "stopping", redis_url=redis.url, redis_prefix="plugin-shutdown")
    proxy.start()
    try:
        answer = _ask(proxy, TEXT)
        model = answer.headers["x-costmux-model"]
        messages = [{"role": "user", "content": TEXT}]
        counts = family_counts(count_prompt_tokens(messages), PRIORS[resolve_family((model,)).family])
        group = TEXT_GROUPS[counts.group]
        deadline = time.monotonic() + 5.0
        while _metric(proxy, "costmux_prompt_bound_factor", model=model, group=group) == 0:  # learned, not pushed
            assert time.monotonic() < deadline, "the answer was never learned"
            time.sleep(0.01)
    finally:
        proxy.stop()  # at once: well within the 0.25 s a learned value waits before it is pushed
    with redis_client.Redis.from_url(redis.url) as client:
        windows = [key for key in client.scan_iter("*plugin-shutdown*") if b":w:" in key]
        assert windows and all(client.llen(key) >= 1 for key in windows)
        assert any(model.encode() in key for key in windows)
