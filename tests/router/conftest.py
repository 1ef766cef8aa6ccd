"""Router test helpers: providers with controlled catalogs (no network: decisions are pure)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from app.providers import LiteLLMProvider


def make_provider(models: dict[str, dict[str, Any]], **kwargs: Any) -> LiteLLMProvider:
    """A provider that knows exactly ``models`` (custom_models entries), without the bundled catalog."""
    kwargs.setdefault("catalog", None)
    return LiteLLMProvider("http://proxy.invalid:4000", "sk-test", custom_models=models, **kwargs)


def model(
    input_per_1m: float | None,
    output_per_1m: float | None,
    *,
    quality: float | dict[str, float] | None = None,
    window: int | None = None,
    max_output: int | None = None,
    tools: bool | None = None,
    vision: bool | None = None,
) -> dict[str, Any]:
    """One custom_models entry; ``quality`` as one score for every task or per task."""
    from app.tasks import TaskType

    metadata: dict[str, Any] = {}
    if quality is not None:
        metadata["quality"] = quality if isinstance(quality, dict) else {t.value: quality for t in TaskType}
    if window is not None:
        metadata["context_window"] = window
    if max_output is not None:
        metadata["max_output_tokens"] = max_output
    capabilities = {k: v for k, v in {"tools": tools, "vision": vision}.items() if v is not None}
    if capabilities:
        metadata["capabilities"] = capabilities
    entry: dict[str, Any] = {"metadata": metadata}
    if input_per_1m is not None and output_per_1m is not None:
        entry["pricing"] = {"input_per_1m": input_per_1m, "output_per_1m": output_per_1m}
    return entry


FLEET = {
    "frontier": model(5, 15, quality=0.92, window=128000, max_output=4096, tools=True, vision=True),
    "mid": model(0.5, 1.5, quality=0.8, window=16000, max_output=4096, tools=True),
    "small": model(0.1, 0.2, quality=0.7, window=8000, max_output=2048, tools=False),
}


class Part(BaseModel):
    """A content part as an attribute object (messages need not be dicts)."""

    type: str
    text: str | None = None


class Message(BaseModel):
    """A chat message as an attribute object, with attribute-object parts."""

    role: str
    content: str | list[Part] | None = None
    name: str | None = None
