"""Task types: what a request asks a model to do. Model quality is scored per task type in [0, 1]."""

from __future__ import annotations

import enum

__all__ = ["TaskType"]


class TaskType(enum.StrEnum):
    """What the request asks the model to do (the router's prompt analysis decides which one)."""

    CODE_GENERATION = "code_generation"
    CODE_REVIEW = "code_review"
    MATH_REASONING = "math_reasoning"
    COMPLEX_ANALYSIS = "complex_analysis"
    CREATIVE_WRITING = "creative_writing"
    SIMPLE_QA = "simple_qa"
    SUMMARIZATION = "summarization"
    TRANSLATION = "translation"
    GENERAL = "general"
