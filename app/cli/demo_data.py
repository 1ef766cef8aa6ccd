"""The demo's bundled data: its proxy models (``app/data/demo_models.json``, priced from the catalog) and its
workload of varied prompts (``app/data/demo_workload.json``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from app.errors import ConfigurationError

__all__ = ["DemoPrompt", "answer_lengths", "demo_proxy_models", "load_json", "load_workload", "upstream_latency_s"]

MODELS_FILE = "data/demo_models.json"
WORKLOAD_FILE = "data/demo_workload.json"


@dataclass(frozen=True, slots=True)
class DemoPrompt:
    """One prompt of the workload: what it is meant to be (``label``), its full text, and the length of the full
    answer the demo's upstream gives to it (``answer_tokens``)."""

    label: str
    text: str
    answer_tokens: int

    @property
    def messages(self) -> list[dict[str, str]]:
        """The chat request: one user message."""
        return [{"role": "user", "content": self.text}]

    def short(self, width: int = 34) -> str:
        """The first line of the text, cut to ``width`` characters (a pasted document's size in characters)."""
        first = self.text.split("\n", 1)[0]
        size = f" [+{len(self.text) - len(first):,} chars]" if len(self.text) > len(first) + 1 else ""
        room = width - len(size)
        return (first if len(first) <= room else first[: room - 1] + "…") + size


def load_json(name: str) -> Any:
    """A bundled JSON file of the ``app`` package. Raises ConfigurationError if it is missing or invalid."""
    try:
        return json.loads(resources.files("app").joinpath(name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"bundled demo file app/{name} cannot be read: {exc}") from exc


def _attachment(spec: dict[str, Any]) -> str:
    """The generated lines of an attachment: ``template`` formatted ``count`` times (see the workload file)."""
    template, count = spec["template"], int(spec["count"])
    return "\n".join(
        template.format(i=i, a=37 * i % 60, b=7919 * i % 1000, c=i % 7, h=7 * i % 24) for i in range(1, count + 1)
    )


def load_workload() -> list[DemoPrompt]:
    """The bundled workload, attachments expanded (deterministic)."""
    data = load_json(WORKLOAD_FILE)
    prompts = []
    try:
        for item in data["prompts"]:
            text = item["text"]
            if "attachment" in item:
                text += "\n\n" + _attachment(item["attachment"])
            prompts.append(DemoPrompt(str(item["label"]), text, int(item["answer_tokens"])))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ConfigurationError(f"bundled demo workload app/{WORKLOAD_FILE} is malformed: {exc!r}") from exc
    return prompts


def answer_lengths(prompts: Sequence[DemoPrompt]) -> Callable[[list[dict[str, Any]], str], int | None]:
    """The upstream's ``completion_tokens`` function: a workload prompt's ``answer_tokens``, found by the text of
    the request's last message (``None`` for other requests: the upstream's default length)."""
    lengths = {prompt.text: prompt.answer_tokens for prompt in prompts}

    def length(messages: list[dict[str, Any]], model: str) -> int | None:
        content = messages[-1].get("content") if messages else None
        return lengths.get(content) if isinstance(content, str) else None

    return length


def upstream_latency_s() -> float:
    """Seconds the demo's loopback upstream takes per answer."""
    return float(load_json(MODELS_FILE).get("upstream_latency_s", 0.0))


def demo_proxy_models(upstream_base_url: str) -> list[Any]:
    """The demo's proxy deployments (:class:`app.sandbox.ProxyModel`): each served under its demo name at the
    catalog's public price (USD per token), context window and maximum output, answered by the upstream."""
    from app.catalog import default_catalog
    from app.sandbox import ProxyModel

    catalog = default_catalog()
    models = []
    for item in load_json(MODELS_FILE)["models"]:
        entry = catalog.find(item["catalog"])
        if entry is None:
            raise ConfigurationError(f"demo model {item['name']!r}: no catalog entry {item['catalog']!r}")
        models.append(
            ProxyModel(
                item["name"],
                f"openai/{item['name']}",
                float(entry.pricing.input_usd_per_token),
                float(entry.pricing.output_usd_per_token),
                max_tokens=entry.max_output_tokens,
                max_input_tokens=entry.context_window_tokens,
                max_output_tokens=entry.max_output_tokens,
                rpm=item.get("rpm"),
                tpm=item.get("tpm"),
                api_base=upstream_base_url,
                model_id=f"{item['name']}-demo",
            )
        )
    return models
