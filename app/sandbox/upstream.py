"""A loopback OpenAI-compatible upstream server (stdlib only) with deterministic, text-dependent token usage.

Endpoints: ``POST /v1/chat/completions`` (JSON or ``stream: true`` SSE) and ``GET /v1/models``.
Token counts come from :func:`count_tokens`; the completion text is derived from the prompt, so the same
request always yields the same body and usage.

Faults (:class:`Fault`) make chat completions fail the way real upstreams and networks do:

=============  ==========================================================  =======================================
kind           non-streaming request                                       streaming request
=============  ==========================================================  =======================================
``status``     the HTTP ``status`` with ``body`` and ``headers``           the same (before any chunk)
``delay``      a normal answer after ``delay_s``                           a normal stream after ``delay_s``
``reset``      the connection is reset (TCP RST), no response              reset 0.2 s after ``chunks`` frames (0:
                                                                           no response at all)
``malformed``  200 with a body that is not JSON                            ``chunks`` frames, then a frame that is
                                                                           not JSON, then ``[DONE]``
``truncate``   200 whose body is cut in the middle (Content-Length says    ``chunks`` frames, then the body ends
               more), then the connection is closed                        without ``[DONE]`` and the connection
                                                                           is closed
``slow``       headers at once, then the body in 4 pieces,                 the stream with ``chunk_delay_s``
               ``chunk_delay_s`` apart                                     before each frame after the first
=============  ==========================================================  =======================================

``delay_s`` is slept before any kind acts. Faults queued with :meth:`FakeUpstream.inject` (or the ``inject_*``
helpers) are consumed, in order, by the next chat-completion requests. A :class:`FaultMode` set with
:meth:`FakeUpstream.set_fault_mode` decides instead per request, deterministically from a seed, the request's
messages and model, so concurrent clients never take each other's faults (the queue goes first when both are set).
Every wait checks the server's stop flag, so :meth:`FakeUpstream.stop` is fast even with delayed requests pending.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

__all__ = [
    "DEFAULT_UPSTREAM_MODELS",
    "FakeUpstream",
    "Fault",
    "FaultKind",
    "FaultMode",
    "count_tokens",
    "prompt_tokens_for",
    "request_key",
]

DEFAULT_UPSTREAM_MODELS: tuple[str, ...] = ("gpt-4o", "gpt-4o-mini", "claude-3-haiku", "llama-3-8b")
"""Model ids listed by ``GET /v1/models`` (chat completions accept any model name)."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]")
_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_FILLER = ("the", "quick", "answer", "is", "always", "deterministic", "and", "cheap", "to", "compute")
_MAX_DEFAULT_COMPLETION = 400
_RESET_PAUSE_S = 0.2  # before a mid-stream reset, seconds


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
    """The completion as ``n_tokens`` pieces (one token each) that concatenate to ``"Answer: w1 w2 ..."``.

    No piece equals the one before it, whatever the prompt repeats: the LiteLLM proxy ends a stream with a 500 error
    event when about 100 chunks in a row are the same ("The model is repeating the same chunk")."""
    words = [w.lower() for m in messages for w in _WORD_RE.findall(_content_text(m.get("content")))]
    vocab = [word for word, _ in itertools.groupby([*reversed(words), *_FILLER])]  # no word twice in a row
    if vocab[0] == vocab[-1]:  # nor across the wrap of the cycle
        vocab.pop()
    pieces = ["Answer", ":"] + [" " + w for w in itertools.islice(itertools.cycle(vocab), max(0, n_tokens - 2))]
    return pieces[:n_tokens]


FaultKind = Literal["status", "delay", "reset", "malformed", "truncate", "slow"]
_FAULT_KINDS: tuple[str, ...] = ("status", "delay", "reset", "malformed", "truncate", "slow")


@dataclass(frozen=True)
class Fault:
    """A canned fault of one chat completion (see the module docstring for what each ``kind`` does).

    Attributes:
        status: HTTP status of a ``status`` fault.
        body: body of a ``status`` fault (an OpenAI-shaped error if ``None``), or of a ``malformed`` answer (a
            string; a fixed non-JSON text if ``None``).
        headers: extra headers of a ``status`` fault.
        kind: what goes wrong.
        delay_s: seconds slept before the fault acts (for ``delay``, before the normal answer).
        chunks: stream frames sent before a ``reset``, ``malformed`` frame or ``truncate``.
        chunk_delay_s: seconds between pieces of a ``slow`` answer.
        label: the name counted in :attr:`FakeUpstream.fault_counts` (default: the status, or the kind).
        model: only requests for this model take the fault from the queue (others pass it by); ``None``: any.
    """

    status: int = 503
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    kind: FaultKind = "status"
    delay_s: float = 0.0
    chunks: int = 0
    chunk_delay_s: float = 0.0
    label: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {_FAULT_KINDS}")
        if self.delay_s < 0 or self.chunk_delay_s < 0 or self.chunks < 0:
            raise ValueError("delay_s, chunk_delay_s and chunks must not be negative")

    @property
    def name(self) -> str:
        """The label counted for this fault."""
        return self.label or (str(self.status) if self.kind == "status" else self.kind)

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


def request_key(messages: Any, model: Any) -> str:
    """A stable digest of a chat request's model and message texts (roles and text only, so a proxy that adds
    fields to the messages it forwards does not change it)."""
    parts = [str(model)]
    if isinstance(messages, list):
        parts += [f"{m.get('role')}:{_content_text(m.get('content'))}" for m in messages if isinstance(m, dict)]
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class FaultMode:
    """Per-request faults chosen deterministically: a request (its message texts and model) is faulted with
    probability ``rate``, with one of ``faults`` picked uniformly, both from a hash of ``seed`` and the request.

    The same request to the same model always gets the same answer, so every retry of a faulted request fails the
    same way (the caller's retries run out and a router falls back to another model, which is a different request
    key). Concurrency cannot mix faults up, and a client can predict them with :meth:`choose`. With ``transient``,
    only the first request of each (messages, model) pair that the upstream sees is faulted: a retry gets through.
    """

    rate: float
    faults: Sequence[Fault]
    seed: int = 0
    transient: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be in [0, 1]")
        if self.rate > 0 and not self.faults:
            raise ValueError("a positive rate needs at least one fault")

    def choose(self, messages: Any, model: Any) -> Fault | None:
        """The fault for this request, or ``None``."""
        digest = hashlib.sha256(f"{self.seed}\0{request_key(messages, model)}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        if draw >= self.rate:
            return None
        return self.faults[int.from_bytes(digest[8:16], "big") % len(self.faults)]


class _Server(ThreadingHTTPServer):
    """Threading server that tracks open connections so :meth:`close_connections` can end keep-alives."""

    daemon_threads = True
    request_queue_size = 512  # listen backlog (socketserver's default of 5 drops connects under concurrency)
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

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (timeout, reset) is expected here: only report other errors."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeUpstream/1.0"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: without TCP_NODELAY, Nagle and
    # the client's delayed ACK hold the body back ~40 ms per answer
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
        owner._record_chat()
        if owner.latency_s > 0 and owner._wait(owner.latency_s):
            self._abort()
            return
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = None
        fault = owner._next_fault(req)
        if fault is not None and fault.kind != "delay":
            self._fault(fault, req)
            return
        if fault is not None and owner._wait(fault.delay_s):
            self._abort()
            return
        try:
            if not isinstance(req, dict):
                raise ValueError("the body is not a JSON object")
            messages = req["messages"]
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise TypeError("messages must be a list of objects")
            if not isinstance(req.get("model"), str):
                raise TypeError("model must be a string")
        except (ValueError, KeyError, TypeError) as exc:
            self._error(400, f"invalid request: {exc}")
            return
        self._answer(req, messages)

    def _answer(self, req: dict[str, Any], messages: list[dict[str, Any]], fault: Fault | None = None) -> None:
        """The normal answer to a valid request; ``fault`` (``reset``, ``malformed``, ``truncate``, ``slow``)
        spoils it."""
        owner = self.server.owner
        limit = req.get("max_completion_tokens")
        limit = req.get("max_tokens") if limit is None else limit
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            self._error(400, "max_tokens must be a positive integer")
            return
        owner._record_limit(req)
        prompt = owner._billed_prompt_tokens(messages, req["model"])
        natural = owner._natural_completion_tokens(messages, req["model"], prompt)
        # a reasoning model thinks first, within the same limit, and bills its reasoning as completion tokens
        reasoning = owner._reasoning_tokens_for(req)
        if limit is not None:
            reasoning = min(reasoning, limit)
        room = None if limit is None else limit - reasoning
        n_out = natural if room is None else min(room, natural)
        finish = "length" if room is not None and room < natural else "stop"
        pieces = _completion_pieces(messages, n_out)
        completion = reasoning + n_out
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        if owner.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        owner._record_usage(messages, req["model"], prompt, completion)
        head = {"id": owner._next_id(), "created": int(time.time()), "model": req["model"]}
        if req.get("stream"):
            include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
            self._stream(head, pieces, finish, usage if include_usage else None, fault)
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
        payload = json.dumps(body).encode()
        if fault is None:
            self._send(200, payload)
        elif fault.kind == "truncate":
            self.close_connection = True
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
        elif fault.kind == "slow":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            step = max(1, -(-len(payload) // 4))
            for i in range(0, len(payload), step):
                if i and owner._wait(fault.chunk_delay_s):
                    self._abort()
                    return
                self.wfile.write(payload[i : i + step])
        else:  # reset
            self._abort()

    # -- faults ------------------------------------------------------------------------------------------------

    def _abort(self) -> None:
        """Reset the connection (TCP RST: SO_LINGER 0, then close) without a response or the rest of it."""
        self.close_connection = True
        conn = self.connection
        with contextlib.suppress(OSError):
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.rfile.close()  # drop the makefile reference so close() really closes the socket
        with contextlib.suppress(OSError):
            conn.close()

    def _fault(self, fault: Fault, req: Any) -> None:
        """Act out ``fault`` (any kind but ``delay``) for the parsed request ``req``."""
        owner = self.server.owner
        if fault.delay_s and owner._wait(fault.delay_s):
            self._abort()
            return
        if fault.kind == "status":
            self._send(fault.status, fault.payload(), fault.headers)
            return
        stream = isinstance(req, dict) and bool(req.get("stream"))
        if fault.kind == "malformed" and not stream:
            text = fault.body if isinstance(fault.body, str) else '{"id": "chatcmpl-broken", "choices": [{"ind'
            self._send(200, text.encode())
            return
        if fault.kind == "reset" and not (stream and fault.chunks):
            self._abort()
            return
        messages = req.get("messages") if isinstance(req, dict) else None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            self._abort()  # nothing valid to spoil: behave like a reset
            return
        self._answer(req, messages, fault)

    def _stream(
        self,
        head: dict[str, Any],
        pieces: list[str],
        finish: str,
        usage: dict[str, int] | None,
        fault: Fault | None = None,
    ) -> None:
        """Send SSE chunks (HTTP/1.1 chunked encoding) ending with an optional usage chunk and ``[DONE]``;
        ``fault`` cuts, spoils or slows the stream."""
        owner = self.server.owner
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
        payloads = [json.dumps(f) for f in frames]
        kind = fault.kind if fault is not None else None
        if fault is not None and kind in ("reset", "malformed", "truncate"):
            payloads = payloads[: fault.chunks]
            if kind == "malformed":
                payloads.append('{"id": "chunk-broken", "choices": [{"delta"')
        if kind in (None, "slow", "malformed"):
            payloads.append("[DONE]")
        for i, data in enumerate(payloads):
            if kind == "slow" and i and owner._wait(fault.chunk_delay_s if fault else 0.0):
                self._abort()
                return
            event = f"data: {data}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        if kind == "reset":
            owner._wait(_RESET_PAUSE_S)  # a RST discards what the client has not read yet: let it read the frames
            self._abort()
            return
        if kind == "truncate":
            self.close_connection = True
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeUpstream:
    """An OpenAI-compatible server on loopback, run in a background daemon thread.

    Args:
        host: address to bind (loopback by default).
        port: TCP port; 0 picks a free one (read :attr:`port` after :meth:`start`).
        latency_s: seconds slept before answering each chat completion.
        models: ids listed by ``GET /v1/models``.
        record_usage: keep :attr:`usage_log`, the usage of every answer generated (also those the client never
            got: a timed-out ``delay``, a cut ``truncate``), to compare what an upstream would bill with a budget.
        completion_tokens: the length of the full answer to a request, tokens, from its ``(messages, model)``
            (``None`` from it, or no function: ``min(20 + prompt_tokens // 4, 400)``); ``max_tokens`` still cuts it.
        reasoning_tokens: the reasoning tokens a request spends before its answer, from its whole body (so it can read
            ``reasoning_effort``); ``None``: none. They come out of the same limit (``max_completion_tokens`` or
            ``max_tokens``) first, are billed in ``completion_tokens`` and reported in
            ``usage.completion_tokens_details.reasoning_tokens``, as OpenAI's reasoning models do.
        prompt_tokens: the prompt tokens billed for a request, from its ``(messages, model)`` (``None`` from it, or
            no function: :func:`prompt_tokens_for`): e.g. each model's own tokenizer, as real upstreams bill.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_s: float = 0.0,
        models: tuple[str, ...] = DEFAULT_UPSTREAM_MODELS,
        *,
        record_usage: bool = False,
        completion_tokens: Callable[[list[dict[str, Any]], str], int | None] | None = None,
        reasoning_tokens: Callable[[dict[str, Any]], int | None] | None = None,
        prompt_tokens: Callable[[list[dict[str, Any]], str], int | None] | None = None,
    ) -> None:
        self.host = host
        self.completion_tokens = completion_tokens
        self.reasoning_tokens = reasoning_tokens
        self.prompt_tokens = prompt_tokens
        self.limit_log: deque[tuple[str, str | None, int | None]] = deque(maxlen=1000)
        """``(model, limit field, value)`` of the most recent chat requests: which output limit the upstream was
        sent (``max_completion_tokens`` wins when both are), ``(model, None, None)`` for none."""
        self.record_usage = record_usage
        self.usage_log: list[tuple[str, str, int, int]] = []
        """``(messages key, model, prompt_tokens, completion_tokens)`` of every generated answer (with
        ``record_usage``); the key is :func:`request_key` of the messages with an empty model."""
        self._chat_count = 0
        self.latency_s = latency_s
        self.models = models
        self.faults: deque[Fault] = deque()
        self.fault_mode: FaultMode | None = None
        self._mode_seen: set[str] = set()  # (messages, model) keys a transient fault mode has faulted
        self.fault_counts: Counter[str] = Counter()
        """How many chat completions each fault (by :attr:`Fault.name`) spoiled so far."""
        self._stopping = threading.Event()
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
            self._stopping.clear()
            server = _Server((self.host, self._port), _Handler)
            server.owner = self
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-upstream", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections, join the thread. Idempotent.

        Requests still waiting (``delay_s``, ``latency_s``, a slow stream) wake up at once and reset their
        connection, so this never waits for them."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        self._stopping.set()
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
        *,
        kind: FaultKind = "status",
        delay_s: float = 0.0,
        chunks: int = 0,
        chunk_delay_s: float = 0.0,
        model: str | None = None,
    ) -> None:
        """Make the next ``count`` chat-completion requests (for ``model`` only, if given) fail: by default with
        HTTP ``status``, ``body`` and ``headers``; other ``kind`` values as in the module docstring."""
        fault = Fault(status, body, dict(headers or {}), kind, delay_s, chunks, chunk_delay_s, model=model)
        self.inject_fault(fault, count=count)

    def inject_fault(self, fault: Fault, count: int = 1) -> None:
        """Queue ``fault`` for the next ``count`` chat-completion requests."""
        with self._lock:
            self.faults.extend([fault] * count)

    def inject_delay(self, delay_s: float, count: int = 1) -> None:
        """Answer the next ``count`` chat completions normally, after ``delay_s`` (to trigger client timeouts)."""
        self.inject_fault(Fault(kind="delay", delay_s=delay_s), count)

    def inject_reset(self, count: int = 1, *, after_chunks: int = 0) -> None:
        """Reset the connection of the next ``count`` chat completions without a response; a stream is reset
        after ``after_chunks`` frames."""
        self.inject_fault(Fault(kind="reset", chunks=after_chunks), count)

    def inject_malformed(self, count: int = 1, *, body: str | None = None, after_chunks: int = 0) -> None:
        """Answer 200 with a body that is not JSON (a stream: ``after_chunks`` frames, then one that is not)."""
        self.inject_fault(Fault(kind="malformed", body=body, chunks=after_chunks), count)

    def inject_truncated(self, count: int = 1, *, chunks: int = 2) -> None:
        """Cut the answer: half a JSON body, or a stream of ``chunks`` frames whose body ends without ``[DONE]``."""
        self.inject_fault(Fault(kind="truncate", chunks=chunks), count)

    def inject_slow(self, chunk_delay_s: float, count: int = 1) -> None:
        """Send the answer slowly: ``chunk_delay_s`` before each stream frame after the first (or each quarter of a
        JSON body)."""
        self.inject_fault(Fault(kind="slow", chunk_delay_s=chunk_delay_s), count)

    def set_fault_mode(self, mode: FaultMode | None) -> None:
        """Decide faults per request with ``mode`` (``None``: off). Queued faults still go first."""
        with self._lock:
            self.fault_mode = mode
            self._mode_seen.clear()

    def clear_faults(self) -> None:
        """Drop queued faults and the fault mode (counters are kept)."""
        with self._lock:
            self.faults.clear()
            self.fault_mode = None
            self._mode_seen.clear()

    @property
    def chat_request_count(self) -> int:
        """Number of ``POST /v1/chat/completions`` received so far (faulted ones included)."""
        with self._lock:
            return self._chat_count

    def _record_chat(self) -> None:
        with self._lock:
            self._chat_count += 1

    def _billed_prompt_tokens(self, messages: list[dict[str, Any]], model: str) -> int:
        """Prompt tokens billed for a request: see ``prompt_tokens``."""
        if self.prompt_tokens is not None:
            billed = self.prompt_tokens(messages, model)
            if billed is not None:
                return max(0, int(billed))
        return prompt_tokens_for(messages)

    def _natural_completion_tokens(self, messages: list[dict[str, Any]], model: str, prompt_tokens: int) -> int:
        """Tokens of the full answer (before ``max_tokens``): see ``completion_tokens``."""
        if self.completion_tokens is not None:
            chosen = self.completion_tokens(messages, model)
            if chosen is not None:
                return max(1, int(chosen))
        return min(20 + prompt_tokens // 4, _MAX_DEFAULT_COMPLETION)

    def _reasoning_tokens_for(self, req: dict[str, Any]) -> int:
        """Reasoning tokens of one request (see ``reasoning_tokens``)."""
        if self.reasoning_tokens is None:
            return 0
        chosen = self.reasoning_tokens(req)
        return max(0, int(chosen)) if chosen is not None else 0

    def _record_limit(self, req: dict[str, Any]) -> None:
        field_name = next((name for name in ("max_completion_tokens", "max_tokens") if req.get(name) is not None), None)
        entry = (str(req.get("model")), field_name, req.get(field_name) if field_name is not None else None)
        with self._lock:
            self.limit_log.append(entry)

    def _record_usage(self, messages: list[dict[str, Any]], model: Any, prompt: int, completion: int) -> None:
        if self.record_usage:
            entry = (request_key(messages, ""), str(model), prompt, completion)
            with self._lock:
                self.usage_log.append(entry)

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self._count += 1
            self.request_log.append((method, path))

    def _next_fault(self, req: Any) -> Fault | None:
        model = req.get("model") if isinstance(req, dict) else None
        with self._lock:
            fault: Fault | None = None
            for i, queued in enumerate(self.faults):
                if queued.model is None or queued.model == model:
                    fault = queued
                    del self.faults[i]
                    break
            mode = self.fault_mode
            if fault is None and mode is not None and isinstance(req, dict):
                fault = mode.choose(req.get("messages"), model)
                if fault is not None and mode.transient:
                    key = request_key(req.get("messages"), model)
                    if key in self._mode_seen:
                        fault = None
                    else:
                        self._mode_seen.add(key)
            if fault is not None:
                self.fault_counts[fault.name] += 1
            return fault

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server stops first; returns whether it is stopping."""
        if seconds <= 0:
            return self._stopping.is_set()
        return self._stopping.wait(seconds)

    def _next_id(self) -> str:
        with self._lock:
            return f"chatcmpl-{next(self._ids)}"
