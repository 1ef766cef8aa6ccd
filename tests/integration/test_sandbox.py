"""The sandbox works: the fake upstream alone, the config/launcher helpers, and the real LiteLLM proxy in front
of the upstream (usage, per-token cost, streaming usage chunk, model info, error shapes, clean shutdown)."""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import ConfigurationError
from app.sandbox import (
    FakeUpstream,
    LiteLLMNotFoundError,
    LiteLLMProxy,
    ProxyModel,
    ProxyStartError,
    count_tokens,
    default_test_models,
    find_litellm_binary,
    prompt_tokens_for,
    proxy_env,
    render_config,
)
from app.sandbox.upstream import _completion_pieces

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = {m.name: m for m in default_test_models("http://127.0.0.1:9/v1")}
MESSAGES = [
    {"role": "system", "content": "You are terse."},  # 4 tokens
    {"role": "user", "content": "Hello, world!"},  # 4 tokens
]
MESSAGES_PROMPT_TOKENS = 4 + 4 + 2 * 4 + 2  # contents + 4 per message + 2
MESSAGES_COMPLETION_TOKENS = 20 + MESSAGES_PROMPT_TOKENS // 4  # the upstream's natural length


def sse_data(lines: Iterator[str] | list[str]) -> list[str]:
    """The ``data:`` payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in lines if line.startswith("data: ")]


def expected_cost(model: str, usage: dict[str, Any]) -> float:
    """USD: prompt_tokens × input price + completion_tokens × output price of a default test model."""
    m = MODELS[model]
    assert m.input_cost_per_token is not None and m.output_cost_per_token is not None
    prompt, completion = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    return prompt * m.input_cost_per_token + completion * m.output_cost_per_token


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# --------------------------------------------------------------------------------------------------------------
# The fake upstream alone
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def upstream_client(upstream: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=upstream.base_url, timeout=10.0, trust_env=False) as client:
        yield client


def test_count_tokens_is_text_dependent() -> None:
    assert count_tokens("") == 0
    assert count_tokens("Hello, world!") == 4
    assert count_tokens("don't stop") == 4  # don ' t stop
    assert count_tokens("你好世界") == 4  # one token per CJK character
    assert count_tokens("price: 2.5e-6 USD") == 8
    assert prompt_tokens_for(MESSAGES) == MESSAGES_PROMPT_TOKENS == 18
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hello,"}, {"type": "text", "text": "world!"}]}]
    assert prompt_tokens_for(parts) == 4 + 4 + 2


def test_upstream_non_stream_usage(upstream: FakeUpstream, upstream_client: httpx.Client) -> None:
    assert upstream.base_url == f"http://127.0.0.1:{upstream.port}/v1"
    r = upstream_client.post("/chat/completions", json={"model": "any-model", "messages": MESSAGES})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "any-model"
    assert body["id"].startswith("chatcmpl-")
    assert body["usage"] == {
        "prompt_tokens": 18,
        "completion_tokens": MESSAGES_COMPLETION_TOKENS,
        "total_tokens": 18 + MESSAGES_COMPLETION_TOKENS,
    }
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["content"].startswith("Answer:")
    assert count_tokens(choice["message"]["content"]) == MESSAGES_COMPLETION_TOKENS
    again = upstream_client.post("/chat/completions", json={"model": "any-model", "messages": MESSAGES}).json()
    assert again["choices"] == body["choices"] and again["usage"] == body["usage"]
    assert again["id"] != body["id"]
    assert upstream.request_count == 2


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
def test_upstream_honours_max_tokens(upstream_client: httpx.Client, param: str) -> None:
    r = upstream_client.post("/chat/completions", json={"model": "m", "messages": MESSAGES, param: 5})
    body = r.json()
    assert body["usage"]["completion_tokens"] == 5
    assert count_tokens(body["choices"][0]["message"]["content"]) == 5
    assert body["choices"][0]["finish_reason"] == "length"
    big = upstream_client.post("/chat/completions", json={"model": "m", "messages": MESSAGES, param: 1000})
    assert big.json()["usage"]["completion_tokens"] == MESSAGES_COMPLETION_TOKENS
    assert big.json()["choices"][0]["finish_reason"] == "stop"
    bad = upstream_client.post("/chat/completions", json={"model": "m", "messages": MESSAGES, param: 0})
    assert bad.status_code == 400


def test_upstream_stream_with_include_usage(upstream_client: httpx.Client) -> None:
    req = {"model": "m", "messages": MESSAGES, "max_tokens": 6}
    plain = upstream_client.post("/chat/completions", json=req).json()
    stream_req = {**req, "stream": True, "stream_options": {"include_usage": True}}
    with upstream_client.stream("POST", "/chat/completions", json=stream_req) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        frames = sse_data(list(r.iter_lines()))
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == plain["usage"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert text == plain["choices"][0]["message"]["content"]
    # Without include_usage there is no usage chunk.
    with upstream_client.stream("POST", "/chat/completions", json={**req, "stream": True}) as r:
        frames = sse_data(list(r.iter_lines()))
    assert frames[-1] == "[DONE]"
    assert all("usage" not in json.loads(f) for f in frames[:-1])


def test_upstream_injected_429_and_500(upstream: FakeUpstream, upstream_client: httpx.Client) -> None:
    req = {"model": "m", "messages": MESSAGES}
    upstream.inject(status=429, headers={"retry-after": "3"})
    r = upstream_client.post("/chat/completions", json=req)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    assert r.json()["error"]["code"] == "429"
    upstream.inject(status=500, body={"error": {"message": "boom"}}, count=2)
    assert [upstream_client.post("/chat/completions", json=req).status_code for _ in range(3)] == [500, 500, 200]
    assert not upstream.faults
    assert upstream.request_count == 4


def test_upstream_models_and_stop_frees_port() -> None:
    up = FakeUpstream().start()
    port = up.port
    with httpx.Client(trust_env=False) as client:
        ids = [m["id"] for m in client.get(f"{up.base_url}/models").json()["data"]]
        assert "gpt-4o" in ids
        up.stop()
        up.stop()  # idempotent
        with pytest.raises(httpx.ConnectError):
            client.get(f"http://127.0.0.1:{port}/v1/models", timeout=2.0)
    with socket.socket() as sock:  # a new server can listen there (SO_REUSEADDR, as servers set it)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    with pytest.raises(RuntimeError):
        _ = up.port


# --------------------------------------------------------------------------------------------------------------
# Config, environment and launcher helpers (no proxy process needed)
# --------------------------------------------------------------------------------------------------------------


def test_import_is_side_effect_free() -> None:
    code = (
        "import sys, threading, app.sandbox; "
        "print(sorted(m for m in ('app.sandbox.proxy', 'app.sandbox.upstream', 'httpx') if m in sys.modules), "
        "threading.active_count())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["[]", "1"]


def test_render_config_is_json_with_yaml_safe_floats() -> None:
    text = render_config(list(MODELS.values()), "sk-m", router_settings={"routing_strategy": "simple-shuffle"})
    assert "1e-05" not in text and "1.0e-05" in text  # PyYAML reads a dotless 1e-05 as a *string*
    config = json.loads(text)
    assert config["general_settings"] == {"master_key": "sk-m"}
    assert config["router_settings"] == {"routing_strategy": "simple-shuffle"}
    entries = {e["model_name"]: e for e in config["model_list"]}
    assert entries["gpt-4o"]["litellm_params"] == {
        "model": "openai/gpt-4o",
        "api_key": "sk-fake-upstream",
        "api_base": "http://127.0.0.1:9/v1",
    }
    assert entries["gpt-4o"]["model_info"]["output_cost_per_token"] == 1e-5
    assert entries["llama-3-8b"]["model_info"]["input_cost_per_token"] == 0.0
    assert "api_base" not in entries["mock-gpt"]["litellm_params"]
    assert entries["mock-gpt"]["litellm_params"]["mock_response"] == "hello"
    assert "rpm" not in entries["gpt-4o"]["model_info"]
    with pytest.raises(ConfigurationError):
        render_config([ProxyModel("a", "openai/a", model_id="x"), ProxyModel("b", "openai/b", model_id="x")], "k")
    with pytest.raises(ConfigurationError):
        render_config([ProxyModel("a", "openai/a", input_cost_per_token=math.inf)], "k")


def test_proxy_env_is_scrubbed() -> None:
    base = {
        "PATH": "/bin",
        "HOME": "/root",
        "DATABASE_URL": "postgres://x",
        "DIRECT_URL": "postgres://y",
        "REDIS_HOST": "r",
        "OPENAI_API_KEY": "sk-real",
        "LITELLM_MASTER_KEY": "sk-m",
        "LITELLM_LOG": "DEBUG",
    }
    env = proxy_env(base)
    assert env["PATH"] == "/bin" and env["HOME"] == "/root"
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True" and env["LITELLM_MODE"] == "PRODUCTION"
    assert env["HF_HUB_OFFLINE"] == "1"  # else a llama-named stream stalls the proxy offline (tokenizer download)
    assert not {"DATABASE_URL", "DIRECT_URL", "REDIS_HOST", "OPENAI_API_KEY", "LITELLM_MASTER_KEY"} & set(env)
    assert {k for k in env if k.startswith("LITELLM_")} == {"LITELLM_LOCAL_MODEL_COST_MAP", "LITELLM_MODE"}
    assert "127.0.0.1" in env["NO_PROXY"]


def test_find_litellm_binary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "litellm"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("COSTMUX_LITELLM_BIN", str(fake))
    assert find_litellm_binary() == str(fake)
    monkeypatch.setenv("COSTMUX_LITELLM_BIN", str(tmp_path / "missing"))
    with pytest.raises(LiteLLMNotFoundError):
        find_litellm_binary()
    monkeypatch.delenv("COSTMUX_LITELLM_BIN")
    # an interpreter with no litellm beside it (`pip install -e ".[proxy]"` puts one beside the real one)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python3"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(LiteLLMNotFoundError, match=r"pip install -e") as info:
        find_litellm_binary()
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ConfigurationError)


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-litellm"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


def test_start_failure_reports_redacted_log_tail(tmp_path: Path) -> None:
    binary = _script(tmp_path, 'cat "$2"; echo "fatal: cannot bind" >&2; exit 3\n')
    proxy = LiteLLMProxy([MODELS["mock-gpt"]], master_key="sk-secret-master-123", binary=binary)
    with pytest.raises(ProxyStartError) as info:
        proxy.start()
    message = str(info.value)
    assert "exited with code 3" in message and "fatal: cannot bind" in message
    assert "sk-secret-master-123" not in message and '"master_key": "***"' in message
    assert proxy.pid is None and proxy.workdir is None


def test_start_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    log = tmp_path / "proxy.log"
    binary = _script(tmp_path, 'sleep 60 &\necho "child=$!"\nexec sleep 60\n')
    proxy = LiteLLMProxy([MODELS["mock-gpt"]], binary=binary, startup_timeout_s=1.0, log_path=log)
    with pytest.raises(ProxyStartError, match="not ready"):
        proxy.start()
    child = int(log.read_text().split("child=")[1].split()[0])
    assert not alive(child)
    assert proxy.pid is None


# --------------------------------------------------------------------------------------------------------------
# The real LiteLLM proxy in front of the fake upstream
# --------------------------------------------------------------------------------------------------------------


def test_proxy_readiness_needs_no_key(litellm_proxy: LiteLLMProxy) -> None:
    r = httpx.get(f"{litellm_proxy.base_url}/health/readiness", timeout=5.0, trust_env=False)
    assert r.status_code == 200
    assert r.json()["status"] == "healthy"
    assert litellm_proxy.running and litellm_proxy.base_url == f"http://127.0.0.1:{litellm_proxy.port}"


def test_proxy_lists_configured_models(proxy_client: httpx.Client) -> None:
    data = proxy_client.get("/v1/models").json()["data"]
    assert {m["id"] for m in data} == set(MODELS)


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4o-mini", "claude-3-haiku"])
def test_proxy_chat_returns_upstream_usage_and_cost_header(
    proxy_client: httpx.Client, fake_upstream: FakeUpstream, model: str
) -> None:
    req = {"model": model, "messages": MESSAGES}
    direct = httpx.post(f"{fake_upstream.base_url}/chat/completions", json=req, trust_env=False).json()
    before = fake_upstream.request_count
    r = proxy_client.post("/v1/chat/completions", json=req)
    assert r.status_code == 200, r.text
    body = r.json()
    assert fake_upstream.request_count == before + 1
    assert body["usage"]["prompt_tokens"] == MESSAGES_PROMPT_TOKENS
    assert body["usage"]["completion_tokens"] == MESSAGES_COMPLETION_TOKENS
    assert {k: body["usage"][k] for k in direct["usage"]} == direct["usage"]
    assert body["choices"][0]["message"]["content"] == direct["choices"][0]["message"]["content"]
    assert body["model"] == model and r.headers["x-litellm-model-group"] == model
    assert r.headers["x-litellm-model-id"] == MODELS[model].model_id
    cost = float(r.headers["x-litellm-response-cost"])
    assert math.isclose(cost, expected_cost(model, body["usage"]), rel_tol=1e-9, abs_tol=1e-15)


def test_proxy_forwards_max_tokens(proxy_client: httpx.Client) -> None:
    r = proxy_client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 7})
    body = r.json()
    assert body["usage"]["completion_tokens"] == 7
    assert body["choices"][0]["finish_reason"] == "length"
    assert math.isclose(float(r.headers["x-litellm-response-cost"]), expected_cost("gpt-4o", body["usage"]))


def test_proxy_free_model_sends_no_cost_header(proxy_client: httpx.Client) -> None:
    r = proxy_client.post("/v1/chat/completions", json={"model": "llama-3-8b", "messages": MESSAGES})
    assert r.status_code == 200
    assert r.json()["usage"]["prompt_tokens"] == MESSAGES_PROMPT_TOKENS
    # Quirk of litellm 1.106.2: a $0 response has no x-litellm-response-cost header at all.
    assert "x-litellm-response-cost" not in r.headers
    assert float(r.headers["x-litellm-response-cost-original"]) == 0.0


def test_proxy_mock_model_answers_without_upstream(proxy_client: httpx.Client, fake_upstream: FakeUpstream) -> None:
    before = fake_upstream.request_count
    r = proxy_client.post("/v1/chat/completions", json={"model": "mock-gpt", "messages": MESSAGES})
    body = r.json()
    assert body["choices"][0]["message"]["content"] == "hello"
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
    assert math.isclose(float(r.headers["x-litellm-response-cost"]), expected_cost("mock-gpt", body["usage"]))
    assert fake_upstream.request_count == before


def test_proxy_stream_ends_with_usage_chunk_carrying_cost(proxy_client: httpx.Client) -> None:
    req = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    with proxy_client.stream("POST", "/v1/chat/completions", json=req) as r:
        assert r.status_code == 200
        assert "x-litellm-response-cost" not in r.headers  # no cost header on streams
        frames = sse_data(list(r.iter_lines()))
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    last = chunks[-1]
    assert last["usage"]["prompt_tokens"] == MESSAGES_PROMPT_TOKENS
    assert last["usage"]["completion_tokens"] == MESSAGES_COMPLETION_TOKENS
    assert math.isclose(last["usage"]["cost"], expected_cost("gpt-4o-mini", last["usage"]), rel_tol=1e-9)
    assert last["choices"] == [{"index": 0, "delta": {}}]  # not [] as OpenAI (and the upstream) send
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert count_tokens(text) == MESSAGES_COMPLETION_TOKENS


@pytest.mark.parametrize("prompt", ["lorem " * 600, "compute " * 300 + "the", "ok"])
def test_upstream_never_sends_the_same_piece_twice_in_a_row(prompt: str) -> None:
    """The proxy ends a stream with a 500 error event after ~100 identical chunks in a row."""
    pieces = _completion_pieces([{"role": "user", "content": prompt}], 1000)
    assert len(pieces) == 1000
    assert all(a != b for a, b in itertools.pairwise(pieces))


def _stream_through_proxy(client: httpx.Client, model: str, prompt: str, max_tokens: int) -> list[dict[str, Any]]:
    req = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with client.stream("POST", "/v1/chat/completions", json=req, timeout=httpx.Timeout(20.0)) as r:
        assert r.status_code == 200
        frames = sse_data(list(r.iter_lines()))
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert not [c for c in chunks if "error" in c], "the stream ended with an error event"
    return chunks


def test_proxy_streams_a_llama_named_model_offline(proxy_client: httpx.Client) -> None:
    """LiteLLM prices a llama/mistral-named stream with a HuggingFace tokenizer loaded on its event loop; offline
    that download would stall the proxy unless it runs with HF_HUB_OFFLINE=1 (a stall fails the 20 s read timeout)."""
    chunks = _stream_through_proxy(proxy_client, "llama-3-8b", "Tell me about llamas in the Andes. " * 20, 40)
    assert chunks[-1]["usage"]["completion_tokens"] == 40


def test_proxy_streams_a_long_answer_to_a_repetitive_prompt(proxy_client: httpx.Client) -> None:
    chunks = _stream_through_proxy(proxy_client, "gpt-4o-mini", "lorem " * 1600, 400)  # the longest answer
    assert chunks[-1]["usage"]["completion_tokens"] == 400


def test_proxy_model_info_returns_prices(proxy_client: httpx.Client) -> None:
    entries = {e["model_name"]: e for e in proxy_client.get("/model/info").json()["data"]}
    assert set(entries) == set(MODELS)
    for name, model in MODELS.items():
        info = entries[name]["model_info"]
        assert info["id"] == model.model_id
        for key in ("input_cost_per_token", "output_cost_per_token"):
            assert math.isclose(float(info[key]), getattr(model, key), rel_tol=1e-12), (name, key)
        if model.max_input_tokens is not None:
            assert int(info["max_input_tokens"]) == model.max_input_tokens


def test_proxy_error_shapes(litellm_proxy: LiteLLMProxy, proxy_client: httpx.Client) -> None:
    req = {"model": "no-such-model", "messages": MESSAGES}
    unknown = proxy_client.post("/v1/chat/completions", json=req)
    assert unknown.status_code == 400 and "Invalid model name" in unknown.json()["error"]["message"]
    req["model"] = "mock-gpt"
    url = f"{litellm_proxy.base_url}/v1/chat/completions"
    wrong = httpx.post(url, json=req, headers={"Authorization": "Bearer sk-wrong"}, trust_env=False)
    assert wrong.status_code == 400 and wrong.json()["error"]["type"] == "no_db_connection"
    missing = httpx.post(url, json=req, trust_env=False)
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "auth_error"


def test_proxy_retries_a_single_upstream_500(proxy_client: httpx.Client, fake_upstream: FakeUpstream) -> None:
    fake_upstream.inject(status=500)
    before = fake_upstream.request_count
    try:
        r = proxy_client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES})
    finally:
        fake_upstream.faults.clear()
    assert r.status_code == 200
    assert r.headers["x-litellm-attempted-retries"] == "1"
    assert fake_upstream.request_count == before + 2


@pytest.mark.stops_proxy
def test_stop_frees_port_and_leaves_no_process(litellm_proxy: LiteLLMProxy) -> None:
    pid, port, workdir = litellm_proxy.pid, litellm_proxy.port, litellm_proxy.workdir
    assert pid is not None and alive(pid) and workdir is not None and workdir.exists()
    litellm_proxy.stop()
    assert litellm_proxy.pid is None and not litellm_proxy.running
    assert not alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing left in its process group
    assert not workdir.exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health/readiness", timeout=2.0, trust_env=False)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
    litellm_proxy.stop()  # idempotent


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie no parent reaps does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def test_a_killed_parent_leaves_no_orphan_proxy(tmp_path: Path) -> None:
    """SIGKILL (no cleanup code can run) of the process that started the proxy: the proxy goes too."""
    if not sys.platform.startswith("linux") or shutil.which("setpriv") is None:
        pytest.fail("this test needs Linux with util-linux's setpriv (CI has it)")
    script = (
        "import sys, time\n"
        "from app.sandbox import LiteLLMProxy, default_test_models\n"
        "proxy = LiteLLMProxy(default_test_models('http://127.0.0.1:9'), log_path=sys.argv[1]).start()\n"
        "print(proxy.pid, proxy.port, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path / "proxy.log")],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        pid, port = (int(part) for part in parent.stdout.readline().split())
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
            pytest.fail(f"the proxy (pid {pid}) outlived its killed parent")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # the port is free again
    finally:
        parent.kill()
        parent.wait()
