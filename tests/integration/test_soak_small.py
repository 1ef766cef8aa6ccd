"""The soak of bench/soak.py, small: 500 routed requests at concurrency 20 directly against the loopback upstream,
10% of them faulted; every request ends in exactly one success or typed error, and none exceeds its cap."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

SOAK_PATH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"


def load_soak() -> ModuleType:
    """``bench/soak.py`` as a module (``bench`` is not a package)."""
    name = "costmux_bench_soak"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SOAK_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.soak
async def test_small_soak_accounts_for_every_request_within_its_cap() -> None:
    soak = load_soak()
    start = time.monotonic()
    report = await soak.run_soak(soak.SoakConfig(requests=500, concurrency=20, fault_rate=0.1, seed=1))
    elapsed = time.monotonic() - start
    print("\n" + soak.render(report))
    assert report.total == 500
    assert report.unaccounted == 0, report.unaccounted_detail
    assert report.over_cap == 0, report.largest_overshoot_usd
    assert report.successes + sum(report.typed_errors.values()) == 500
    assert report.successes > 150 and report.budget_refusals > 0  # the cap refuses some, most are served
    assert report.requests_meeting_a_fault > 0 and sum(report.faults_injected.values()) > 0
    assert report.fallbacks > 0 and report.client_retries > 0
    assert report.proxy_retries == 0  # direct: every HTTP attempt reached the upstream, and nothing else did
    assert report.refused_client_side <= report.provider_calls
    for name, state in report.models.items():  # nothing left reserved: every admission was settled
        rate = state["rate_limit"]
        assert rate["requests_available"] <= rate["requests_per_minute"], name
    assert elapsed < 30
