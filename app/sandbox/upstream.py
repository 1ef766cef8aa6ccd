"""A loopback OpenAI-compatible upstream server (stdlib only) with deterministic, text-dependent token usage.

Endpoints: ``POST /v1/chat/completions`` (JSON or ``stream: true`` SSE) and ``GET /v1/models``.
Token counts come from :func:`count_tokens`; the completion text is derived from the prompt, so the same
request always yields the same body and usage. Faults queued with :meth:`FakeUpstream.inject` are
consumed, in order, by the next chat-completion requests.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["DEFAULT_UPSTREAM_MODELS", "FakeUpstream", "Fault", "count_tokens", "prompt_tokens_for"]

DEFAULT_UPSTREAM_MODELS: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "claude-3-haiku", "llama-3-8b")
"""Model ids listed by ``GET /v1/models`` (chat completions accept any model name)."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")
_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_FILLER = ("the", "quick", "answer", "is", "always", "deterministic", "and", "cheap", "to", "compute")
_MAX_DEFAULT_COMPLETION = 400


def count_tokens(text: str) -> int:
    """Tokens in ``text``: each run of word characters, each punctuation mark, each CJK character."""
    return len(_TOKEN_RE.findall(text))


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def prompt_tokens_for(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of a chat request: sum of :func:`count_tokens` of each content, +4 per message, +2."""
    return sum(count_tokens(_content_text(m.get("content"))) + 4 for m in messages) + 2


def _completion_pieces(messages: list[dict[str, Any]], n_tokens: int) -> list[str]:
    """The completion as ``n_tokens`` pieces (one token each) that concatenate to ``"Answer: w1 w2 ..."``."""
    words = [w.lower() for m in messages for w in _WORD_RE.findall(_content_text(m.get("content")))]
    vocab = [*reversed(words), *_FILLER]
    pieces = ["Answer", ":"] + [" " + w for w in itertools.islice(itertools.cycle(vocab), max(0, n_tokens - 2))]
    return pieces[:n_tokens]


@dataclass(frozen=True)
class Fault:
    """A canned error: HTTP ``status``, ``body`` (an OpenAI-shaped error if ``None``), extra ``headers``."""

    status: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The response body as bytes."""
        if isinstance(self.body, str):
            return self.body.encode()
        body = self.body or {
            "error": {
                "message": f"injected fault {self.status}",
                "type": "fake_upstream_error",
                "param": None,
                "code": str(self.status),
            }
        }
        return json.dumps(body).encode()


class _Server(ThreadingHTTPServer):
    """Threading server that tracks open connections so :meth:`close_connections` can end keep-alives."""

    daemon_threads = True
    owner: FakeUpstream
    _conns: set[socket.socket]
    _conns_lock: threading.Lock

    def server_activate(self) -> None:
        self._conns, self._conns_lock = set(), threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alives included)."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeUpstream/1.0"
    timeout = 120  # seconds an idle keep-alive connection is held open
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default per-request stderr logging."""

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        err = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
        self._send(status, json.dumps(err).encode())

    def do_GET(self) -> None:
        owner = self.server.owner
        owner._record(self.command, self.path)
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, f"no route {self.path}")
            return
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake-upstream"} for m in owner.models]
        self._send(200, json.dumps({"object": "list", "data": data}).encode())

    def do_POST(self) -> None:
        owner = self.server.owner
        owner._record(self.command, self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        if owner.latency_s > 0:
            time.sleep(owner.latency_s)
        fault = owner._next_fault()
        if fault is not None:
            self._send(fault.status, fault.payload(), fault.headers)
            return
        try:
            req = json.loads(raw or b"{}")
            messages = req["messages"]
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise TypeError("messages must be a list of objects")
            if not isinstance(req.get("model"), str):
                raise TypeError("model must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            self._error(400, f"invalid request: {exc}")
            return
        limit = req.get("max_completion_tokens")
        limit = req.get("max_tokens") if limit is None else limit
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            self._error(400, "max_tokens must be a positive integer")
            return
        prompt = prompt_tokens_for(messages)
        natural = min(20 + prompt // 4, _MAX_DEFAULT_COMPLETION)
        n_out = natural if limit is None else min(limit, natural)
        finish = "length" if limit is not None and limit < natural else "stop"
        pieces = _completion_pieces(messages, n_out)
        usage = {"prompt_tokens": prompt, "completion_tokens": n_out, "total_tokens": prompt + n_out}
        head = {"id": owner._next_id(), "created": int(time.time()), "model": req["model"]}
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            self._stream(head, pieces, finish, usage if include_usage else None)
            return
        body = {
            **head,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces)},
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
        }
        self._send(200, json.dumps(body).encode())

    def _stream(self, head: dict[str, Any], pieces: list[str], finish: str, usage: dict[str, int] | None) -> None:
        """Send SSE chunks (HTTP/1.1 chunked encoding) ending with an optional usage chunk and ``[DONE]``."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        base = {**head, "object": "chat.completion.chunk"}
        extra: dict[str, Any] = {"usage": None} if usage is not None else {}
        deltas: list[tuple[dict[str, Any], str | None]] = [({"role": "assistant", "content": ""}, None)]
        deltas += [({"content": p}, None) for p in pieces] + [({}, finish)]
        frames = [{**base, "choices": [{"index": 0, "delta": d, "finish_reason": f}], **extra} for d, f in deltas]
        if usage is not None:
            frames.append({**base, "choices": [], "usage": usage})
        for data in [json.dumps(f) for f in frames] + ["[DONE]"]:
            event = f"data: {data}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeUpstream:
    """An OpenAI-compatible server on loopback, run in a background daemon thread.

    Args:
        host: address to bind (loopback by default).
        port: TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        latency_s: seconds slept before answering each chat completion.
        models: ids listed by ``GET /v1/models``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        models: tuple[str, ...] = DEFAULT_UPSTREAM_MODELS,
    ) -> None:
        self.host = host
        self.latency_s = latency_s
        self.models = models
        self.faults: deque[Fault] = deque()
        self._port = port
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._count = 0
        self.request_log: deque[tuple[str, str]] = deque(maxlen=1000)
        """``(method, path)`` of the most recent requests (at most 1000), oldest first."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeUpstream:
        """Bind the socket and serve in a daemon thread; returns ``self``. Idempotent."""
        if self._server is None:
            server = _Server((self.host, self._port), _Handler)
            server.owner = self
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-upstream", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections, join the thread. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if thread is not None:
            thread.join(timeout=10)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (raises ``RuntimeError`` before :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("FakeUpstream is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """OpenAI base URL, e.g. ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def request_count(self) -> int:
        """Number of HTTP requests received so far (all paths, faulted ones included)."""
        with self._lock:
            return self._count

    def inject(
        self,
        status: int = 503,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` chat-completion requests fail with ``status``, ``body`` and ``headers``."""
        fault = Fault(status, body, dict(headers or {}))
        with self._lock:
            self.faults.extend([fault] * count)

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self._count += 1
            self.request_log.append((method, path))

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def _next_id(self) -> str:
        with self._lock:
            return f"chatcmpl-{next(self._ids)}"
