"""Run a real LiteLLM proxy (``litellm[proxy]``) as a managed, offline subprocess on loopback.

The process gets its own process group, dies with its parent where ``setpriv`` can arrange it (Linux: a parent
killed by a signal it cannot handle leaves no orphan proxy), a scrubbed environment (no database, Redis, OpenAI or
LiteLLM variables except the two offline settings), a temporary working directory holding its config, and a log
file. Times are seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from app.errors import ConfigurationError, CostmuxError, redact
from app.sandbox.proxy_config import FAKE_UPSTREAM_API_KEY, ProxyModel, default_test_models, render_config

__all__ = [
    "FAKE_UPSTREAM_API_KEY",
    "LiteLLMNotFoundError",
    "LiteLLMProxy",
    "ProxyModel",
    "ProxyStartError",
    "default_test_models",
    "find_litellm_binary",
    "free_port",
    "proxy_env",
    "render_config",
]

_DROPPED_ENV_PREFIXES = ("LITELLM_", "OPENAI_", "REDIS_", "DATABASE_")
_DROPPED_ENV = {"DIRECT_URL", "PYTHONPATH", "PYTHONHOME"}
#: Offline settings of the proxy process. ``HF_HUB_OFFLINE``: LiteLLM 1.106.2 prices a *stream* of a llama- or
#: mistral-named model with a HuggingFace tokenizer it loads on its event loop; without this the download retries with
#: back-off and every request the proxy holds waits. Offline, the lookup fails at once and the stream is priced from
#: the upstream's usage.
_OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_MODE": "PRODUCTION",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
}


class LiteLLMNotFoundError(ConfigurationError, RuntimeError):
    """No ``litellm`` executable was found."""


class ProxyStartError(CostmuxError, RuntimeError):
    """The LiteLLM proxy process exited or did not become ready in time (the message has its log tail)."""


def find_litellm_binary() -> str:
    """Path of the ``litellm`` executable: ``$COSTMUX_LITELLM_BIN``, beside this Python (``costmux[proxy]``),
    ``PATH``, then the proxy virtualenv of ``scripts/install-proxy`` (``$COSTMUX_PROXY_VENV``)."""
    env = os.environ.get("COSTMUX_LITELLM_BIN")
    if env:
        if not (os.path.isfile(env) and os.access(env, os.X_OK)):
            raise LiteLLMNotFoundError(f"COSTMUX_LITELLM_BIN={env!r} is not an executable file")
        return env
    beside_python = Path(sys.executable).parent / "litellm"  # installed with costmux[proxy] in this env
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("litellm")
    if found:
        return found
    venv = Path(os.environ.get("COSTMUX_PROXY_VENV") or "~/.cache/costmux/proxy-venv").expanduser() / "bin" / "litellm"
    if venv.is_file() and os.access(venv, os.X_OK):
        return str(venv)
    raise LiteLLMNotFoundError(
        'the LiteLLM proxy is not installed: run `pip install -e ".[proxy]"` or `scripts/install-proxy` '
        "(a virtualenv in $COSTMUX_PROXY_VENV, default ~/.cache/costmux/proxy-venv), or set COSTMUX_LITELLM_BIN "
        "to the `litellm` executable"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (bind to port 0 and release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def proxy_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The subprocess environment: ``base`` (default ``os.environ``) without database, Redis, OpenAI and
    LiteLLM variables, plus the two offline settings and loopback excluded from any HTTP proxy."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(_DROPPED_ENV_PREFIXES) and k not in _DROPPED_ENV
    }
    env.update(_OFFLINE_ENV)
    no_proxy = ",".join(x for x in (env.get("NO_PROXY"), "127.0.0.1,localhost") if x)
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


_LIVE: set[LiteLLMProxy] = set()
_LIVE_LOCK = threading.Lock()
_ATEXIT_REGISTERED = False


def _stop_all() -> None:
    """atexit hook: stop every proxy this interpreter started and did not stop."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proxy in live:
        proxy.stop()


def _track(proxy: LiteLLMProxy, live: bool) -> None:
    global _ATEXIT_REGISTERED
    with _LIVE_LOCK:
        if live:
            _LIVE.add(proxy)
            if not _ATEXIT_REGISTERED:
                atexit.register(_stop_all)
                _ATEXIT_REGISTERED = True
        else:
            _LIVE.discard(proxy)


def _tail(path: Path, max_bytes: int = 4000) -> str:
    """The last ``max_bytes`` of a log file, decoded leniently ('' if it cannot be read)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - max_bytes))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


class LiteLLMProxy:
    """A real LiteLLM proxy subprocess serving ``models`` on ``host:port``.

    Args:
        models: deployments to serve.
        master_key: the proxy's master key (the only key that authenticates without a database).
        host: loopback address to bind.
        port: TCP port; ``None`` picks a free one.
        binary: the ``litellm`` executable; ``None`` uses :func:`find_litellm_binary`.
        startup_timeout_s: seconds to wait for ``GET /health/readiness`` to answer 200.
        log_path: file for the proxy's stdout/stderr; ``None``: ``proxy.log`` in the temp dir (gone on stop).
        router_settings: optional ``router_settings`` block of the config.
        litellm_settings: optional ``litellm_settings`` block (``callbacks``: the callbacks the proxy loads).
        callback_settings: optional ``callback_settings`` block (settings of those callbacks, by name).
        extra_env: variables added to the scrubbed environment (``PYTHONPATH``: where the proxy imports a callback
            from).
    """

    def __init__(
        self,
        models: Sequence[ProxyModel],
        *,
        master_key: str = "sk-costmux-test-master",
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str | None = None,
        startup_timeout_s: float = 120.0,
        log_path: str | os.PathLike[str] | None = None,
        router_settings: Mapping[str, Any] | None = None,
        litellm_settings: Mapping[str, Any] | None = None,
        callback_settings: Mapping[str, Any] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        if not models:
            raise ConfigurationError("LiteLLMProxy needs at least one model")
        self.models = list(models)
        self.host = host
        self.startup_timeout_s = startup_timeout_s
        self.router_settings = router_settings
        self.litellm_settings = litellm_settings
        self.callback_settings = callback_settings
        self.extra_env = dict(extra_env or {})
        self._master_key = master_key
        self._port_arg = port
        self._port = port
        self._binary = binary
        self._log_path_arg = Path(log_path) if log_path is not None else None
        self._log_path: Path | None = None
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """Root URL of the proxy, e.g. ``http://127.0.0.1:PORT`` (OpenAI routes live under ``/v1``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def master_key(self) -> str:
        """The master key clients send as ``Authorization: Bearer ...``."""
        return self._master_key

    @property
    def port(self) -> int:
        """The TCP port (a free one is picked at each :meth:`start` when none was given)."""
        if self._port is None:
            raise RuntimeError("LiteLLMProxy has no port before start()")
        return self._port

    @property
    def pid(self) -> int | None:
        """Process id (also its process-group id) while running, else ``None``."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_path(self) -> Path | None:
        """The proxy's log file, once started."""
        return self._log_path

    @property
    def workdir(self) -> Path | None:
        """The temporary working directory (holds ``config.yaml``) while started, else ``None``."""
        return self._tmpdir

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> LiteLLMProxy:
        """Write the config, start the process and wait until it is ready; returns ``self``. Idempotent.

        Raises:
            LiteLLMNotFoundError: no ``litellm`` executable.
            ProxyStartError: the process exited or was not ready in ``startup_timeout_s`` (log tail included).
        """
        if self._proc is not None:
            return self
        binary = self._binary or find_litellm_binary()
        self._port = self._port_arg if self._port_arg is not None else free_port(self.host)
        self._tmpdir = Path(tempfile.mkdtemp(prefix="costmux-litellm-"))
        config = self._tmpdir / "config.yaml"
        config.write_text(
            render_config(
                self.models,
                self._master_key,
                router_settings=self.router_settings,
                litellm_settings=self.litellm_settings,
                callback_settings=self.callback_settings,
            ),
            encoding="utf-8",
        )
        config.chmod(0o600)
        self._log_path = self._log_path_arg or self._tmpdir / "proxy.log"
        self._log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = _dies_with_parent([binary, "--config", str(config), "--host", self.host, "--port", str(self._port)])
        with self._log_path.open("ab") as log:
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    cwd=self._tmpdir,
                    env={**proxy_env(), **self.extra_env},
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                self._cleanup_dir()
                raise ProxyStartError(f"cannot run {binary!r}: {exc}") from exc
        _track(self, True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.base_url}/health/readiness"
        with httpx.Client(timeout=httpx.Timeout(2.0, connect=0.5), trust_env=False) as client:
            while True:
                code = self._proc.poll()
                if code is not None:
                    raise self._start_error(f"the LiteLLM proxy exited with code {code} during startup")
                try:
                    if client.get(url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() >= deadline:
                    raise self._start_error(
                        f"the LiteLLM proxy was not ready at {url} within {self.startup_timeout_s:g} s"
                    )
                time.sleep(0.2)

    def _start_error(self, reason: str) -> ProxyStartError:
        tail = _tail(self._log_path) if self._log_path else ""
        return ProxyStartError(redact(f"{reason}; log {self._log_path} ends with:\n{tail}", self._master_key))

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, SIGKILL after ``timeout_s``, reap, delete the temp dir. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            for sig, wait_s in ((signal.SIGTERM, timeout_s), (signal.SIGKILL, 10.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # stragglers left in the group by the leader
            proc.wait()
        _track(self, False)
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> LiteLLMProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LiteLLMProxy(models={[m.name for m in self.models]}, port={self._port}, pid={self.pid})"


def _dies_with_parent(cmd: list[str]) -> list[str]:
    """``cmd`` run through util-linux's ``setpriv --pdeathsig TERM`` when available: the kernel sends the proxy
    SIGTERM when the process that started it dies, however it dies (even SIGKILL, where no cleanup code can run).
    Elsewhere ``cmd`` as is (then :meth:`LiteLLMProxy.stop` and the atexit hook are the only cleanup)."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    return [setpriv, "--pdeathsig", "TERM", "--", *cmd] if setpriv else cmd
