"""A redis-server child a test can configure, kill and restart on the same port, and port probes."""

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from support.topology_base import free_port


class RedisProcess:
    """One redis-server on 127.0.0.1, no persistence, extra arguments as given."""

    def __init__(self, directory: Path, *arguments: str, port: int | None = None) -> None:
        self.directory = directory
        self.arguments = arguments
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, password: str | None = None) -> "RedisProcess":
        executable = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
            *self.arguments,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, password=password, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.TimeoutError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.02)
            except redis.AuthenticationError:
                break
        client.close()
        return self

    def send(self, number: int) -> None:
        """Send a signal (SIGKILL, SIGSTOP, SIGCONT...); after SIGKILL, wait for the exit."""
        assert self.process is not None
        self.process.send_signal(number)
        if number == signal.SIGKILL:
            self.process.wait(timeout=10)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped server cannot act on SIGTERM
            self.process.send_signal(sig)
            self.process.wait(timeout=10)
        self.process = None


def refuses_connections(port: int, deadline: float = 10.0) -> bool:
    """Poll until nothing listens on the port (the server may take a moment to exit)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.05)
    return False
