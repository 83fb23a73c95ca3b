"""What every subcommand needs: a reachable client from ``--url``/$REDIS_URL, or else an
embedded redis-server, and errors a user can act on as one line."""

import contextlib
import os
from typing import Any, TypedDict

from ..clients import client_from_url, mask_url
from ..store import RedisStore

URL_VARIABLE = "REDIS_URL"
KEY_SECRETS_VARIABLE = "HUG_STORE_REDIS_KEY_SECRETS"
ENCRYPTION_KEYS_VARIABLE = "HUG_STORE_REDIS_ENCRYPTION_KEYS"
TIMEOUTS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 10}


class UserError(Exception):
    """A problem the user can fix (no URL, no redis-server to embed): one line, exit 2."""


def given_url(url: str | None) -> str | None:
    return url or os.environ.get(URL_VARIABLE) or None


def verified_client(url: str) -> Any:
    """A client for ``url`` (every form ``RedisStore.from_url`` takes) that has answered PING.

    A bad URL raises ``InvalidURLError``, a server that does not answer a ``redis.RedisError``:
    ``main`` turns both into one line.
    """
    client = client_from_url(url, **TIMEOUTS)
    try:
        client.ping()
    except BaseException:
        client.close()
        raise
    return client


def client_or_embedded(stack: contextlib.ExitStack, url: str | None) -> tuple[Any, str, str]:
    """A client for the given URL, else for an embedded redis-server the stack stops; its URL; and
    where, for a banner (the password masked)."""
    from .embedded import EmbeddedRedis, RedisServerNotFound, server_description

    url = given_url(url)
    server = None
    if url:
        where = mask_url(url)
    else:
        try:
            server = stack.enter_context(EmbeddedRedis())
        except RedisServerNotFound as error:
            raise UserError(str(error)) from None
        url = server.url
    client = verified_client(url)
    stack.callback(client.close)
    if server is not None:
        where = (
            f"embedded {server_description(client)} ({server.path}) on {server.host}:{server.port}, "
            "stopped on exit"
        )
    return client, url, where


class Protection(TypedDict):
    """A store's ``key_secrets`` and ``encryption_keys`` (None: off)."""

    key_secrets: list[bytes] | None
    encryption_keys: list[bytes] | None


def protection_from_environment() -> Protection:
    """``key_secrets`` and ``encryption_keys`` from the environment, never the command line
    (which ``ps`` shows): each a comma-separated list of hex strings, newest first, or unset."""
    return {
        "key_secrets": _hex_list(KEY_SECRETS_VARIABLE),
        "encryption_keys": _hex_list(ENCRYPTION_KEYS_VARIABLE),
    }


def protected_store(client: Any, namespace: str, protection: Protection) -> RedisStore:
    """A store with ``protection``; a secret or key the store refuses is one line, exit 2."""
    try:
        return RedisStore(client, namespace=namespace, **protection)
    except (TypeError, ValueError, ImportError) as error:
        raise UserError(str(error)) from None


def _hex_list(variable: str) -> list[bytes] | None:
    """The secrets in ``variable`` (comma-separated hex, newest first), or None when unset."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    try:
        return [bytes.fromhex(item.strip()) for item in text.split(",")]
    except ValueError:
        raise UserError(f"{variable} must be comma-separated hex strings, newest first") from None
