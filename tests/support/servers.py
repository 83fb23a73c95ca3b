"""Test conveniences on the package's one launcher (``RedisServer``): named nodes, polling, port probes.

``RedisServer`` here is the package's launcher with the run's server (``--server``, see
``support.server_kinds``) as its default executable, so every suite built on it runs on
Redis or on Valkey alike; under ``--deny-scripting`` its default user may not run scripts.
"""

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from hug_store_redis.cli import embedded
from hug_store_redis.cli.embedded import HOST, free_port
from support.server_kinds import DENY_SCRIPTING, scripting_denied, selected_server

__all__ = ["HOST", "Node", "RedisServer", "free_port", "refuses_connections", "wait_for"]


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


def refuses_connections(port: int, deadline: float = 10.0) -> bool:
    """Poll until nothing listens on the port (the server may take a moment to exit)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        with socket.socket() as probe:
            if probe.connect_ex((HOST, port)) != 0:
                return True
        time.sleep(0.05)
    return False


class RedisServer(embedded.RedisServer):
    """``embedded.RedisServer`` starting the run's server unless given another ``executable``."""

    def __init__(self, directory: Path | str, *arguments: str, executable: str | None = None, **options: Any):
        executable = executable or selected_server().executable
        if scripting_denied():
            arguments = (*arguments, *DENY_SCRIPTING)
        super().__init__(directory, *arguments, executable=executable, **options)


class Node(RedisServer):
    """A started server in ``workdir/name`` (a Cluster node, a Sentinel...); ``client`` talks to it alone."""

    def __init__(self, workdir: Path, name: str, *arguments: str, **options: Any) -> None:
        directory = workdir / name
        directory.mkdir()
        # Replicas of an empty primary sync at once instead of waiting for more replicas.
        super().__init__(directory, *arguments, "--repl-diskless-sync-delay", "0", **options)
        self.name = name
        self.bus_port: int | None = None
        self.start()
        self.client = redis.Redis(host=HOST, port=self.port, socket_timeout=5, decode_responses=True)

    def stop(self) -> None:
        if hasattr(self, "client"):
            self.client.close()
        super().stop()
