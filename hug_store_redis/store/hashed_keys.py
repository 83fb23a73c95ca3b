"""Session ids as Redis keys, or HMACs of them (``key_secrets``): the store's one key mapping.

A session id is a credential. Without ``key_secrets`` the Redis key is ``namespace:id``, as
1.0.0 wrote it, so anyone who can run SCAN or MONITOR or read a dump holds every live id.
With them the key is ``namespace:`` + a *handle*: HMAC-SHA256, under a secret, of the SHA-256
of the id; the *token* is that SHA-256 (both in URL-safe base64 without padding). The
per-user index stores tokens: a token is not a usable id (sent as a cookie, it is hashed
again and matches nothing), yet it names the session under every secret, so "sign out
everywhere" and pruning reach a session not yet moved to the newest. A handle opens nothing
either: the cookie needs the id, and neither a handle nor a token gives it back.

Secrets are listed newest first. Writes go under the newest; a read that finds nothing there
tries the older ones, one round trip each, then the newest again (``payloads.py``), so a
rotation forces nobody out (a session moves to the newest on its next write or due touch,
``renewals.py``). A fleet half rotated moves sessions both ways, so a miss is looked at
again, up to ``MOVE_ROUNDS`` times: a cookie that matches nothing costs one round trip plus
``MOVE_ROUNDS`` per older secret and newest (keep the list short: two while rotating, one
otherwise).
"""

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence

MIN_SECRET_BYTES = 32
"""HMAC-SHA256's own block of security: a shorter secret is easier to guess than the ids it hides."""


MOVE_ROUNDS = 3
"""Looks at the older keys and the newest, after a miss under the newest, before a session is
taken as gone. Each look that misses a session that exists needs another move, in the
opposite direction, to complete within one of this request's round trips: only a fleet half
rotated (servers on ``[new, old]`` and on ``[old, new]``) moves sessions both ways, and a move
itself takes three round trips, so three rounds need six opposite moves of one session inside
six of this request's round trips. A real miss pays for them (``1 + 3 * len(secrets)`` round
trips with a rotation, one without), so the bound stays small."""


def _same(key: str) -> str:
    return key


def _none(key: str) -> tuple[str, ...]:
    return ()


class KeyMapping:
    """``handle(id)``, the key part under the newest secret, ``older(id)``, those under the rest,
    ``token(id)``, what the per-user index stores, and ``handles_of(token)``, every secret's
    handle of a token, newest first (none for a string that is no token).

    Without secrets all are trivial (the id itself, nothing older): the store calls them on
    every operation and pays one function call for it, and the index holds ids as before.
    """

    __slots__ = ("handle", "handles_of", "hashed", "older", "token")

    def __init__(self, key_secrets: Sequence[bytes] | None = None) -> None:
        secrets = checked_secrets(key_secrets)
        self.hashed = bool(secrets)
        if not secrets:
            self.handle: Callable[[str], str] = _same
            self.older: Callable[[str], tuple[str, ...]] = _none
            self.token: Callable[[str], str] = _same
            self.handles_of: Callable[[str], tuple[str, ...]] = _alone
            return
        newest = mac_under(secrets[0])
        rest = [mac_under(secret) for secret in secrets[1:]]
        every = [newest, *rest]
        sha256 = hashlib.sha256

        def handle(key: str) -> str:
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"session key must be str, not {type(key).__name__}")
            return newest(sha256(str.encode(key, "utf-8", "surrogatepass")).digest())

        def older(key: str) -> tuple[str, ...]:
            digest = id_digest(key)
            return tuple(mac(digest) for mac in rest)

        def handles_of(token: str) -> tuple[str, ...]:
            digest = token_digest(token)
            return () if digest is None else tuple(mac(digest) for mac in every)

        self.handle = remembered(handle)
        self.older = older
        self.token = digest_token
        self.handles_of = handles_of


def _alone(key: str) -> tuple[str, ...]:
    return (key,)


_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _text(digest: bytes) -> str:
    """A digest in URL-safe base64 without padding (43 characters for 32 bytes)."""
    return binascii.b2a_base64(digest, newline=False).rstrip(b"=").translate(_TO_URLSAFE).decode("ascii")


def id_digest(key: str) -> bytes:
    """SHA-256 of an id's UTF-8 (lone surrogates kept, as the keys 1.0.0 wrote them)."""
    if type(key) is not str and not isinstance(key, str):
        raise TypeError(f"session key must be str, not {type(key).__name__}")
    return hashlib.sha256(str.encode(key, "utf-8", "surrogatepass")).digest()


def digest_token(key: str) -> str:
    """``id_digest`` as text: the index's name for a session, which no cookie can present."""
    return _text(id_digest(key))


def token_digest(token: str) -> bytes | None:
    """The digest a ``digest_token`` spells, or None for any other string (an entry this
    package did not write: it names no session)."""
    try:
        digest = base64.urlsafe_b64decode(token + "=")
    except (ValueError, TypeError):
        return None
    return digest if len(digest) == 32 and _text(digest) == token else None


REMEMBERED = 4096
"""Handles under the newest secret kept per store (then all forgotten at once): a session's
requests hash its id once, not on every read. The ids are in this process's memory anyway."""


def remembered(handle: Callable[[str], str]) -> Callable[[str], str]:
    """``handle`` with the last ``REMEMBERED`` answers kept, for ids that are exact ``str``."""
    known: dict[str, str] = {}
    get = known.get

    def remembering(key: str) -> str:
        found = get(key) if type(key) is str else None
        if found is None:
            found = handle(key)
            if len(known) >= REMEMBERED:
                known.clear()
            if type(key) is str:
                known[key] = found
        return found

    return remembering


def mac_under(secret: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA256 (RFC 2104) of a digest under ``secret``, in URL-safe base64 without padding.

    The padded key's two SHA-256 states are computed once and copied per call: the same MAC
    as ``hmac.digest``, at a quarter of its cost on the path every request takes.
    """
    if len(secret) > 64:  # RFC 2104: a key longer than the block is hashed first
        secret = hashlib.sha256(secret).digest()
    padded = secret.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in padded))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in padded))
    b2a, to_urlsafe = binascii.b2a_base64, _TO_URLSAFE

    def mac(digest: bytes) -> str:
        state = inner.copy()
        state.update(digest)
        result = outer.copy()
        result.update(state.digest())
        return b2a(result.digest(), newline=False)[:43].translate(to_urlsafe).decode("ascii")

    return mac


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
