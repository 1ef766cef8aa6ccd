"""The cap inside LiteLLM: each attempt planned within what is left, each charged by the rules."""

from __future__ import annotations

import functools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.integrations.attempts import AttemptRefusedError, LedgerBook, RequestLedger
from app.integrations.deployments import ProxyDeployments
from app.pricing import ModelPricing
from app.router import Router, RoutingDecision

from .conftest import FakeProxyRouter, standard_models

MINI = ModelPricing(input_usd_per_token=Decimal("1.5e-7"), output_usd_per_token=Decimal("6e-7"))
HAIKU = ModelPricing(input_usd_per_token=Decimal("2.5e-7"), output_usd_per_token=Decimal("1.25e-6"))


@functools.cache
def _decision() -> RoutingDecision:
    provider = ProxyDeployments()
    provider.sync(FakeProxyRouter(standard_models()))
    return Router(providers={"litellm": provider}).decide(
        [{"role": "user", "content": "What is the capital of France?"}]
    )


def _ledger(max_cost: str | None) -> RequestLedger:
    """A ledger under ``max_cost`` (set after the decision: these tests are about the attempts, not the choice)."""
    decision = _decision()
    ledger = RequestLedger(
        decision,
        prompt_bound_tokens=decision.analysis.upper_estimate_tokens,
        caller_max_tokens=None,
        min_output_tokens=16,
        default_max_output_tokens=4096,
        started_s=0.0,
    )
    ledger.max_cost_usd = Decimal(max_cost) if max_cost is not None else None
    return ledger


def test_an_answered_error_costs_nothing_and_the_fallback_gets_the_whole_budget() -> None:
    ledger = _ledger("0.001")
    first = ledger.open("gpt-4o-mini", "m", MINI, 16384, 1.0)
    assert first.worst_case_cost_usd <= Decimal("0.001")
    ledger.failed(answered=True, error="unavailable")
    second = ledger.open("claude-3-haiku", "h", HAIKU, 4096, 2.0)
    assert ledger.spent == 0
    assert second.worst_case_cost_usd <= Decimal("0.001")
    ledger.answered(Decimal("0.00002"))
    assert ledger.spent == Decimal("0.00002") and ledger.fallbacks == 1


def test_an_unanswered_attempt_is_charged_its_worst_case_and_the_next_one_gets_what_is_left() -> None:
    ledger = _ledger("0.012")
    first = ledger.open("gpt-4o-mini", "m", MINI, 16384, 1.0)
    assert first.max_tokens == 16384  # the model's whole output fits the cap
    ledger.failed(answered=False, error="timeout")
    assert ledger.spent == first.worst_case_cost_usd
    second = ledger.open("claude-3-haiku", "h", HAIKU, 4096, 2.0)
    assert second.max_tokens is not None and second.max_tokens < 4096  # only what is left
    assert ledger.spent + second.worst_case_cost_usd <= Decimal("0.012")


def test_an_attempt_left_open_is_charged_its_worst_case_when_the_next_begins() -> None:
    ledger = _ledger("0.012")
    first = ledger.open("gpt-4o-mini", "m", MINI, 16384, 1.0)
    ledger.open("claude-3-haiku", "h", HAIKU, 4096, 2.0)
    assert ledger.attempts[0].state == "failed" and ledger.spent == first.worst_case_cost_usd


def test_nothing_left_refuses_the_attempt_before_it_is_sent() -> None:
    ledger = _ledger("0.001")
    ledger.open("gpt-4o-mini", "m", MINI, 16384, 1.0)  # its max_tokens fill the cap
    ledger.failed(answered=False, error="timeout")
    with pytest.raises(AttemptRefusedError) as caught:
        ledger.open("claude-3-haiku", "h", HAIKU, 4096, 2.0)
    assert caught.value.status_code == 400  # LiteLLM neither cools the deployment nor retries it
    assert "affords no answer from claude-3-haiku" in str(caught.value)
    assert len(ledger.attempts) == 1


def test_an_unpriced_deployment_is_refused_under_a_cap_only() -> None:
    with pytest.raises(AttemptRefusedError, match="no known price"):
        _ledger("0.01").open("mystery", "x", None, None, 1.0)
    uncapped = _ledger(None)
    assert uncapped.open("mystery", "x", None, None, 1.0).worst_case_cost_usd == 0


def test_an_attempt_is_charged_once() -> None:
    ledger = _ledger("0.01")
    ledger.open("gpt-4o-mini", "m", MINI, 16384, 1.0)
    ledger.answered(Decimal("0.0001"))
    assert ledger.answered(Decimal("5")) is None and ledger.failed(answered=False, error="x") is None
    assert ledger.spent == Decimal("0.0001")


@settings(max_examples=200, deadline=None)
@given(
    cap=st.decimals(min_value=Decimal("0.00001"), max_value=Decimal("0.05"), places=7),
    outcomes=st.lists(st.sampled_from(["answered_error", "no_answer", "left_open"]), max_size=8),
    final_fraction=st.fractions(min_value=0, max_value=1),
)
def test_the_attempts_never_cost_more_than_the_cap(cap: Decimal, outcomes: list[str], final_fraction: object) -> None:
    ledger = _ledger(str(cap))
    prices = [MINI, HAIKU]
    for index, outcome in enumerate(outcomes):
        try:
            ledger.open("g", str(index), prices[index % 2], 16384, float(index))
        except AttemptRefusedError:
            continue
        if outcome == "answered_error":
            ledger.failed(answered=True, error="unavailable")
        elif outcome == "no_answer":
            ledger.failed(answered=False, error="timeout")
    try:
        last = ledger.open("g", "final", MINI, 16384, 99.0)
    except AttemptRefusedError:
        pass
    else:  # the answer costs at most its worst case when prices are right
        ledger.answered(last.worst_case_cost_usd * Decimal(str(float(final_fraction))))  # type: ignore[arg-type]
    assert ledger.spent <= cap


def test_the_book_forgets_the_oldest_and_the_stale() -> None:
    now = [0.0]
    book = LedgerBook(max_entries=2, max_age_s=10.0, clock=lambda: now[0])
    ledgers = [_ledger(None) for _ in range(3)]
    book.add("a", ledgers[0])
    book.add("b", ledgers[1])
    book.add("c", ledgers[2])
    assert book.get("a") is None and book.get("c") is ledgers[2] and len(book) == 2
    now[0] = 20.0
    book.add("d", ledgers[0])
    assert len(book) == 1 and book.pop("d") is ledgers[0] and book.pop("d") is None and book.get(7) is None
