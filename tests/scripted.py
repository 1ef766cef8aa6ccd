"""Test doubles shared by the event and metrics tests: a fake clock and a scripted proxy (``httpx.MockTransport``
handler) that takes ``CALL_S`` of that clock per chat call."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.unit.conftest import completion_body

__all__ = ["CALL_S", "PRICED", "FakeClock", "ScriptedProxy", "StepClock", "chunk"]

CALL_S = 0.25  # seconds each scripted chat call takes on the fake clock
PRICED = {"pricing": {"input_per_1m": 2, "output_per_1m": 8}}  # $2e-6 / $8e-6 per token


class FakeClock:
    """A monotonic clock that moves only when told to; ``sleep`` records each wait and advances the clock."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class StepClock:
    """Each reading is ``step_s`` later than the last (a decision's time = step × readings between start and end)."""

    def __init__(self, step_s: float) -> None:
        self.now = 0.0
        self.step_s = step_s

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now


class ScriptedProxy:
    """Scripted proxy: per-model queue of answers (``int`` status, or SSE bytes); 200 JSON with 10 prompt and
    ``completion_tokens`` completion tokens when the queue is empty. Each chat answer takes ``CALL_S`` on the clock;
    every chat body is kept in ``sent``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.script: dict[str, list[int | bytes]] = {}
        self.sent: list[dict[str, Any]] = []
        self.completion_tokens = 20

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/model/info":
            return httpx.Response(200, json={"data": []})
        body = json.loads(request.content)
        self.sent.append(body)
        self.clock.now += CALL_S
        queue = self.script.get(body["model"]) or []
        answer = queue.pop(0) if queue else 200
        if isinstance(answer, bytes):
            return httpx.Response(200, content=answer, headers={"content-type": "text/event-stream"})
        if answer == 429:
            return httpx.Response(
                429, json={"error": {"message": "slow down"}}, headers={"llm_provider-retry-after": "60"}
            )
        if answer != 200:
            return httpx.Response(answer, json={"error": {"message": "scripted failure"}})
        return httpx.Response(
            200, json=completion_body(model=body["model"], prompt=10, completion=self.completion_tokens)
        )


def chunk(content: str | None = None, finish: str | None = None, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` frame: a content delta and/or a finish reason, or (with ``usage``) the usage-only
    frame."""
    choice: dict[str, Any] = {"index": 0, "delta": {"content": content} if content is not None else {}}
    if finish:
        choice["finish_reason"] = finish
    frame: dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "choices": [] if usage else [choice]}
    if usage:
        frame["usage"] = usage
    return frame
