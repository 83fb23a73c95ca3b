"""Loopback redis-server processes for the topology fixtures: ports, polling, one node."""

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    """A port nobody listens on right now, below the kernel's ephemeral range.

    Ports the kernel hands out for port 0 are also the ones it gives outgoing connections,
    so one could be taken between this check and redis-server's bind; 20000-31999 avoids
    that. Never 6379 or 26379, which a developer may be using.
    """
    while True:
        port = random.randrange(20000, 32000)
        if port in (26379,):
            continue
        with socket.socket() as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                continue
        return port


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (redis.RedisError, OSError) as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


class Node:
    """One redis-server process; ``client`` talks to this process only."""

    def __init__(self, workdir: Path, name: str, args: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.bus_port: int | None = None
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir()
        self.log = self.dir / "server.log"
        self.process = subprocess.Popen(
            [
                *args,
                *("--port", str(self.port), "--bind", HOST, "--dir", str(self.dir)),
                *("--logfile", str(self.log), "--save", "", "--appendonly", "no"),
                *("--repl-diskless-sync-delay", "0"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(host=HOST, port=self.port, socket_timeout=5, decode_responses=True)

    def wait_ready(self) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            return bool(self.client.ping())

        wait_for(f"{self.name} on port {self.port}", answers, timeout=15)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
