"""The seed's examples (basic chat, streaming, cost comparison, custom models, health monitoring) run as written
against the real LiteLLM proxy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.sandbox import LiteLLMProxy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(proxy: LiteLLMProxy, name: str, *args: str) -> str:
    env = {**os.environ, "LITELLM_BASE_URL": proxy.base_url, "LITELLM_API_KEY": proxy.master_key}
    env["PYTHONPATH"] = str(EXAMPLES.parent)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert proxy.master_key not in done.stdout + done.stderr
    return done.stdout


def test_basic_chat(litellm_proxy: LiteLLMProxy) -> None:
    out = run_example(litellm_proxy, "basic_chat.py", "gpt-4o-mini")
    assert "Response: Answer" in out and "Tokens: " in out and "Cost: $0.0000" in out


def test_streaming(litellm_proxy: LiteLLMProxy) -> None:
    lines = run_example(litellm_proxy, "streaming.py", "gpt-4o").splitlines()
    assert lines[0].strip() and lines[1].startswith("Tokens: ") and lines[2].startswith("Cost: $")
    assert float(lines[2].removeprefix("Cost: $")) > 0


def test_cost_comparison(litellm_proxy: LiteLLMProxy) -> None:
    out = run_example(litellm_proxy, "cost_comparison.py")
    # 1,000 prompt + 500 completion tokens: gpt-4o = 1000*2.5e-6 + 500*1e-5 = $0.0075
    assert "gpt-4o               $0.007500" in out and "llama-3-8b           $0.000000" in out


def test_custom_models(litellm_proxy: LiteLLMProxy) -> None:
    out = run_example(litellm_proxy, "custom_models.py")
    assert "1K+1K tokens on gpt-4o-mini: 0.00075" in out and "my-local-llama" in out


@pytest.mark.parametrize("name", ["health_monitoring.py"])
def test_health_monitoring(litellm_proxy: LiteLLMProxy, name: str) -> None:
    out = run_example(litellm_proxy, name)
    assert "Proxy healthy: True" in out and "gpt-4o-mini" in out
