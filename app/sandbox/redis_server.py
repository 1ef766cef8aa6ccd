"""``RedisServer``: a real ``redis-server`` process on a free loopback port in its own directory (tests, benchmarks).

It needs the ``redis-server`` binary (Debian: ``apt-get install redis-server``; ``.ci/run`` installs it). The server
binds 127.0.0.1 only, keeps its files in ``directory``, and persists with an append-only file (``appendonly yes``,
fsync every second), so :meth:`restart` keeps what was written, as a production Redis configured for budgets does
(docs/deployment.md).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from app.errors import ConfigurationError

__all__ = ["RedisServer", "RedisServerError", "find_redis_server"]


class RedisServerError(ConfigurationError, RuntimeError):
    """``redis-server`` is missing or did not start."""


def find_redis_server() -> str:
    """The ``redis-server`` binary on PATH (also /usr/sbin, /usr/bin).

    Raises:
        RedisServerError: none is installed.
    """
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin:/usr/local/bin")
    if found is None:
        raise RedisServerError("redis-server is not installed (Debian: apt-get install -y redis-server)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A managed ``redis-server``: ``start()``, ``stop()``, ``restart()`` (same port, same data), ``url``.

    Args:
        directory: where its files and log go (default: a new temporary directory, removed by :meth:`stop`).
        port: the port (default: a free one).
        persist: keep an append-only file so a restart keeps the data.
    """

    def __init__(self, directory: Path | None = None, *, port: int | None = None, persist: bool = True) -> None:
        self._own_dir = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="costmux-redis-")) if directory is None else directory
        self.port = port or _free_port()
        self.persist = persist
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _command(self) -> list[str]:
        command = [find_redis_server(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        command += ["--save", "", "--daemonize", "no", "--protected-mode", "yes", "--logfile", "redis.log"]
        if self.persist:
            command += ["--appendonly", "yes", "--appendfsync", "everysec"]
        return command

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        """Start it and wait until it answers ``PING``.

        Raises:
            RedisServerError: no binary, or it did not answer within ``timeout_s``.
        """
        if self.running:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        self._process = subprocess.Popen(
            self._command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RedisServerError(f"redis-server exited with {self._process.returncode}: {self._log_tail()}")
            if self._ping():
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} within {timeout_s} s")

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        log = self.directory / "redis.log"
        return log.read_text(errors="replace")[-500:] if log.exists() else "(no log)"

    def kill(self) -> None:
        """Stop it at once (SIGKILL): what the append-only file has is kept, the rest lost."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def stop(self, *, remove: bool = True) -> None:
        """Stop it (SIGTERM: it flushes its append-only file); remove a directory it created."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if remove and self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)

    def restart(self) -> RedisServer:
        """Stop (keeping its files) and start again on the same port."""
        self.stop(remove=False)
        return self.start()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
