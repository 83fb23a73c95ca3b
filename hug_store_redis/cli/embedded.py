"""EmbeddedRedis: a throwaway ``redis-server`` child for the demo and the benchmarks.

It listens on a free 127.0.0.1 port, keeps its files in a temporary directory, saves
nothing to disk, and is stopped on leaving the ``with`` block, Ctrl-C and SIGTERM included.
"""

import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import redis


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` executable: say how to get one instead of a bare FileNotFoundError."""


class EmbeddedRedis:
    """``with EmbeddedRedis() as server: server.url, server.host, server.port``."""

    host = "127.0.0.1"

    def __init__(self, executable: str = "redis-server", startup_timeout: float = 10.0) -> None:
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._previous_sigterm: Any = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def __enter__(self) -> "EmbeddedRedis":
        path = shutil.which(self.executable)
        if path is None:
            raise RedisServerNotFound(
                f"{self.executable} is not installed: install it (Debian/Ubuntu: apt-get install "
                "redis-server, or `make redis-server`) or point --url/REDIS_URL at a running Redis"
            )
        self._directory = tempfile.TemporaryDirectory(prefix="hug-store-redis-")
        self._install_sigterm_handler()
        try:
            for _attempt in range(3):  # another process may take the free port before redis does
                if self._start(path):
                    return self
            raise RuntimeError(f"redis-server did not start: {self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self, path: str) -> bool:
        assert self._directory is not None
        self.port = _free_port(self.host)
        arguments = [path, "--port", str(self.port), "--bind", self.host, "--dir", self._directory.name]
        arguments += ["--save", "", "--appendonly", "no", "--logfile", "redis.log", "--daemonize", "no"]
        # A session of its own: Ctrl-C reaches only this process, which then stops the server
        # in order instead of racing it.
        self._process = subprocess.Popen(
            arguments, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + self.startup_timeout
        client = redis.Redis(host=self.host, port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
        finally:
            client.close()
        self._terminate()
        raise RuntimeError(f"redis-server did not answer PING within {self.startup_timeout}s")

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        self._terminate()
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None
        self._restore_sigterm_handler()

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _log_tail(self) -> str:
        if self._directory is None:
            return "no log"
        log = Path(self._directory.name) / "redis.log"
        lines = log.read_text(errors="replace").splitlines()[-3:] if log.exists() else []
        return " | ".join(lines) or "no log"

    def _install_sigterm_handler(self) -> None:
        """SIGTERM would kill Python without running ``__exit__``: turn it into SystemExit.

        Only when nobody else handles SIGTERM, and only from the main thread (the only
        place Python lets a handler be set).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)

    def _restore_sigterm_handler(self) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
