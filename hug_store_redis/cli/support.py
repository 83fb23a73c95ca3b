"""What every subcommand needs: a reachable client from ``--url``/$REDIS_URL, or else an
embedded redis-server, and errors a user can act on as one line."""

import contextlib
import os
from typing import Any

import redis

from ..connect import InvalidURLError, ServerUnreachableError, client_from_url, mask_url

URL_VARIABLE = "REDIS_URL"
TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 10}


class UserError(Exception):
    """A problem the user can fix (bad URL, unreachable server): printed as one line, exit 2."""


def given_url(url: str | None) -> str | None:
    return url or os.environ.get(URL_VARIABLE) or None


def verified_client(url: str) -> Any:
    """A client for ``url`` (every form ``RedisStore.from_url`` takes) that has answered PING."""
    try:
        client = client_from_url(url, **TIMEOUTS)
        client.ping()
    except (InvalidURLError, ServerUnreachableError) as error:
        raise UserError(str(error)) from None
    except redis.RedisError as error:
        raise UserError(f"cannot reach Redis at {mask_url(url)}: {error}") from None
    return client


def client_or_embedded(stack: contextlib.ExitStack, url: str | None) -> tuple[Any, str]:
    """A client for the given URL, else for an embedded redis-server the stack stops; and where."""
    from .embedded import EmbeddedRedis, RedisServerNotFound

    url = given_url(url)
    if url:
        where = mask_url(url)
    else:
        try:
            server = stack.enter_context(EmbeddedRedis())
        except RedisServerNotFound as error:
            raise UserError(str(error)) from None
        url = server.url
        where = f"embedded redis-server on {server.host}:{server.port}, stopped on exit"
    client = verified_client(url)
    stack.callback(client.close)
    return client, where
