"""Prompt bounds inside the proxy: every answered call teaches the deployments' learner what its prompt was billed
(routed requests with the decision's token counts and the attempt's ``max_tokens``; named models' non-streamed
answers with their prompt counted then), later decisions check the cap with it, and each attempt is planned with its
model group's own bound (its family's, as learned), not a family-blind one."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry

from app.integrations.deployments import ProxyDeployments
from app.integrations.plugin_settings import PluginSettings
from app.integrations.proxy_routing import ProxyRouting
from app.metrics import CostmuxMetrics
from app.router.budget import prompt_bound_tokens
from app.tokens import PromptBoundLearner, count_prompt_tokens
from app.tokens.learning import COMPLETION_SERIES

from .conftest import FakeProxyRouter, StepClock, attempt_kwargs, chat, standard_models

PROSE = "The quarterly report shows a steady increase in recurring revenue across all regions. " * 12


def _route(routing: ProxyRouting, data: dict[str, Any]) -> Any:
    request = routing.read(data)
    assert request is not None
    return routing.route(data, request)


def _verdict(ledger: Any, group: str) -> Any:
    return next(v for v in ledger.decision.candidates if v.model == group)


def test_the_deployments_learn_each_group_s_bound_from_its_bills() -> None:
    learner = PromptBoundLearner()
    provider = ProxyDeployments(prompt_bounds=learner)
    provider.sync(FakeProxyRouter(standard_models()))
    assert provider.token_family("claude-3-haiku").family == "anthropic"  # from its LiteLLM model name
    assert provider.token_family("gpt-4o-mini").family == "openai_o200k"
    prompt = count_prompt_tokens([{"role": "user", "content": PROSE}])
    prior = provider.prompt_bound("gpt-4o-mini", prompt)
    billed = math.ceil(prompt.estimate_tokens * 1.3)
    assert billed > prior  # the premise: bills over the family's prior
    provider.learn("gpt-4o-mini", prompt, billed_prompt_tokens=billed, billed_completion_tokens=30, max_tokens=20)
    assert provider.prompt_bound("gpt-4o-mini", prompt) >= billed  # widened at once
    assert provider.prompt_bound("gpt-4o", prompt) == provider.prompt_bound("gpt-4o", prompt)  # others untouched
    view = learner.view("gpt-4o-mini")
    assert view is not None and view.observations == 1 and view.completion_excess == 1.5
    provider.learn("gpt-4o", prompt, billed_prompt_tokens=None, billed_completion_tokens=1, max_tokens=None)
    assert learner.view("gpt-4o") is None  # no billed prompt tokens: nothing to learn


def test_an_answered_call_widens_the_bound_later_decisions_and_attempts_use() -> None:
    routing = ProxyRouting(PluginSettings.load({}), clock=StepClock())
    routing.sync(FakeProxyRouter(standard_models()))
    registry = CollectorRegistry()
    CostmuxMetrics(registry).instrument(routing.deployments)
    request = {"content": PROSE, "max_cost": 0.0002}
    first = chat(**request)
    ledger = _route(routing, first)
    assert first["model"] == "gpt-4o-mini"
    planned = routing.plan_attempt(attempt_kwargs(first, "gpt-4o-mini"))
    assert planned is not None
    counts = ledger.decision.analysis.token_counts
    bound_before = _verdict(ledger, "gpt-4o-mini").prompt_bound_tokens
    billed = math.ceil(counts.estimate_tokens * 1.3)
    assert billed > bound_before  # the premise: the upstream bills more than the cap was planned with
    logged = {"litellm_params": {"metadata": first["metadata"]}}
    routing.attempt_answered(logged, cost_usd="0.0001", prompt_tokens=billed, completion_tokens=12, stream=False)
    view = routing.deployments.prompt_bounds.view("gpt-4o-mini")
    assert view is not None and view.observations == 1
    completion = routing.deployments.prompt_bounds.store.window("gpt-4o-mini", COMPLETION_SERIES)
    assert completion == (12 / planned["max_tokens"],)  # against the max_tokens this attempt was sent
    labels = {"provider": "litellm", "model": "gpt-4o-mini", "group": "ascii_text"}
    assert registry.get_sample_value("costmux_prompt_bound_factor", labels) == billed / counts.estimate_tokens
    second = chat(**request)
    later = _route(routing, second)
    assert second["model"] == "gpt-4o-mini"
    assert _verdict(later, "gpt-4o-mini").prompt_bound_tokens >= billed  # the decision uses what was learned
    attempt = routing.plan_attempt(attempt_kwargs(second, "gpt-4o-mini"))
    assert attempt is not None and attempt["max_tokens"] < planned["max_tokens"]  # and so does the attempt
    worst = Decimal("1.5e-7") * billed + Decimal("6e-7") * attempt["max_tokens"]
    assert worst <= Decimal("0.0002")  # a bill like the last one, with all of max_tokens, stays within the cap


def test_each_attempt_is_planned_with_its_group_s_own_bound() -> None:
    routing = ProxyRouting(PluginSettings.load({}), clock=StepClock())
    routing.sync(FakeProxyRouter(standard_models()))
    data = chat(PROSE, max_cost=0.01)
    ledger = _route(routing, data)
    generic = prompt_bound_tokens(ledger.decision.analysis, "estimate")
    haiku = _verdict(ledger, "claude-3-haiku").prompt_bound_tokens
    assert haiku > generic  # Anthropic's tokenizer: a wider prior than the family-blind estimate
    kwargs = routing.plan_attempt(attempt_kwargs(data, "claude-3-haiku"))
    assert kwargs is not None
    attempt = ledger.last
    assert attempt.worst_case_cost_usd == Decimal("2.5e-7") * haiku + Decimal("1.25e-6") * kwargs["max_tokens"]


def test_a_group_the_decision_did_not_cost_gets_its_family_s_bound() -> None:
    routing = ProxyRouting(PluginSettings.load({"cap_named_models": True}), clock=StepClock())
    routing.sync(FakeProxyRouter(standard_models()))
    data = chat(PROSE, model="gpt-4o", max_cost=0.01, fallbacks=["claude-3-haiku"])
    ledger = _route(routing, data)
    counts = ledger.decision.analysis.token_counts
    assert _verdict(ledger, "claude-3-haiku").prompt_bound_tokens is None  # excluded: never costed
    expected = routing.deployments.prompt_bound("claude-3-haiku", counts)
    assert (
        ledger.prompt_bound_of("claude-3-haiku") == expected > prompt_bound_tokens(ledger.decision.analysis, "estimate")
    )


def test_a_named_model_s_answer_teaches_the_learner_too() -> None:
    routing = ProxyRouting(PluginSettings.load({}), clock=StepClock())
    routing.sync(FakeProxyRouter(standard_models()))
    messages = [{"role": "user", "content": PROSE}]
    counts = count_prompt_tokens(messages)

    def logged(group: str, **fields: Any) -> dict[str, Any]:  # LiteLLM's success-log kwargs of a named call
        return {
            "call_type": "acompletion",
            "messages": messages,
            "optional_params": {"max_tokens": 50},
            "litellm_params": {"metadata": {"model_group": group}},
            **fields,
        }

    learner = routing.deployments.prompt_bounds
    answer = {"cost_usd": "0.001", "prompt_tokens": 140, "completion_tokens": 60}
    assert routing.attempt_answered(logged("gpt-4o"), stream=False, **answer) is None  # not routed: no ledger
    view = learner.view("gpt-4o")
    assert view is not None and view.observations == 1 and view.completion_excess == 60 / 50
    assert learner.store.window("gpt-4o", "group:all") == (140 / counts.estimate_tokens,)
    routing.attempt_answered(logged("gpt-4o", stream=True), stream=True, **answer)  # a stream: LiteLLM's own count
    routing.attempt_answered(logged("unknown-group"), stream=False, **answer)  # not a group of this proxy
    routing.attempt_answered(logged("gpt-4o", call_type="aembedding"), stream=False, **answer)  # not a chat
    assert learner.view("gpt-4o").observations == 1 and learner.view("unknown-group") is None  # type: ignore[union-attr]
