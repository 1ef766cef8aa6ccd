"""``costmux route`` and ``costmux models`` against the real LiteLLM proxy (in-process ``main``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.cli import EXIT_BUDGET, EXIT_ERROR, main
from app.sandbox import LiteLLMProxy, free_port


@pytest.fixture
def connect(litellm_proxy: LiteLLMProxy) -> list[str]:
    return ["--proxy-url", litellm_proxy.base_url, "--api-key", litellm_proxy.master_key]


def test_route_dry_run_prints_the_decision_table(connect: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["route", "Write a Python function that reverses a string.", "--max-cost", "0.002", "--dry-run", *connect]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("chosen: litellm/") and "why: " in out and "task: code_generation" in out
    rows = [line for line in out.splitlines() if line.startswith("litellm/")]
    assert len(rows) == 5 and sum("CHOSEN" in row for row in rows) == 1
    gpt4o = next(row for row in rows if row.startswith("litellm/gpt-4o "))
    assert re.search(r"\s2\.5\s+10\s", gpt4o)  # prices per 1M tokens from the proxy


def test_route_sends_and_reports_the_actual_cost(connect: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["route", "What is the capital of Italy?", "--max-cost", "0.01", "--strategy", "heuristic", *connect])
    out = capsys.readouterr().out
    cost = re.search(r"actual cost \$(\d+\.\d+)", out)
    assert code == 0 and cost is not None and float(cost.group(1)) <= 0.01


def test_a_zero_cap_is_served_by_the_free_model(connect: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["route", "Summarize: " + "lorem ipsum " * 200, "--max-cost", "0", "--dry-run", *connect])
    assert code == 0 and capsys.readouterr().out.startswith("chosen: litellm/llama-3-8b ")


def test_route_refused_by_the_budget_exits_3(connect: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # too long for the free model's 8,192-token window, too expensive for every other model
    code = main(["route", "word " * 9000, "--max-cost", "0.0000001", "--dry-run", *connect])
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BUDGET
    assert err.startswith("costmux: no model fits max_cost $0.0000001") and "\n" not in err


def test_models_lists_prices_windows_limits_health_and_token_family(
    connect: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", *connect]) == 0
    out = capsys.readouterr().out
    assert re.search(
        r"^gpt-4o\s+2\.5\s+10\s+128000\s+16384\s+-\s+-\s+closed\s+openai_o200k\s+prior \(no calls yet\)\s+gpt-4o$",
        out,
        re.MULTILINE,
    )
    # what each name resolved to: mock-gpt serves openai/gpt-4o-mini
    assert re.search(r"^mock-gpt\s.*closed\s+openai_o200k\s+prior \(no calls yet\)\s+gpt-4o-mini$", out, re.MULTILINE)
    assert re.search(r"^claude-3-haiku\s.*\santhropic\s", out, re.MULTILINE)
    assert re.search(r"^llama-3-8b\s+0\s+0\s", out, re.MULTILINE)


def test_unreachable_proxy_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["models", "--proxy-url", url, "--api-key", "k"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("costmux: ") and "\n" not in err and "proxy is running" in err


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ([], ["demo"], ["route"], ["models"]):
        with pytest.raises(SystemExit) as caught:
            main([*command, "--help"])
        assert caught.value.code == 0
    assert "--max-cost" in capsys.readouterr().out


def test_eval_takes_prices_from_the_proxy(
    connect: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``costmux eval --proxy-url``: prices read once from the real proxy's /model/info, then routed offline."""
    data = tmp_path / "o.jsonl"
    rows = [
        {"prompt": "What is the capital of Italy?", "scores": {"gpt-4o": 1, "gpt-4o-mini": 1}},
        {"prompt": "Solve step by step: 2x + 3 = 11.", "scores": {"gpt-4o": 1, "gpt-4o-mini": 0}},
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "report"
    code = main(["eval", str(data), "--no-catalog", "--no-plot", "--quiet", "--out", str(out), *connect])
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "o.json").read_text())
    assert result["models"]["gpt-4o"]["input_usd_per_1m"] == pytest.approx(2.5)
    assert result["models"]["gpt-4o"]["output_usd_per_1m"] == pytest.approx(10)
    assert result["models"]["gpt-4o"]["source"] == "proxy" and result["models"]["gpt-4o"]["quality_data"] == "none"
    assert result["oracle"]["quality"] == 1.0
