"""The callback's flush at proxy shutdown: LiteLLM has no shutdown hook for callbacks, so the callback leaves a task
that the server's ``asyncio.Runner`` cancels when it stops, and awaits its work then (the real proxy with Redis:
``tests/integration/test_plugin_redis.py``)."""

from __future__ import annotations

import asyncio
import importlib

import pytest


def test_the_work_runs_when_the_runner_cancels_the_tasks_left_and_not_before(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # importing LiteLLM must not reach the network
    callback_module = importlib.import_module("app.integrations._litellm_callback")
    done: list[str] = []

    async def work() -> None:
        await asyncio.sleep(0)  # the loop still runs: connections can still be used
        done.append("flushed")

    async def serve() -> None:
        asyncio.get_running_loop().create_task(callback_module.run_at_shutdown(work))
        await asyncio.sleep(0.01)

    with asyncio.Runner() as runner:
        runner.run(serve())
        assert done == []  # the server stopped; the runner has not closed yet
    assert done == ["flushed"]


def test_a_failing_flush_is_logged_and_the_shutdown_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    callback_module = importlib.import_module("app.integrations._litellm_callback")

    async def work() -> None:
        raise ConnectionError("redis went away")

    async def serve() -> None:
        asyncio.get_running_loop().create_task(callback_module.run_at_shutdown(work))
        await asyncio.sleep(0.01)

    with caplog.at_level("WARNING", logger="costmux.integrations"), asyncio.Runner() as runner:
        runner.run(serve())
    assert "could not flush at shutdown" in caplog.text
