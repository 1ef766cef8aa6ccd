"""``costmux demo`` end to end, as a user runs it: a subprocess that starts a real LiteLLM proxy, routes the bundled
workload with both strategies, prints tables, a summary and a metrics excerpt, and stops everything it started
(also on Ctrl-C and SIGTERM). ``--proxy-url`` mode runs against the session proxy."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from decimal import Decimal

import pytest

from app.cli.demo_data import load_workload
from app.sandbox import FakeUpstream, LiteLLMProxy

STRATEGIES = ("cost_optimized", "heuristic")
SUMMARY = re.compile(
    r"^(?P<strategy>\w+): (?P<routed>\d+) routed, (?P<refused>\d+) refused for budget, (?P<failed>\d+) failed, "
    r"(?P<cut>\d+) cut by max_tokens, (?P<violations>\d+) budget violations; total \$(?P<total>\d+\.\d{8})$",
    re.MULTILINE,
)
BASELINE = re.compile(
    r"^  vs always (?P<model>\S+) \((?P<role>most expensive|cheapest)\): \$(?P<total>\d+\.\d{8}) "
    r"for the same (?P<n>\d+) prompts",
    re.MULTILINE,
)
READY = re.compile(r"LiteLLM proxy ready at http://127\.0\.0\.1:(\d+) \(pid (\d+)\)")
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", *args], capture_output=True, text=True, timeout=300, env=ENV
    )


def section(out: str, title: str) -> str:
    """The text of the ``== title ==`` section, up to the next section."""
    start = out.index(f"== {title}")
    end = out.find("\n== ", start + 1)
    return out[start : end if end != -1 else len(out)]


def table_rows(out: str, strategy: str) -> list[tuple[int, str, Decimal | None]]:
    """``(index, model, actual cost)`` of each row of a strategy's table (``None``: nothing was answered)."""
    rows = []
    for line in section(out, f"Strategy {strategy}").splitlines()[3:]:
        match = re.match(r"^\s+(\d+)  .{36}  \S+\s+(\S+).*?(\$\d+\.\d{8}|-) +(\$\d+\.\d{8}|-)  ", line)
        assert match is not None, line
        actual = match.group(4)
        rows.append((int(match.group(1)), match.group(2), Decimal(actual[1:]) if actual != "-" else None))
    return rows


def summaries(out: str) -> dict[str, dict[str, str]]:
    return {m["strategy"]: m.groupdict() for m in SUMMARY.finditer(section(out, "Summary"))}


def metric_sum(out: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` in the metrics excerpt whose labels include ``labels``."""
    total = 0.0
    for line in section(out, "Prometheus metrics").splitlines():
        match = re.match(rf"^{name}{{(.*)}} (\S+)$", line)
        if match and all(f'{key}="{value}"' in match.group(1) for key, value in labels.items()):
            total += float(match.group(2))
    return total


def assert_gone(pid: int, port: int) -> None:
    """The proxy's process group is gone and its port is free (nothing accepts connections on it)."""
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_demo_routes_the_workload_with_both_strategies_and_stops_its_proxy() -> None:
    done = run_demo()
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    n_prompts = len(load_workload())
    assert f"Summary: {n_prompts} prompts, max_cost $0.01 per request" in out
    assert "Budget violations (actual cost > max_cost): 0" in out
    quality = section(out, "Summary").split("Quality:", 1)[1]  # quality next to the savings
    assert all(f"  {strategy}: GSM8K 0." in quality and "MT-Bench" in quality for strategy in STRATEGIES)
    stats = summaries(out)
    assert set(stats) == set(STRATEGIES)
    baselines = [m.groupdict() for m in BASELINE.finditer(section(out, "Summary"))]
    assert [b["role"] for b in baselines] == ["most expensive", "cheapest"] * 2
    for number, strategy in enumerate(STRATEGIES):
        summary = stats[strategy]
        routed, refused = int(summary["routed"]), int(summary["refused"])
        assert routed + refused == n_prompts and summary["failed"] == "0" and summary["violations"] == "0"
        assert refused >= 1  # the bundled cap refuses the pasted ~150k-token documents (see DEFAULT_MAX_COST_USD)
        rows = table_rows(out, strategy)
        assert [index for index, *_ in rows] == list(range(1, n_prompts + 1))
        actual = [cost for *_, cost in rows if cost is not None]
        assert len(actual) == routed and all(0 < cost <= Decimal("0.01") for cost in actual)
        rounding = Decimal("0.000000005") * len(actual)  # the table shows costs to 8 decimals
        assert abs(sum(actual) - Decimal(summary["total"])) <= rounding  # the summary adds up the table
        assert sum(model == "REFUSED" for _, model, _ in rows) == refused
        most, cheapest = baselines[2 * number : 2 * number + 2]
        assert most["n"] == cheapest["n"] == str(routed)
        assert Decimal(cheapest["total"]) <= Decimal(summary["total"]) <= Decimal(most["total"])
        # the scraped metrics agree with the tables
        assert metric_sum(out, "costmux_routing_decisions_total", strategy=strategy) == routed
        assert metric_sum(out, "costmux_budget_refusals_total", strategy=strategy, reason="over_budget") == refused
    assert metric_sum(out, "costmux_requests_total", outcome="success") == sum(int(s["routed"]) for s in stats.values())
    assert metric_sum(out, "costmux_cost_usd_total") > 0
    # the heuristic pays for quality; cost_optimized does not pay more than it
    assert Decimal(stats["cost_optimized"]["total"]) <= Decimal(stats["heuristic"]["total"])
    ready = READY.search(out)
    assert ready is not None
    assert f"Stopped the LiteLLM proxy (pid {ready.group(2)})" in out
    assert_gone(int(ready.group(2)), int(ready.group(1)))
    assert "routing with cost_optimized" in done.stderr and "50/50" in done.stderr  # the progress bar


def test_demo_against_an_existing_proxy(litellm_proxy: LiteLLMProxy, fake_upstream: FakeUpstream) -> None:
    sent_before = fake_upstream.chat_request_count
    done = run_demo("--proxy-url", litellm_proxy.base_url, "--api-key", litellm_proxy.master_key)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "Starting a local LiteLLM proxy" not in out and "Stopped the LiteLLM proxy" not in out
    assert f"Models synced from {litellm_proxy.base_url}/model/info" in out
    stats = summaries(out)
    assert set(stats) == set(STRATEGIES)
    assert all(s["violations"] == "0" and s["failed"] == "0" for s in stats.values())
    assert "Budget violations (actual cost > max_cost): 0" in out
    # the baselines are priced, not sent: the upstream saw exactly the routed requests (mock-gpt answers itself)
    assert "Baselines: priced, not sent" in out
    assert len(BASELINE.findall(section(out, "Summary"))) == 4
    routed_upstream = sum(
        model not in ("REFUSED", "FAILED", "mock-gpt")
        for strategy in STRATEGIES
        for _, model, _ in table_rows(out, strategy)
    )
    assert fake_upstream.chat_request_count - sent_before == routed_upstream
    assert litellm_proxy.running  # the demo leaves a proxy it did not start alone


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_demo_stops_everything_it_started(sig: signal.Signals) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        assert demo.stdout is not None
        seen = ""
        ready = None
        for line in demo.stdout:
            seen += line
            ready = ready or READY.search(line)
            if line.startswith("== Routing"):  # interrupt while requests are in flight
                break
        assert ready is not None, seen + (demo.stderr.read() if demo.stderr else "")
        demo.send_signal(sig)
        out, err = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, err[-3000:]
    assert "interrupted" in err and "Traceback" not in err
    assert f"Stopped the LiteLLM proxy (pid {ready.group(2)})" in out
    assert_gone(int(ready.group(2)), int(ready.group(1)))


def test_demo_with_an_unreachable_proxy_fails_with_one_clear_line() -> None:
    done = run_demo("--proxy-url", "http://127.0.0.1:9", "--api-key", "k")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("costmux: ") and "Traceback" not in done.stderr


def test_the_demo_upstream_gives_each_workload_prompt_its_answer_length() -> None:
    import httpx

    from app.cli.demo_data import answer_lengths
    from app.sandbox import FakeUpstream, prompt_tokens_for

    prompts = load_workload()
    code = next(p for p in prompts if p.label == "code")
    with FakeUpstream(completion_tokens=answer_lengths(prompts)) as upstream, httpx.Client(trust_env=False) as client:

        def completion(content: str, **extra: int) -> dict[str, object]:
            body = {"model": "m", "messages": [{"role": "user", "content": content}], **extra}
            answer = client.post(f"{upstream.base_url}/chat/completions", json=body).json()
            return {"tokens": answer["usage"]["completion_tokens"], "finish": answer["choices"][0]["finish_reason"]}

        assert completion(code.text) == {"tokens": code.answer_tokens, "finish": "stop"}
        assert completion(code.text, max_tokens=10) == {"tokens": 10, "finish": "length"}
        other = [{"role": "user", "content": "not in the workload"}]
        assert completion("not in the workload")["tokens"] == 20 + prompt_tokens_for(other) // 4  # the default rule


def test_a_request_over_max_cost_is_reported_as_a_violation_and_fails_the_demo(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from app.cli.demo import _verdict
    from app.cli.demo_report import summary
    from app.cli.demo_run import Baseline, Row, StrategyRun

    prompt = load_workload()[0]
    cap = Decimal("0.01")
    within = Row(1, prompt, model="a", actual_usd=cap)  # exactly at the cap is allowed
    over = Row(2, prompt, model="b", actual_usd=cap + Decimal("0.00000001"))
    run = StrategyRun("cost_optimized", cap, [within, over])
    baseline = Baseline("b", "most expensive", costs={1: Decimal("0.02"), 2: Decimal("0.02")})
    text = summary([run], {"cost_optimized": [baseline.compare(run)]}, 2)
    assert "2 routed, 0 refused for budget, 0 failed, 0 cut by max_tokens, 1 budget violations" in text
    assert "vs always b (most expensive): $0.04000000 for the same 2 prompts; cost_optimized saved 50.0%" in text
    assert text.endswith("Budget violations (actual cost > max_cost): 1")
    assert _verdict([run], [baseline]) == 1
    assert "1 requests cost more than max_cost" in capsys.readouterr().err
    assert _verdict([StrategyRun("cost_optimized", cap, [within])], [baseline]) == 0
