"""Raw ``curl -i`` captures of the real LiteLLM proxy 1.106.2, kept in ``tests/data/litellm-captures`` (see its
README for how they were taken)."""

from __future__ import annotations

from pathlib import Path

CAPTURES = Path(__file__).resolve().parent / "data" / "litellm-captures"


def capture_text(name: str) -> str:
    """The text of the capture ``name`` (e.g. ``"model_info.txt"``): the curl command line, then the HTTP answer."""
    return (CAPTURES / name).read_text(encoding="utf-8")
