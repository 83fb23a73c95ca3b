"""Session ids as Redis keys, or HMACs of them (``key_secrets``): the store's one key mapping.

A session id is a credential. Without ``key_secrets`` the Redis key is ``namespace:id``, as
1.0.0 wrote it, so anyone who can run SCAN or MONITOR or read a dump holds every live id.
With them the key is ``namespace:`` + a *handle*: HMAC-SHA256 of the id under a secret, in
URL-safe base64 without padding. A handle opens nothing: the cookie needs the id, and the id
cannot be had from the handle without the secret.

Secrets are listed newest first. Writes go under the newest; a read that finds nothing there
tries the older ones, one round trip each, then the newest again (``payloads.py``), so a
rotation forces nobody out; a cookie that matches nothing costs one round trip per secret
plus one (keep the list short: two while rotating, one otherwise).
"""

import base64
import hashlib
import hmac
from collections.abc import Sequence

MIN_SECRET_BYTES = 32
"""HMAC-SHA256's own block of security: a shorter secret is easier to guess than the ids it hides."""


def _same(key: str) -> str:
    return key


def _none(key: str) -> tuple[str, ...]:
    return ()


class KeyMapping:
    """``handle(id)``, the key part under the newest secret, and ``older(id)``, those under the rest.

    Without secrets both are trivial (the id itself, nothing older): the store calls them on
    every operation and pays one function call for it.
    """

    __slots__ = ("handle", "hashed", "older")

    def __init__(self, key_secrets: Sequence[bytes] | None = None) -> None:
        secrets = checked_secrets(key_secrets)
        self.hashed = bool(secrets)
        if not secrets:
            self.handle = _same
            self.older = _none
            return
        newest, rest = secrets[0], tuple(secrets[1:])

        def handle(key: str) -> str:
            return _mac(newest, key)

        def older(key: str) -> tuple[str, ...]:
            return tuple(_mac(secret, key) for secret in rest)

        self.handle = handle
        self.older = older


def _mac(secret: bytes, key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"session key must be str, not {type(key).__name__}")
    digest = hmac.digest(secret, str.encode(key, "utf-8", "surrogatepass"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest)[:43].decode("ascii")


def checked_secrets(key_secrets: Sequence[bytes] | None) -> list[bytes]:
    """The secrets as a list, newest first; a clear error for anything that cannot be one."""
    if key_secrets is None:
        return []
    if isinstance(key_secrets, (bytes, bytearray, str)) or not isinstance(key_secrets, Sequence):
        raise TypeError(
            "key_secrets must be a list of secrets (bytes), newest first, "
            f"not {type(key_secrets).__name__}: wrap a single secret in a list"
        )
    if not key_secrets:
        raise ValueError("key_secrets is empty: give at least one secret, or None for plain keys")
    secrets: list[bytes] = []
    for position, secret in enumerate(key_secrets):
        if not isinstance(secret, bytes):
            raise TypeError(f"key_secrets[{position}] must be bytes, not {type(secret).__name__}")
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(
                f"key_secrets[{position}] has {len(secret)} bytes; each needs at least "
                f"{MIN_SECRET_BYTES} (for example secrets.token_bytes(32))"
            )
        if secret in secrets:
            raise ValueError(f"key_secrets[{position}] repeats an earlier secret")
        secrets.append(bytes(secret))
    return secrets
