"""The costmux callback with each of its hooks timed, for ``bench/bench_plugin.py``: what the callback costs inside the
real proxy (wall time and the CPU time of the thread running it, per call), where the in-process floor's hot loop
does not tell (the proxy's other work between two requests leaves the callback's code and data cold).

A proxy loads ``bench._timed_callback.timed_callback`` instead of ``app.integrations.litellm_proxy.costmux_callback``
(the same settings block); every 50 pre-call hooks the totals are written as JSON to the file named by
``COSTMUX_BENCH_HOOK_TIMES``. Benchmarks only: never in a deployment.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.integrations.litellm_proxy import build_callback

__all__ = ["CALLBACK_PATH", "HOOKS", "timed_callback"]

CALLBACK_PATH = "bench._timed_callback.timed_callback"
#: the hooks timed: (name in the results, the CustomLogger method)
HOOKS = (
    ("pre-call", "async_pre_call_hook"),
    ("deployment", "async_pre_call_deployment_hook"),
    ("headers", "async_post_call_response_headers_hook"),
    ("success", "async_log_success_event"),
)
_totals: dict[str, list[float]] = {}  # hook: [calls, wall s, thread CPU s]


def _timed(name: str, hook: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(hook)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return await hook(*args, **kwargs)
        finally:
            total = _totals.setdefault(name, [0, 0.0, 0.0])
            total[0] += 1
            total[1] += time.perf_counter() - wall
            total[2] += time.thread_time() - cpu
            if name == "pre-call" and total[0] % 50 == 0:
                _write()

    return timed


def _write() -> None:
    path = os.environ.get("COSTMUX_BENCH_HOOK_TIMES")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(_totals, out)


def _build() -> Any:
    callback = build_callback()
    for name, method in HOOKS:
        setattr(callback, method, _timed(name, getattr(callback, method)))
    return callback


timed_callback = _build()
