"""Throwaway ``redis-server`` children: the one launcher of the demo, the bench and the tests.

``RedisServer`` starts one server on a free 127.0.0.1 port below the kernel's ephemeral
range, with no persistence and its output in a log file, and can signal, stop and restart
it on the same port. ``EmbeddedRedis`` wraps it for the demo and scripts: a temporary
directory, and a stop on leaving the ``with`` block, Ctrl-C and SIGTERM included.
"""

import random
import re
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

HOST = "127.0.0.1"
#: Below Linux's ephemeral range (32768-60999): the kernel never hands these to outgoing
#: connections, so a probed port stays free until redis-server binds it, unless another
#: process picks the same one (``RedisServer.start`` then tries another).
PORT_RANGE = range(20000, 32000)
RESERVED_PORTS = frozenset({6379, 26379})  # a developer's own Redis and Sentinel
START_ATTEMPTS = 5
_port_choice = random.Random()  # not the global generator: a test run reseeds that one per test


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` executable: say how to get one instead of a bare FileNotFoundError."""


def find_executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RedisServerNotFound(
            f"{name} is not installed: install it (Debian/Ubuntu: apt-get install "
            "redis-server, or `make redis-server`) or point --url/REDIS_URL at a running Redis"
        )
    return path


def free_port() -> int:
    """A loopback port in ``PORT_RANGE`` that nobody listens on right now."""
    for _attempt in range(1000):
        port = _port_choice.choice(PORT_RANGE)
        if port in RESERVED_PORTS:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE.start}-{PORT_RANGE.stop - 1} on {HOST}")


class RedisServer:
    """One redis-server child on 127.0.0.1 that saves nothing; ``arguments`` go on its command line.

    The port is chosen at the first start and kept, so a restart after ``send(SIGKILL)``
    comes back on the same address (and empty). ``config_file`` is passed first, as
    Sentinel needs it; stdout and stderr go to ``log_file`` (default ``redis.log`` in
    ``directory``), so a server that will not start says why.
    """

    host = HOST

    def __init__(
        self,
        directory: Path | str,
        *arguments: str,
        port: int | None = None,
        executable: str = "redis-server",
        config_file: Path | str | None = None,
        log_file: Path | str | None = None,
        unixsocket: Path | str | None = None,
        startup_timeout: float = 10.0,
    ) -> None:
        self.directory = Path(directory)
        self.arguments = arguments
        self.port = port or 0
        self.executable = executable
        self.config_file = config_file
        self.log_file = Path(log_file) if log_file else self.directory / "redis.log"
        self.unixsocket = str(unixsocket) if unixsocket else None
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> "RedisServer":
        """Start (or, after ``stop`` or SIGKILL, restart) the server; return once it answers."""
        if self.running:
            raise RuntimeError(f"{self.executable} on port {self.port} is already running")
        path = find_executable(self.executable)
        if self.port:  # given, or kept from an earlier start
            if self._launch(path):
                return self
            raise RuntimeError(f"{self.executable} did not start on port {self.port}: {self.log_tail()}")
        for _attempt in range(START_ATTEMPTS):
            self.port = free_port()
            if self._launch(path):
                return self
        self.port = 0
        raise RuntimeError(f"{self.executable} did not start on a free port: {self.log_tail()}")

    def _launch(self, path: str) -> bool:
        """True once the server answers; False if it exited first (the port was taken, say)."""
        command = [path, *([str(self.config_file)] if self.config_file else [])]
        command += ["--port", str(self.port), "--bind", self.host, "--dir", str(self.directory)]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", ""]
        if self.unixsocket:
            command += ["--unixsocket", self.unixsocket, "--unixsocketperm", "700"]
        command += self.arguments
        with self.log_file.open("ab") as log:
            # A session of its own: Ctrl-C reaches only our process, which then stops the
            # server in order instead of racing it.
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if self._answers():
                return True
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.executable} did not answer within {self.startup_timeout}s")

    def _answers(self) -> bool:
        """True once this very process answers: INFO names its pid.

        A server that took the port first would answer too, while ours is still failing
        to bind. One with ``requirepass`` answers only ``-NOAUTH``, which has to do.
        """
        assert self.process is not None
        reply = b""
        try:
            with socket.create_connection((self.host, self.port), timeout=1) as connection:
                connection.sendall(b"INFO server\r\n")
                while chunk := connection.recv(4096):
                    reply += chunk
                    if reply.startswith(b"-"):
                        return True
                    if found := re.search(rb"\r\nprocess_id:(\d+)\r\n", reply):
                        return int(found[1]) == self.process.pid
        except OSError:
            pass
        return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def send(self, signum: int) -> None:
        """Send a signal (SIGKILL, SIGSTOP, SIGCONT...); after SIGKILL, wait for the exit."""
        if self.process is None:
            raise RuntimeError(f"{self.executable} on port {self.port} is not running")
        self.process.send_signal(signum)
        if signum == signal.SIGKILL:
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, which a stopped server needs to act on it); safe to call twice."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 3) -> str:
        if not self.log_file.exists():
            return "no log"
        tail = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        return " | ".join(tail) or "no log"


class EmbeddedRedis:
    """``with EmbeddedRedis() as server: server.url, server.host, server.port``."""

    host = HOST

    def __init__(self, executable: str = "redis-server", startup_timeout: float = 10.0) -> None:
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.port = 0
        self._server: RedisServer | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._previous_sigterm: Any = None

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def __enter__(self) -> "EmbeddedRedis":
        find_executable(self.executable)  # before making a directory to clean up
        self._directory = tempfile.TemporaryDirectory(prefix="hug-store-redis-")
        self._install_sigterm_handler()
        try:
            self._server = RedisServer(
                self._directory.name, executable=self.executable, startup_timeout=self.startup_timeout
            ).start()
        except BaseException:
            self.stop()
            raise
        self.port = self._server.port
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None
        self._restore_sigterm_handler()

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
