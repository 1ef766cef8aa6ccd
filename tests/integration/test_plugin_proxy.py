"""The costmux callback inside the real LiteLLM proxy 1.106.2 (``plugin_proxy``), driven by the official ``openai``
client: ``model="auto"`` routed under ``max_cost``, streamed and not, refused when nothing fits, failing models
falling back within the cap, the metrics on the proxy's own ``/metrics``; bills over costmux's estimate widen the
prompt bound the callback checks the cap with, and the cap still holds.

"Billed" is what the upstream generated, from its usage log (every answer it produced, also those LiteLLM gave up
waiting for), at the deployments' prices: the cap holds on that, not only on costmux's own accounting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.sandbox import FakeUpstream, LiteLLMProxy, ProxyStartError, default_test_models
from app.sandbox.upstream import Fault, request_key
from app.tokens import PRIORS, TEXT_GROUPS, count_prompt_tokens, family_counts, resolve_family

from .conftest import BILL_MAX

ROUTED = {"gpt-4o", "gpt-4o-mini", "claude-3-haiku"}  # the models auto may use (llama-3-8b, mock-gpt are excluded)
PRICES = {
    model.litellm_model.split("/", 1)[1]: (
        Decimal(repr(model.input_cost_per_token)),
        Decimal(repr(model.output_cost_per_token)),
    )
    for model in default_test_models("http://unused")
}


@pytest.fixture
def client(plugin_proxy: LiteLLMProxy) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{plugin_proxy.base_url}/v1", api_key=plugin_proxy.master_key, max_retries=0, timeout=30.0
    ) as openai_client:
        yield openai_client


@pytest.fixture(autouse=True)
def _no_leftover_faults(plugin_upstream: FakeUpstream) -> Iterator[None]:
    plugin_upstream.clear_faults()
    yield
    plugin_upstream.clear_faults()


def _messages(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def _billed(upstream: FakeUpstream, messages: list[dict[str, str]], answers: int, wait_s: float = 6.0) -> Decimal:
    """What the upstream generated for ``messages`` (waiting for ``answers`` answers), USD."""
    key = request_key(messages, "")
    deadline = time.monotonic() + wait_s
    while True:
        entries = [entry for entry in list(upstream.usage_log) if entry[0] == key]
        if len(entries) >= answers or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(entries) == answers, entries
    return sum(
        (PRICES[model][0] * prompt + PRICES[model][1] * completion for _, model, prompt, completion in entries),
        Decimal(0),
    )


def _metric(proxy: LiteLLMProxy, name: str, **labels: str) -> float:
    """One sample of the proxy's ``/metrics`` (0 when absent)."""
    headers = {"Authorization": f"Bearer {proxy.master_key}"}  # the proxy's /metrics asks for a key by default
    text = httpx.get(f"{proxy.base_url}/metrics/", headers=headers, timeout=10.0, follow_redirects=True).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def _eventually(read: Any, expected: float, wait_s: float = 5.0) -> float:
    """``read()`` once it equals ``expected`` (LiteLLM logs successes in the background), or its last value."""
    deadline = time.monotonic() + wait_s
    value = read()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return float(value)


def test_auto_is_routed_within_the_cap(client: openai.OpenAI, plugin_upstream: FakeUpstream) -> None:
    messages = _messages("What is the capital of France?")
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=messages,
        extra_body={"max_cost": 0.001},  # type: ignore[arg-type]
    )
    completion = raw.parse()
    headers = raw.headers
    assert completion.choices[0].message.content
    assert headers["x-costmux-model"] in ROUTED
    assert headers["x-costmux-model"] == headers["x-litellm-model-group"]  # LiteLLM served costmux's choice
    assert headers["x-costmux-strategy"] == "cost_optimized"
    assert Decimal(headers["x-costmux-worst-case-cost"]) <= Decimal("0.001")
    assert Decimal(headers["x-costmux-cost"]) == Decimal(headers["x-litellm-response-cost"])
    assert _billed(plugin_upstream, messages, answers=1) <= Decimal("0.001")


def test_a_strategy_is_named_in_the_model(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="auto:heuristic",
        messages=_messages("Write a Python function that merges two sorted lists into one sorted list."),  # type: ignore[arg-type]
        extra_body={"max_cost": 0.01},
    )
    assert raw.headers["x-costmux-strategy"] == "heuristic"
    assert raw.headers["x-costmux-model"] in ROUTED


def test_the_cap_from_metadata_or_header(client: openai.OpenAI) -> None:
    from_metadata = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=_messages("Name a prime number."),
        metadata={"max_cost": "0.0005"},  # type: ignore[arg-type]
    )
    assert from_metadata.headers["x-costmux-max-cost"] == "0.0005"
    from_header = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=_messages("Name an even number."),
        extra_headers={"x-max-cost": "0.0007"},  # type: ignore[arg-type]
    )
    assert from_header.headers["x-costmux-max-cost"] == "0.0007"


def test_a_request_sets_its_own_cost_quality_knob(client: openai.OpenAI) -> None:
    messages = _messages("Explain step by step how a hash map handles collisions, with a worked example.")

    def routed(**options: Any) -> Any:
        return client.chat.completions.with_raw_response.create(model="auto", messages=messages, **options).headers

    cheapest = routed(extra_body={"max_cost": 0.01, "quality_share": 0})
    best = routed(extra_body={"max_cost": 0.01}, extra_headers={"x-quality-share": "1"})
    assert cheapest["x-costmux-quality-share"] == "0.0" and best["x-costmux-quality-share"] == "1.0"
    assert cheapest["x-costmux-model"] == "gpt-4o-mini"  # any quality will do: the cheapest
    assert best["x-costmux-model"] != "gpt-4o-mini" and best["x-costmux-model"] in ROUTED
    with pytest.raises(openai.BadRequestError) as caught:
        routed(extra_body={"max_cost": 0.01, "quality_share": 2})
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "quality_share"


def test_a_stream_is_routed_and_its_cost_counted(
    client: openai.OpenAI, plugin_proxy: LiteLLMProxy, plugin_upstream: FakeUpstream
) -> None:
    messages = _messages("Tell me a short story about a lighthouse keeper.")
    before = _metric(plugin_proxy, "costmux_request_duration_seconds_count", stream="true")
    with client.chat.completions.with_streaming_response.create(
        model="auto",
        messages=messages,
        stream=True,
        extra_body={"max_cost": 0.002},  # type: ignore[arg-type]
    ) as response:
        model = response.headers["x-costmux-model"]
        chunks = list(response.parse())
    assert model in ROUTED
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert all(chunk.usage is None for chunk in chunks)  # costmux asked for usage; the client did not get it
    assert (
        _eventually(lambda: _metric(plugin_proxy, "costmux_request_duration_seconds_count", stream="true"), before + 1)
        == before + 1
    )
    assert _metric(plugin_proxy, "costmux_cost_usd_total", model=model) > 0  # priced from the stream's usage
    assert _billed(plugin_upstream, messages, answers=1) <= Decimal("0.002")


def test_nothing_fits_is_refused_before_any_provider_is_called(
    client: openai.OpenAI, plugin_upstream: FakeUpstream
) -> None:
    messages = _messages("Summarize the history of the Roman empire in detail. " * 40)
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(
                model="auto",
                messages=messages,
                stream=stream,
                extra_body={"max_cost": 0.0000001},  # type: ignore[arg-type]
            )
        error = caught.value
        assert error.status_code == 402
        body = error.body
        assert isinstance(body, dict)
        assert body["type"] == "budget_exceeded" and body["param"] == "max_cost"
        fields = body["provider_specific_fields"]
        assert fields["costmux_code"] == "budget_exceeded" and fields["max_cost"] == "0.0000001"
        assert Decimal(fields["cheapest_cost"]) > Decimal("0.0000001")
        assert error.response.headers["x-costmux-max-cost"] == "0.0000001"
    assert _billed(plugin_upstream, messages, answers=0, wait_s=0) == 0


def test_an_invalid_cap_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="auto",
            messages=_messages("hi"),
            extra_headers={"x-max-cost": "a lot"},  # type: ignore[arg-type]
        )
    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "x-max-cost" and body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="unknown routing strategy"):
        client.chat.completions.create(model="auto:fastest", messages=_messages("hi"))  # type: ignore[arg-type]


def _first_choice(client: openai.OpenAI, text: str, max_cost: float) -> str:
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=_messages(text),
        extra_body={"max_cost": max_cost},  # type: ignore[arg-type]
    )
    return raw.headers["x-costmux-model"]


def test_a_failing_model_falls_back_within_the_cap(
    client: openai.OpenAI, plugin_proxy: LiteLLMProxy, plugin_upstream: FakeUpstream
) -> None:
    text = f"What is the boiling point of water at sea level? {BILL_MAX}"
    first = _first_choice(client, f"{text} (probe)", 0.003)
    fallbacks = _metric(plugin_proxy, "costmux_fallbacks_total", model=first, error="unavailable")
    failures = _metric(plugin_proxy, "costmux_requests_total", model=first, outcome="unavailable")
    plugin_upstream.inject_fault(Fault(status=500, model=first))
    messages = _messages(text)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=messages,
        extra_body={"max_cost": 0.003},  # type: ignore[arg-type]
    )
    headers = raw.headers
    assert headers["x-costmux-model"] != first and headers["x-costmux-model"] == headers["x-litellm-model-group"]
    assert headers["x-costmux-fallbacks"] == "1"
    assert Decimal(headers["x-costmux-cost"]) <= Decimal("0.003")
    assert _billed(plugin_upstream, messages, answers=1) <= Decimal("0.003")  # the 500 generated nothing
    assert _metric(plugin_proxy, "costmux_fallbacks_total", model=first, error="unavailable") == fallbacks + 1
    assert _metric(plugin_proxy, "costmux_requests_total", model=first, outcome="unavailable") == failures + 1


def test_an_unanswered_attempt_leaves_the_fallback_only_what_is_left(
    client: openai.OpenAI, plugin_upstream: FakeUpstream
) -> None:
    text = f"Explain why the sky is blue. {BILL_MAX}"
    cap = 0.012  # the first choice may generate its whole output (~$0.0098), the fallback only the rest
    first = _first_choice(client, f"{text} (probe)", cap)
    plugin_upstream.inject_fault(Fault(kind="delay", delay_s=3.0, model=first))  # LiteLLM stops waiting after 1 s
    messages = _messages(text)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=messages,
        extra_body={"max_cost": cap, "timeout": 1},  # type: ignore[arg-type]
    )
    headers = raw.headers
    assert headers["x-costmux-model"] != first and headers["x-costmux-fallbacks"] == "1"
    assert Decimal(headers["x-costmux-cost"]) <= Decimal(str(cap))
    # the timed-out attempt was generated anyway, to its max_tokens: both together still fit the cap
    assert _billed(plugin_upstream, messages, answers=2) <= Decimal(str(cap))


def test_no_room_left_after_an_unanswered_attempt_answers_its_error(
    client: openai.OpenAI, plugin_upstream: FakeUpstream
) -> None:
    text = f"Describe the water cycle. {BILL_MAX}"
    first = _first_choice(client, f"{text} (probe)", 0.001)
    plugin_upstream.inject_fault(Fault(kind="delay", delay_s=3.0, model=first))
    messages = _messages(text)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(
            model="auto",
            messages=messages,
            extra_body={"max_cost": 0.001, "timeout": 1},  # type: ignore[arg-type]
        )
    # LiteLLM answers the attempt's own error (as costmux's gateway answers its last provider error), and says why
    # no fallback was tried: the timed-out attempt may have used the whole cap
    assert caught.value.status_code == 408
    assert "is left after 1 attempt(s)" in caught.value.message
    assert _billed(plugin_upstream, messages, answers=1) <= Decimal("0.001")  # only the timed-out attempt


def test_litellm_retries_stay_within_the_cap(
    client: openai.OpenAI, plugin_proxy: LiteLLMProxy, plugin_upstream: FakeUpstream
) -> None:
    text = f"List three primary colours. {BILL_MAX}"
    first = _first_choice(client, f"{text} (probe)", 0.003)
    retries = _metric(plugin_proxy, "costmux_retries_total", model=first, error="unavailable")
    plugin_upstream.inject_fault(Fault(status=503, model=first), count=2)
    messages = _messages(text)
    raw = client.chat.completions.with_raw_response.create(
        model="auto",
        messages=messages,
        extra_body={"max_cost": 0.003, "num_retries": 1},  # type: ignore[arg-type]
    )
    assert raw.headers["x-costmux-model"] != first and raw.headers["x-costmux-fallbacks"] == "1"
    assert _metric(plugin_proxy, "costmux_retries_total", model=first, error="unavailable") == retries + 1
    assert _billed(plugin_upstream, messages, answers=1) <= Decimal("0.003")


def test_named_models_pass_through_untouched(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=_messages("hello"))  # type: ignore[arg-type]
    assert raw.headers["x-litellm-model-group"] == "gpt-4o"
    assert not [name for name in raw.headers if name.startswith("x-costmux-")]


def test_decisions_and_refusals_are_on_the_proxys_metrics(client: openai.OpenAI, plugin_proxy: LiteLLMProxy) -> None:
    refusals = _metric(plugin_proxy, "costmux_budget_refusals_total", strategy="cost_optimized", reason="over_budget")
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(
            model="auto",
            messages=_messages("hi " * 50),
            extra_body={"max_cost": 0},  # type: ignore[arg-type]
        )
    after = _metric(plugin_proxy, "costmux_budget_refusals_total", strategy="cost_optimized", reason="over_budget")
    assert after == refusals + 1
    assert _metric(plugin_proxy, "costmux_routing_decisions_total", strategy="cost_optimized") > 0


def test_a_broken_callback_setting_stops_the_proxy_at_start(plugin_upstream: FakeUpstream, tmp_path: Any) -> None:
    from app.integrations.litellm_proxy import managed_proxy_options

    proxy = LiteLLMProxy(
        default_test_models(plugin_upstream.base_url),
        log_path=tmp_path / "proxy.log",
        startup_timeout_s=60.0,
        **managed_proxy_options({"default_strategy": "cheapest-ever"}, prometheus=False),
    )
    with pytest.raises(ProxyStartError) as caught:
        proxy.start()
    assert "unknown routing strategy 'cheapest-ever'" in str(caught.value)
    assert not proxy.running


BILLED_OVER = "[bills-1.3x]"  # a prompt the upstream bills 1.3 x costmux's estimate of it (under the model's family)


def _bill_over(messages: list[dict[str, Any]], model: str) -> int | None:
    if not any(BILLED_OVER in str(m.get("content")) for m in messages):
        return None
    family = resolve_family((model,)).family
    return math.ceil(1.3 * family_counts(count_prompt_tokens(messages), PRIORS[family]).estimate_tokens)


def test_bills_over_the_estimate_widen_the_bound_and_the_cap_still_holds(
    client: openai.OpenAI, plugin_proxy: LiteLLMProxy, plugin_upstream: FakeUpstream
) -> None:
    cap = Decimal("0.0001")
    text = f"{BILLED_OVER} Summarise the release notes of a small library in plain words. " * 6
    default_length = plugin_upstream.completion_tokens

    def short_unless_bill_max(messages: list[dict[str, Any]], model: str) -> int | None:
        marked = any(BILLED_OVER in str(m.get("content")) for m in messages)
        if marked and not any(BILL_MAX in str(m.get("content")) for m in messages):
            return 5  # the calls that learn answer briefly: only their prompt matters
        return default_length(messages, model) if default_length is not None else None

    def ask(content: str) -> Any:
        return client.chat.completions.with_raw_response.create(
            model="auto",
            messages=_messages(content),
            extra_body={"max_cost": float(cap)},  # type: ignore[arg-type]
        )

    plugin_upstream.prompt_tokens = _bill_over
    plugin_upstream.completion_tokens = short_unless_bill_max
    try:
        first = ask(text)
        model, planned_before = first.headers["x-costmux-model"], int(first.headers["x-costmux-max-tokens"])
        counts = family_counts(count_prompt_tokens(_messages(text)), PRIORS[resolve_family((model,)).family])
        billed = first.parse().usage.prompt_tokens
        assert billed == _bill_over(_messages(text), model) > counts.upper_tokens  # the premise: over the prior
        in_usd, out_usd = PRICES[model]
        # the premise of the cap check: an answer of the whole max_tokens planned before learning would cost more
        assert billed * in_usd + planned_before * out_usd > cap
        factor = _eventually(
            lambda: _metric(plugin_proxy, "costmux_prompt_bound_factor", model=model, group=TEXT_GROUPS[counts.group]),
            billed / counts.estimate_tokens,
        )
        assert factor == pytest.approx(billed / counts.estimate_tokens)  # learned from what the upstream billed
        later = [ask(text) for _ in range(2)]
        assert {answer.headers["x-costmux-model"] for answer in later} == {model}
        planned_after = [int(answer.headers["x-costmux-max-tokens"]) for answer in later]
        assert all(tokens < planned_before for tokens in planned_after)  # the widened bound leaves less output
        # answers as long as max_tokens allows, billed 1.3 x the estimate: within the cap
        for i in range(3):
            messages = _messages(f"{text} {BILL_MAX} ({i})")
            raw = ask(messages[0]["content"])
            assert raw.headers["x-costmux-model"] == model
            assert raw.parse().usage.completion_tokens == int(raw.headers["x-costmux-max-tokens"])
            assert _billed(plugin_upstream, messages, answers=1) <= cap
    finally:
        plugin_upstream.prompt_tokens = None
        plugin_upstream.completion_tokens = default_length
