"""Prompt analysis: code detection, task types, complexity and capability flags (app.router.analysis)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.router.analysis import DEFAULT_OUTPUT_TOKENS, PromptAnalysis, TaskType, analyze, detect_code
from app.tokens import count_prompt_tokens
from tests.router.conftest import Message


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


PY_SNIPPET = "def area(r):\n    return 3.14159 * r * r\n"
JS_SNIPPET = "const total = items.reduce((acc, x) => acc + x.price, 0);\nconsole.log(total);\n"

LABELLED: list[tuple[str, TaskType]] = [
    # code review: code present + review/fix wording
    (f"Can you review this function?\n```python\n{PY_SNIPPET}```", TaskType.CODE_REVIEW),
    (f"There's a bug in this code, what's wrong?\n{JS_SNIPPET}", TaskType.CODE_REVIEW),
    (f"Please refactor:\n```js\n{JS_SNIPPET}```", TaskType.CODE_REVIEW),
    (f"This crashes with a KeyError, fix it:\n```python\n{PY_SNIPPET}```", TaskType.CODE_REVIEW),
    ("Why does this raise KeyError?\n```python\nd = {'a': 1}\nprint(d['b'])\n```", TaskType.CODE_REVIEW),
    # code generation
    ("Write a Python function that checks whether a string is a palindrome.", TaskType.CODE_GENERATION),
    ("Implement a binary search tree class in Java with insert and delete.", TaskType.CODE_GENERATION),
    ("Create a bash script that backs up /etc every night.", TaskType.CODE_GENERATION),
    ("Generate a SQL query that returns the top 5 customers by revenue.", TaskType.CODE_GENERATION),
    (f"Add type hints and a docstring to this:\n```python\n{PY_SNIPPET}```", TaskType.CODE_GENERATION),
    # translation
    ("Translate 'good morning, how are you?' into Japanese.", TaskType.TRANSLATION),
    ("Please translate the following paragraph to German: The meeting is postponed.", TaskType.TRANSLATION),
    ("How do you say 'thank you very much' in Korean?", TaskType.TRANSLATION),
    # summarization
    (
        "Summarize the following article in three bullet points:\n" + "The council met on Monday. " * 20,
        TaskType.SUMMARIZATION,
    ),
    ("Can you summarise this email thread for me? " + "Re: budget approval for Q3. " * 10, TaskType.SUMMARIZATION),
    ("TL;DR of this: " + "The committee postponed its decision. " * 12, TaskType.SUMMARIZATION),
    # creative writing
    ("Write a haiku about autumn leaves.", TaskType.CREATIVE_WRITING),
    ("Tell me a bedtime story about a brave little toaster.", TaskType.CREATIVE_WRITING),
    ("Write song lyrics about leaving home for the first time.", TaskType.CREATIVE_WRITING),
    ("Compose a poem in the style of Emily Dickinson about the sea.", TaskType.CREATIVE_WRITING),
    # math reasoning
    ("Solve for x: 3x + 7 = 22", TaskType.MATH_REASONING),
    ("Prove that the square root of 2 is irrational.", TaskType.MATH_REASONING),
    ("What is 17 * 23?", TaskType.MATH_REASONING),
    ("A train travels 120 km in 1.5 hours. What is its average speed?", TaskType.MATH_REASONING),
    ("What is the average temperature in Paris in July?", TaskType.SIMPLE_QA),
    ("Calculate the probability of rolling two sixes with two dice.", TaskType.MATH_REASONING),
    ("Find the derivative of sin(x) * x^2.", TaskType.MATH_REASONING),
    # complex analysis: analysis wording on a substantial prompt, or a long prompt
    (
        "We are choosing between PostgreSQL and MongoDB for an event-sourcing system that ingests "
        "40k events per second, needs strict ordering per aggregate and ad-hoc analytics. Compare the "
        "two options, evaluate the trade-offs for operations, cost and consistency, and recommend one.",
        TaskType.COMPLEX_ANALYSIS,
    ),
    (
        "Analyze the competitive landscape for mid-sized European e-bike makers given rising battery "
        "costs, new EU tariffs on imports and the shift of customers towards subscription models. "
        "Consider pricing power, supply-chain risk and brand differentiation.",
        TaskType.COMPLEX_ANALYSIS,
    ),
    # simple questions
    ("What is the capital of Australia?", TaskType.SIMPLE_QA),
    ("Who wrote Pride and Prejudice?", TaskType.SIMPLE_QA),
    ("How tall is Mount Everest?", TaskType.SIMPLE_QA),
    ("Is a tomato a fruit", TaskType.SIMPLE_QA),
    # found by the demo's workload: one number is not a word problem; a code object in a pasted text is not a
    # request for code; an instruction to translate prose comes first
    ("What does the HTTP status code 404 mean?", TaskType.SIMPLE_QA),
    ("A train covers 120 km in 1.5 hours. What is its average speed?", TaskType.MATH_REASONING),
    ("Write a Go HTTP handler that returns the server time, and a test for it.", TaskType.CODE_GENERATION),
    (
        "Translate into Portuguese, keeping the tone friendly:\n\nNext month we want to build raised beds "
        "near the school, so that each class can look after its own patch.",
        TaskType.TRANSLATION,
    ),
    ("Write a function that translates English text to French using a dictionary.", TaskType.CODE_GENERATION),
    ("Translate this Python class to TypeScript:\n```python\nclass A:\n    x = 1\n```", TaskType.CODE_GENERATION),
    (
        "Here is last night's deployment log. Analyze what went wrong and build a timeline of the incident.\n"
        + "2024-11-03T02:37:07Z worker WARN health check of pod api-919 returned 503 after 3700 ms\n" * 4,
        TaskType.COMPLEX_ANALYSIS,
    ),
    # general
    ("Hi!", TaskType.GENERAL),
    ("Thanks, that was helpful. I'll get back to you tomorrow with the details.", TaskType.GENERAL),
    ("Draft a polite email declining the meeting invitation for Friday.", TaskType.GENERAL),
]


@pytest.mark.parametrize(("prompt", "expected"), LABELLED, ids=[f"{t.value}-{i}" for i, (_, t) in enumerate(LABELLED)])
def test_labelled_prompts(prompt: str, expected: TaskType) -> None:
    result = analyze(user(prompt))
    assert result.task_type is expected, result.reasons


def test_long_prompt_is_complex_analysis() -> None:
    text = "The quarterly report shows steady growth across all regions and product lines. " * 300
    result = analyze(user(text))
    assert result.estimated_tokens >= 3000
    assert result.task_type is TaskType.COMPLEX_ANALYSIS
    assert any("long prompt" in reason for reason in result.reasons)


def test_review_words_inside_code_do_not_steer_the_task() -> None:
    code = "```python\ndef load(path):\n    raise ValueError('error: bug in config, fix it')\n```"
    result = analyze(user(f"Write unit tests for this function:\n{code}"))
    assert result.task_type is TaskType.CODE_GENERATION


# ------------------------------------------------------------------------------------------ code detection


@pytest.mark.parametrize(
    "text",
    [
        "different gift classic define",
        "If it rains tomorrow we will stay home.",
        "It was a different kind of gift, a classic one; define it as you like.",
        "Please return the form and import the class schedule into the function calendar.",
        "If you want, for example, to compare the class of 2020 with the class of 2021, then do it.",
        "Let me know if the constant rate of the variable is different from last year.",
        "The public library and the private school are in the same district; select from the list.",
        "He felt self-conscious; this is normal. Print the document before the meeting.",
        "A -> B -> C is the order of the steps, then repeat.",
        "",
    ],
)
def test_prose_is_not_code(text: str) -> None:
    assert detect_code(text) == ()
    assert analyze(user(text)).has_code is False


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        (PY_SNIPPET, "def"),
        (JS_SNIPPET, "=>"),
        ('#include <stdio.h>\nint main(void) { printf("hi\\n"); return 0; }', "#include"),
        ("SELECT name, email FROM users WHERE id = 42;\nSELECT * FROM orders;", "SELECT…FROM"),
        ("import os\nfrom pathlib import Path\nprint(Path.cwd())", "import"),
        ('fn main() {\n    let x = 5;\n    println!("{}", x);\n}', "fn/func"),
        ("class Stack:\n    def __init__(self):\n        self.items = []", "class"),
        ("public static void main(String[] args) {\n    System.out.println(args.length);\n}", "public/private"),
    ],
)
def test_code_is_detected(text: str, signal: str) -> None:
    signals = detect_code(text)
    assert signal in signals
    assert len(signals) >= 2


def test_fenced_block_is_code_and_names_its_language() -> None:
    assert detect_code("Look:\n```rust\nlet x = 1;\n```") == ("fenced code block (rust)",)
    assert detect_code("```\nanything\n```") == ("fenced code block",)
    result = analyze(user("Explain:\n```go\nfmt.Println(1)\n```"))
    assert result.has_code
    assert result.code_signals[0].startswith("fenced code block")
    assert any(reason.startswith("code: fenced code block") for reason in result.reasons)


def test_word_boundaries_for_keywords() -> None:
    # Keywords glued inside longer words never count.
    assert detect_code("undefined(x) redefine(y) classical(z) importance(w) returning") == ()
    # One English keyword plus punctuation stays prose.
    assert detect_code("If (and only if) the weather is fine: we go.") == ()


def test_code_in_system_message_counts() -> None:
    messages = [
        {"role": "system", "content": f"You maintain this module:\n```python\n{PY_SNIPPET}```"},
        {"role": "user", "content": "Add caching to it."},
    ]
    result = analyze(messages)
    assert result.has_code
    assert result.task_type is TaskType.CODE_GENERATION


# ------------------------------------------------------------------------------------------- complexity


def test_complexity_orders_greeting_below_long_multistep_analysis() -> None:
    greeting = analyze(user("Hello!"))
    question = analyze(user("What is the capital of France?"))
    analysis = analyze(
        user(
            "You are advising a hospital network. Step by step:\n"
            "1. Analyze the staffing data below and compare the three shift models.\n"
            "2. Evaluate the trade-offs between cost, burnout risk and patient outcomes.\n"
            "3. Recommend one model; you must stay within budget and at least 20% of shifts must be "
            "covered by senior staff.\n\n" + "Ward A: 34 nurses, 12 night shifts, 4.1% overtime. " * 60
        )
    )
    assert greeting.complexity < analysis.complexity
    assert question.complexity < analysis.complexity
    assert analysis.complexity >= 0.6
    assert greeting.complexity <= 0.1
    assert "multi-step instructions" in analysis.reasons


def test_code_raises_complexity() -> None:
    plain = analyze(user("Write a function that adds two numbers."))
    with_code = analyze(user(f"Write a function that adds two numbers, like this one:\n```python\n{PY_SNIPPET}```"))
    assert with_code.complexity > plain.complexity


# ------------------------------------------------------------------------------------------ capabilities

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def test_needs_tools_from_definitions_and_from_tool_messages() -> None:
    assert analyze(user("Weather in Paris?"), tools=TOOLS).needs_tools
    assert not analyze(user("Weather in Paris?")).needs_tools
    conversation = [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp_c": 18}'},
    ]
    result = analyze(conversation)
    assert result.needs_tools
    assert "conversation contains tool calls/results" in result.reasons


@pytest.mark.parametrize(
    ("response_format", "prompt", "expected"),
    [
        ({"type": "json_object"}, "List three fruits.", True),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}, "Fruits?", True),
        ({"type": "text"}, "List three fruits.", False),
        (None, "List three fruits and return JSON only.", True),
        (None, "Respond in JSON with keys name and age.", True),
        (None, "List three fruits.", False),
        (None, "What is JSON?", False),
    ],
)
def test_needs_json(response_format: Any, prompt: str, expected: bool) -> None:
    assert analyze(user(prompt), response_format=response_format).needs_json is expected


def test_needs_json_from_system_prompt() -> None:
    messages = [
        {"role": "system", "content": "You are an extraction bot. Output JSON only."},
        {"role": "user", "content": "John is 42."},
    ]
    assert analyze(messages).needs_json


def test_needs_vision() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            ],
        }
    ]
    result = analyze(messages)
    assert result.needs_vision
    assert "1 image attached" in result.reasons
    assert result.task_type is TaskType.SIMPLE_QA
    assert not analyze(user("What is in this picture?")).needs_vision


# -------------------------------------------------------------------------------------- tokens and shape


def test_token_figures_and_required_context() -> None:
    messages = user("Explain the difference between TCP and UDP.")
    counts = count_prompt_tokens(messages)
    result = analyze(messages, max_tokens=500)
    assert result.estimated_tokens == counts.estimate_tokens
    assert result.upper_estimate_tokens == counts.upper_estimate_tokens
    assert result.strict_tokens == counts.strict_tokens
    assert result.requested_output_tokens == 500
    assert result.required_context_tokens == counts.upper_estimate_tokens + 500
    default = analyze(messages)
    assert default.requested_output_tokens == DEFAULT_OUTPUT_TOKENS
    assert default.required_context_tokens == counts.upper_estimate_tokens + DEFAULT_OUTPUT_TOKENS
    assert result.message_count == 1


def test_reasons_explain_every_feature() -> None:
    result = analyze(
        user("Translate into French, step by step, and return JSON only: " + PY_SNIPPET),
        tools=TOOLS,
        max_tokens=100,
    )
    text = " | ".join(result.reasons)
    assert "task " in text
    assert "tools: 1 definition" in text
    assert "asks for JSON output" in text
    assert "multi-step instructions" in text
    assert "context tokens" in text
    assert all(isinstance(r, str) and r for r in result.reasons)


def test_accepts_pydantic_messages() -> None:
    dicts = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Write a haiku about rain."}], "name": "ann"},
    ]
    models = [Message.model_validate(d) for d in dicts]
    assert analyze(models) == analyze(dicts)
    assert analyze(models).task_type is TaskType.CREATIVE_WRITING


def test_only_the_last_user_message_sets_the_task() -> None:
    messages = [
        {"role": "user", "content": "Write a haiku about rain."},
        {"role": "assistant", "content": "Rain on the tin roof..."},
        {"role": "user", "content": "Now translate it into Spanish."},
    ]
    assert analyze(messages).task_type is TaskType.TRANSLATION


def test_result_is_frozen() -> None:
    result = analyze(user("Hi"))
    assert isinstance(result, PromptAnalysis)
    with pytest.raises(AttributeError):
        result.complexity = 1.0  # type: ignore[misc]


# ------------------------------------------------------------------------------------------- properties

MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=400)}
)


@settings(max_examples=150, deadline=None)
@given(st.lists(MESSAGE, max_size=5), st.none() | st.integers(min_value=0, max_value=100_000))
def test_analysis_is_deterministic_and_bounded(messages: list[dict[str, Any]], max_tokens: int | None) -> None:
    first = analyze(messages, max_tokens=max_tokens)
    assert first == analyze([dict(m) for m in messages], max_tokens=max_tokens)
    assert 0.0 <= first.complexity <= 1.0
    assert first.estimated_tokens <= first.upper_estimate_tokens <= first.strict_tokens
    assert first.required_context_tokens >= first.upper_estimate_tokens
    assert first.has_code == bool(first.code_signals)
    assert first.task_type in TaskType


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdefghij xyz(){};=<>:#\n\t\"'`-+*/0123")), max_size=600))
def test_code_detection_never_raises_and_is_stable(text: str) -> None:
    assert detect_code(text) == detect_code(text)
