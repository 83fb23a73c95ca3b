"""Servers that will not run Lua scripts, the two ways production ones do."""

from pathlib import Path

import redis

from support.servers import RedisServer

WAYS = ("renamed", "acl")


def refusing_server(directory: Path, how: str) -> tuple[RedisServer, redis.Redis]:
    """A started server and a client of it: EVAL/EVALSHA renamed away, or denied to the client's ACL user."""
    if how == "renamed":
        server = RedisServer(
            directory, "--rename-command", "EVAL", "", "--rename-command", "EVALSHA", ""
        ).start()
        return server, redis.Redis(port=server.port, socket_timeout=5)
    if how != "acl":
        raise ValueError(f"unknown way {how!r}; known: {WAYS}")
    server = RedisServer(directory).start()
    admin = redis.Redis(port=server.port)
    admin.acl_setuser(
        "app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-eval", "-evalsha"]
    )
    admin.close()
    return server, redis.Redis(port=server.port, username="app", password="pw", socket_timeout=5)
