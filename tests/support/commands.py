"""What the server ran, from INFO commandstats: on one server, or summed over a cluster's primaries."""

from collections.abc import Collection
from typing import Any

import redis
from redis.cluster import RedisCluster


def command_calls(client: Any) -> dict[str, int]:
    """Calls per command (``"getex"``, not ``"cmdstat_getex"``) since the server started.

    A RedisCluster is asked on every primary and the counts added up; any other client
    (a plain or a Sentinel-managed one) is asked on the server it talks to.
    """
    if isinstance(client, RedisCluster):
        per_server = list(client.info("commandstats", target_nodes=RedisCluster.PRIMARIES).values())
    else:
        per_server = [client.info("commandstats")]
    totals: dict[str, int] = {}
    for stats in per_server:
        for name, value in stats.items():
            command = name.removeprefix("cmdstat_")
            totals[command] = totals.get(command, 0) + value["calls"]
    return totals


HANDSHAKE = {"hello", "auth", "select", "client|setinfo"}
"""What a client sends when it opens a connection: whether a step opens one depends on what ran
before it (the fast path opens its own at a store's first call), not on the step's own commands."""


DETECTION = {"command|info", "command|docs"}
"""What a store asks once, at its first conditional write, to learn the server's native commands
(``transport.capabilities``): like a handshake, it shows up in whichever step ran first."""


class Commands:
    """Per-command call counts since it was made, its own INFO calls and handshakes left out.

    On a plain TCP client it asks on a connection of its own, opened before the first
    count, so its handshake never shows up as the code's command and the client's pool is
    left as it was. ``only`` keeps just those commands: on a cluster or through Sentinel the
    servers also count traffic that is nobody's under test (replicas' REPLCONF ACKs, slot
    refreshes, connection handshakes).
    """

    def __init__(self, client: Any, only: Collection[str] | None = None) -> None:
        self.client = _own_client(client)
        self.only = set(only) if only is not None else None
        self.before = command_calls(self.client)

    def delta(self) -> dict[str, int]:
        after = command_calls(self.client)
        changed = {name: calls - self.before.get(name, 0) for name, calls in after.items()}
        return {
            name: calls
            for name, calls in changed.items()
            if calls
            and name != "info"
            and name not in HANDSHAKE | DETECTION
            and (self.only is None or name in self.only)
        }


def _own_client(client: Any) -> Any:
    pool = getattr(client, "connection_pool", None)
    options = pool.connection_kwargs if pool is not None else {}
    if type(pool) is redis.ConnectionPool and "host" in options:
        return redis.Redis(host=options["host"], port=options["port"])
    return client


def record_client_calls(client: Any, monkeypatch: Any) -> list[str]:
    """The commands sent through the client's own methods from now on (``"pipeline"`` for a
    pipeline): what the fast path's framed commands on its own connections bypass."""
    sent: list[str] = []
    execute_command, pipeline = client.execute_command, client.pipeline

    def recorded_command(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return execute_command(*args, **options)

    def recorded_pipeline(*args: Any, **options: Any) -> Any:
        sent.append("pipeline")
        return pipeline(*args, **options)

    monkeypatch.setattr(client, "execute_command", recorded_command)
    monkeypatch.setattr(client, "pipeline", recorded_pipeline)
    return sent
