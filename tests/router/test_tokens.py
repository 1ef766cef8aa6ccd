"""Offline token counting (app.tokens) against real tokenizer counts checked in as a fixture.

``data/token_calibration.jsonl`` holds texts from ``bench/calibrate_tokens.py`` with their real token
counts under ``o200k_base`` (GPT-4o) and ``cl100k_base`` (GPT-4); no tokenizer is needed here.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import tokens
from app.tokens import (
    ENCODINGS,
    ESTIMATE_IMAGE_TOKENS,
    LOW_DETAIL_IMAGE_TOKENS,
    STRICT_IMAGE_TOKENS,
    UPPER_IMAGE_TOKENS,
    count_prompt_tokens,
    counting,
    estimate_text_tokens,
    estimate_tokens,
    strict_text_tokens,
    text_features,
    upper_bound_text_tokens,
    upper_bound_tokens,
)
from tests.router.conftest import Message

FIXTURE = Path(__file__).parent / "data" / "token_calibration.jsonl"
# OpenAI chat framing of a single message: 3 per message + 1 for the role + 3 priming the reply.
ONE_MESSAGE_FRAMING_TOKENS = 7


def _load() -> list[dict[str, Any]]:
    with FIXTURE.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


ROWS = _load()
CATEGORIES = sorted({row["category"] for row in ROWS})


def _by_category() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in ROWS:
        groups[row["category"]].append(row)
    groups["all"] = ROWS
    return groups


def test_fixture_shape() -> None:
    assert len(ROWS) >= 400
    assert set(CATEGORIES) >= {"prose", "code", "cjk", "numeric", "mixed", "multilingual"}
    assert all(isinstance(r["o200k_base"], int) and isinstance(r["cl100k_base"], int) for r in ROWS)
    assert FIXTURE.stat().st_size < 400_000


# ------------------------------------------------------------------------------------------ calibration


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("category", [*CATEGORIES, "all"])
def test_upper_estimate_covers_99_percent_of_texts(encoding: str, category: str) -> None:
    rows = _by_category()[category]
    covered = sum(upper_bound_text_tokens(r["text"], "estimate", encoding=encoding) >= r[encoding] for r in rows)  # type: ignore[arg-type]
    assert covered / len(rows) >= 0.99, f"{category}/{encoding}: {covered}/{len(rows)}"


@pytest.mark.parametrize("category", [*CATEGORIES, "all"])
def test_upper_estimate_covers_99_percent_of_single_message_requests(category: str) -> None:
    rows = _by_category()[category]
    covered = sum(
        upper_bound_tokens([{"role": "user", "content": r["text"]}], "estimate")
        >= r["o200k_base"] + ONE_MESSAGE_FRAMING_TOKENS
        for r in rows
    )
    assert covered / len(rows) >= 0.99


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_strict_bound_holds_for_every_text(encoding: str) -> None:
    for row in ROWS:
        assert upper_bound_text_tokens(row["text"], "strict") >= row[encoding]
        request = [{"role": "user", "content": row["text"]}]
        assert upper_bound_tokens(request, "strict") >= row[encoding] + ONE_MESSAGE_FRAMING_TOKENS


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("category", [*CATEGORIES, "all"])
def test_estimate_is_calibrated_on_average(encoding: str, category: str) -> None:
    rows = _by_category()[category]
    ratios = [estimate_text_tokens(r["text"], encoding=encoding) / r[encoding] for r in rows]  # type: ignore[arg-type]
    mean = sum(ratios) / len(ratios)
    assert 0.9 <= mean <= 1.1, f"{category}/{encoding}: mean estimate/real {mean:.3f}"


def test_upper_estimate_is_not_wildly_loose() -> None:
    over = [upper_bound_text_tokens(r["text"], "estimate") / r["o200k_base"] for r in ROWS]
    assert sum(over) / len(over) < 1.5


def test_weights_are_non_negative() -> None:
    # Non-negative weights make every estimate >= 0 and monotone in added text.
    for cal in tokens.CALIBRATIONS.values():
        assert all(w >= 0 for weights in cal.weights for w in weights)
        assert all(m >= 1 for m in cal.margins)
        assert cal.per_text_slack >= 0


# -------------------------------------------------------------------------------------------- features


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_features_reconstruct_the_utf8_size(text: str) -> None:
    features = text_features(text)
    assert all(f >= 0 for f in features)
    size = len(text.encode("utf-8", "surrogatepass"))
    assert counting._utf8_size(features) == size == strict_text_tokens(text)


def test_text_groups() -> None:
    assert tokens.TEXT_GROUPS[tokens.text_group(text_features("The cat sat on the mat."))] == "ascii_text"
    assert tokens.TEXT_GROUPS[tokens.text_group(text_features("x = f(1, 2); y[3] = {4: 5}"))] == "ascii_symbolic"
    assert tokens.TEXT_GROUPS[tokens.text_group(text_features("Привет, как дела?"))] == "latin"
    assert tokens.TEXT_GROUPS[tokens.text_group(text_features("人工智能正在改变我们的生活方式。"))] == "wide"


def test_small_known_values() -> None:
    assert estimate_text_tokens("") == 0
    assert upper_bound_text_tokens("", "estimate") == 0
    assert strict_text_tokens("héllo") == 6
    # "hello world" is 2 tokens in o200k; + 7 framing = 9 (what LiteLLM's token_counter says).
    assert estimate_tokens([{"role": "user", "content": "hello world"}]) == 9
    assert estimate_tokens([]) == 3  # the reply priming only


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        upper_bound_tokens([], "exact")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mode"):
        upper_bound_text_tokens("x", "maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="encoding"):
        estimate_tokens([], encoding="p50k_base")  # type: ignore[arg-type]


# -------------------------------------------------------------------------------------------- requests

MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": st.text(max_size=200)},
    optional={"name": st.text(alphabet="abcxyz_-", min_size=1, max_size=12)},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(MESSAGE, max_size=6), st.sampled_from(ENCODINGS))
def test_bounds_are_ordered_and_deterministic(messages: list[dict[str, Any]], encoding: str) -> None:
    counts = count_prompt_tokens(messages, encoding=encoding)  # type: ignore[arg-type]
    assert 0 <= counts.estimate_tokens <= counts.upper_estimate_tokens <= counts.strict_tokens
    assert counts == count_prompt_tokens([dict(m) for m in messages], encoding=encoding)  # type: ignore[arg-type]
    assert counts.estimate_tokens == estimate_tokens(messages, encoding=encoding)  # type: ignore[arg-type]
    assert upper_bound_tokens(messages, "estimate", encoding=encoding) == counts.upper_estimate_tokens  # type: ignore[arg-type]
    assert upper_bound_tokens(messages, "strict") == counts.strict_tokens
    assert counts.message_count == len(messages)


@settings(max_examples=200, deadline=None)
@given(st.lists(MESSAGE, max_size=5), MESSAGE)
def test_monotone_in_added_messages(messages: list[dict[str, Any]], extra: dict[str, Any]) -> None:
    before = count_prompt_tokens(messages)
    after = count_prompt_tokens([*messages, extra])
    assert after.estimate_tokens >= before.estimate_tokens
    assert after.upper_estimate_tokens >= before.upper_estimate_tokens
    assert after.strict_tokens >= before.strict_tokens


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_text_bounds_are_ordered(text: str) -> None:
    estimate = estimate_text_tokens(text)
    upper = upper_bound_text_tokens(text, "estimate")
    strict = upper_bound_text_tokens(text, "strict")
    assert 0 <= estimate <= upper <= strict == len(text.encode("utf-8", "surrogatepass"))


def test_strict_bound_formula() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "héllo", "name": "ann"},
    ]
    expected = (8 + len("system") + len("Be brief.")) + (8 + len("user") + len("héllo".encode()) + 3 + 1) + 3
    assert upper_bound_tokens(messages, "strict") == expected


def _image(detail: str | None = None) -> dict[str, Any]:
    image_url: dict[str, Any] = {"url": "data:image/png;base64," + "A" * 5000}
    if detail:
        image_url["detail"] = detail
    return {"type": "image_url", "image_url": image_url}


def test_images_add_fixed_allowances_and_ignore_their_payload() -> None:
    text_only = count_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}])
    one = count_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "What is this?"}, _image()]}])
    low = count_prompt_tokens([{"role": "user", "content": [{"type": "text", "text": "What is this?"}, _image("low")]}])
    assert one.image_count == 1
    assert one.estimate_tokens - text_only.estimate_tokens == ESTIMATE_IMAGE_TOKENS
    assert one.upper_estimate_tokens - text_only.upper_estimate_tokens == UPPER_IMAGE_TOKENS
    assert one.strict_tokens - text_only.strict_tokens == STRICT_IMAGE_TOKENS
    assert low.estimate_tokens - text_only.estimate_tokens == LOW_DETAIL_IMAGE_TOKENS
    assert low.strict_tokens - text_only.strict_tokens == STRICT_IMAGE_TOKENS


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_docs",
            "description": "Search the documentation and return the best matching passages.",
            "parameters": {
                "type": "object",
                "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                "required": ["query"],
            },
        },
    }
]


def test_tools_and_tool_calls_count_as_json_text() -> None:
    base = [{"role": "user", "content": "Find the install guide."}]
    plain = count_prompt_tokens(base)
    with_tools = count_prompt_tokens(base, tools=TOOLS)
    tools_json = len(json.dumps(TOOLS, ensure_ascii=False, sort_keys=True).encode())
    assert with_tools.strict_tokens - plain.strict_tokens >= tools_json
    assert with_tools.estimate_tokens > plain.estimate_tokens + 20
    assert with_tools.upper_estimate_tokens > with_tools.estimate_tokens

    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "search_docs", "arguments": '{"query": "install"}'}}
        ],
    }
    with_call = count_prompt_tokens([*base, call])
    assert with_call.strict_tokens - plain.strict_tokens >= len(json.dumps(call["tool_calls"]).encode())
    assert with_call.estimate_tokens > plain.estimate_tokens + 4


def test_response_format_schema_counts_but_plain_json_mode_does_not() -> None:
    base = [{"role": "user", "content": "Extract the name."}]
    plain = count_prompt_tokens(base)
    assert count_prompt_tokens(base, response_format={"type": "json_object"}) == plain
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
    }
    with_schema = count_prompt_tokens(base, response_format=schema)
    assert with_schema.estimate_tokens > plain.estimate_tokens
    assert with_schema.strict_tokens > plain.strict_tokens + len(json.dumps(schema["json_schema"]))


def test_pydantic_messages_count_like_dicts() -> None:
    dicts: list[dict[str, Any]] = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Summarize: the cat sat on the mat."}], "name": "bob"},
        {"role": "assistant", "content": None},
    ]
    models = [Message.model_validate(d) for d in dicts]
    assert count_prompt_tokens(models) == count_prompt_tokens(dicts)


def test_non_ascii_and_long_text() -> None:
    text = "人工智能正在改变我们的生活方式。" * 500
    counts = count_prompt_tokens([{"role": "user", "content": text}])
    assert counts.strict_tokens >= len(text.encode())
    # o200k spends ~0.65 tokens per Chinese character; stay in a sane band.
    assert 0.4 * len(text) <= counts.estimate_tokens <= 1.0 * len(text)
    assert counts.upper_estimate_tokens >= math.ceil(0.65 * len(text))
