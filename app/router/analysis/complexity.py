"""The complexity score of a request: how hard it looks, in [0, 1], from its length, task and wording.

Complexity (:func:`complexity_score`): a weighted sum, clamped to [0, 1] and rounded to 3 decimals::

    0.30 * length      log-scaled prompt estimate: 0 at <= 50 tokens, 1 at >= 8,000 tokens
    0.35 * task        per task type (TASK_COMPLEXITY: simple_qa 0 ... complex_analysis 1)
    0.10 * code        code present
    0.15 * multi-step  "step by step", numbered/bulleted instructions, "first ... then", "show your work"
    0.10 * constraints min(distinct constraint phrases, 4) / 4 ("must", "at least", "no more than", ...)
    +0.05 each         tools needed, JSON output needed
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from app.tasks import TaskType

__all__ = ["TASK_COMPLEXITY", "complexity_score"]

#: Task weight in the complexity score (0 = trivial, 1 = hardest), per task type.
TASK_COMPLEXITY: Final[Mapping[TaskType, float]] = {
    TaskType.SIMPLE_QA: 0.0,
    TaskType.GENERAL: 0.15,
    TaskType.TRANSLATION: 0.25,
    TaskType.SUMMARIZATION: 0.3,
    TaskType.CREATIVE_WRITING: 0.35,
    TaskType.CODE_GENERATION: 0.65,
    TaskType.CODE_REVIEW: 0.65,
    TaskType.MATH_REASONING: 0.75,
    TaskType.COMPLEX_ANALYSIS: 1.0,
}
_W_LENGTH: Final = 0.30
_W_TASK: Final = 0.35
_W_CODE: Final = 0.10
_W_MULTISTEP: Final = 0.15
_W_CONSTRAINTS: Final = 0.10
_W_CAPABILITY: Final = 0.05
_LENGTH_FLOOR_TOKENS: Final = 50
_LENGTH_CEIL_TOKENS: Final = 8000
_LENGTH_LOG_SPAN: Final = math.log(_LENGTH_CEIL_TOKENS / _LENGTH_FLOOR_TOKENS)


def complexity_score(
    *,
    estimated_tokens: int,
    task_type: TaskType,
    has_code: bool,
    multistep: bool,
    constraints: int,
    needs_tools: bool = False,
    needs_json: bool = False,
) -> float:
    """Weighted complexity in [0, 1] (module doc); deterministic, rounded to 3 decimals."""
    length = math.log(max(estimated_tokens, _LENGTH_FLOOR_TOKENS) / _LENGTH_FLOOR_TOKENS) / _LENGTH_LOG_SPAN
    score = (
        _W_LENGTH * min(length, 1.0)
        + _W_TASK * TASK_COMPLEXITY[task_type]
        + _W_CODE * has_code
        + _W_MULTISTEP * multistep
        + _W_CONSTRAINTS * min(constraints, 4) / 4
        + _W_CAPABILITY * (needs_tools + needs_json)
    )
    return round(min(max(score, 0.0), 1.0), 3)
