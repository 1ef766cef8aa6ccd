"""The prompt analysis of one chat request: the :class:`PromptAnalysis` record, and :func:`analyze` that builds it
from the steps of :mod:`app.router.analysis` (messages, code signals, intent, complexity) and the token counts.

JSON output is needed when ``response_format`` is ``json_object``/``json_schema`` or the user or system text asks for
it (:func:`~app.router.analysis.intent.json_phrase`); tools when tool definitions are given or the conversation has
tool calls/results; vision when any message has an image part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from app.catalog.reasoning import ReasoningRequest
from app.router.analysis.code_signals import detect_code
from app.router.analysis.complexity import complexity_score
from app.router.analysis.intent import Intent, classify, constraint_count, is_multistep, json_phrase
from app.router.analysis.messages import field, read_conversation
from app.tasks import TaskType
from app.tokens import EncodingName, TokenCounts, count_prompt_tokens

__all__ = ["DEFAULT_OUTPUT_TOKENS", "LONG_PROMPT_REASON_TOKENS", "PromptAnalysis", "analyze"]

#: Output tokens assumed for ``required_context_tokens`` when the request sets no ``max_tokens``.
DEFAULT_OUTPUT_TOKENS: Final = 1024
#: Prompt estimate from which "long prompt" is reported as a reason, tokens.
LONG_PROMPT_REASON_TOKENS: Final = 1500


class PromptAnalysis(NamedTuple):
    """Routing-relevant features of one chat request; every token figure is in tokens.

    An immutable named tuple: one is made per routed request, and a tuple is the cheapest record Python builds
    (a frozen dataclass sets each field through ``object.__setattr__``)."""

    estimated_tokens: int  # calibrated prompt estimate (o200k unless told otherwise)
    upper_estimate_tokens: int  # prompt upper bound, "estimate" mode (>= real for >= 99% of prompts)
    strict_tokens: int  # prompt upper bound, "strict" mode (UTF-8 bytes + framing allowances)
    message_count: int
    has_code: bool
    code_signals: tuple[str, ...]  # why has_code: "fenced code block (python)", or "def", "=>", ...
    task_type: TaskType
    complexity: float  # in [0, 1], see complexity_score
    needs_tools: bool
    needs_json: bool
    needs_vision: bool
    requested_output_tokens: int  # max_tokens, or DEFAULT_OUTPUT_TOKENS when not given
    required_context_tokens: int  # upper_estimate_tokens + requested_output_tokens
    reasons: tuple[str, ...]  # one plain-words line per feature
    reasoning: ReasoningRequest | None = None  # reasoning_effort / thinking budget the request asks of reasoning models
    token_counts: TokenCounts | None = None  # the counts behind the token figures (per-family bounds start here)


def analyze(
    messages: Sequence[Any],
    *,
    tools: Sequence[Any] | None = None,
    response_format: Any = None,
    max_tokens: int | None = None,
    encoding: EncodingName = "o200k_base",
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    reasoning: ReasoningRequest | None = None,
) -> PromptAnalysis:
    """Analyse one chat request; pure and deterministic (see the package doc and each step's module for every rule).

    ``max_tokens`` is the requested output budget (tokens); when ``None``, ``default_output_tokens`` is
    used for ``required_context_tokens``. ``encoding`` selects the token calibration.
    """
    counts = count_prompt_tokens(messages, tools=tools, response_format=response_format, encoding=encoding)
    reasons: list[str] = []

    user_text, system_text, has_tool_messages = read_conversation(messages)

    # Code: last user message, else the system text.
    code_signals = detect_code(user_text)
    if not code_signals and system_text:
        code_signals = detect_code(system_text)
    has_code = bool(code_signals)
    if has_code:
        reasons.append(f"code: {', '.join(code_signals)}")

    intent = Intent.of(user_text, fenced=bool(code_signals) and code_signals[0].startswith("fenced"))
    task_type, task_reason = classify(intent, user_text, has_code, counts.estimate_tokens)
    reasons.append(f"task {task_type}: {task_reason}")  # a StrEnum formats as its value

    needs_tools = bool(tools) or has_tool_messages
    if tools:
        reasons.append(f"tools: {len(tools)} definition{'s' if len(tools) != 1 else ''}")
    elif has_tool_messages:
        reasons.append("conversation contains tool calls/results")
    rf_type = _response_format_type(response_format)
    needs_json = rf_type in ("json_object", "json_schema")
    if needs_json:
        reasons.append(f"response_format: {rf_type}")
    elif (phrase := json_phrase(intent, system_text)) is not None:
        needs_json = True
        reasons.append(f'asks for JSON output ("{phrase.decode()}")')
    needs_vision = counts.image_count > 0
    if needs_vision:
        reasons.append(f"{counts.image_count} image{'s' if counts.image_count != 1 else ''} attached")

    multistep = is_multistep(intent)
    constraints = constraint_count(intent)
    if multistep:
        reasons.append("multi-step instructions")
    if constraints:
        reasons.append(f"{constraints} constraint phrase{'s' if constraints != 1 else ''}")
    if counts.estimate_tokens >= LONG_PROMPT_REASON_TOKENS:
        reasons.append(f"long prompt: {counts.estimate_tokens:,} tokens")
    complexity = complexity_score(
        estimated_tokens=counts.estimate_tokens,
        task_type=task_type,
        has_code=has_code,
        multistep=multistep,
        constraints=constraints,
        needs_tools=needs_tools,
        needs_json=needs_json,
    )

    output_tokens = max(int(max_tokens), 0) if max_tokens is not None else default_output_tokens
    required = counts.upper_estimate_tokens + output_tokens
    reasons.append(
        f"prompt ≈ {counts.estimate_tokens:,} tokens (upper {counts.upper_estimate_tokens:,}, strict "
        f"{counts.strict_tokens:,}) + {output_tokens:,} output = {required:,} context tokens"
    )
    return PromptAnalysis(
        estimated_tokens=counts.estimate_tokens,
        upper_estimate_tokens=counts.upper_estimate_tokens,
        strict_tokens=counts.strict_tokens,
        message_count=counts.message_count,
        has_code=has_code,
        code_signals=code_signals,
        task_type=task_type,
        complexity=complexity,
        needs_tools=needs_tools,
        needs_json=needs_json,
        needs_vision=needs_vision,
        requested_output_tokens=output_tokens,
        required_context_tokens=required,
        reasons=tuple(reasons),
        reasoning=reasoning,
        token_counts=counts,
    )


def _response_format_type(response_format: Any) -> str | None:
    if response_format is None:
        return None
    kind = field(response_format, "type")
    kind = getattr(kind, "value", kind)
    return kind if isinstance(kind, str) else None
