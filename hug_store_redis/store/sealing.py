"""Session values encrypted at rest (``encryption_keys``): the store's one value sealing.

AES-256-GCM from the ``cryptography`` package. A sealed value is URL-safe base64 (so a
``decode_responses=True`` client reads it as text) of::

    version (1 byte, 1) | key id (4 bytes) | nonce (12 bytes) | ciphertext and tag

The key id is the first 4 bytes of SHA-256 over the key, so opening picks its key without
trying each. The associated data is the session's logical key, ``namespace:id`` in UTF-8
(the Redis key without ``key_secrets``): a value copied under another session's key, or
another namespace, does not open, and a value moved by a ``key_secrets`` rotation still does.

Keys are listed newest first: every write seals with the newest, a read opens with whichever
key sealed it. A value no key opens (tampered, truncated, sealed by a key since dropped, or
never sealed) is ``CorruptSessionError``: the middleware starts a fresh session.
"""

import base64
import binascii
import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import CorruptSessionError

KEY_BYTES = 32
VERSION = 1
_NONCE_BYTES = 12
_HEADER_BYTES = 1 + 4 + _NONCE_BYTES
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")
REMEMBERED = 1024
REMEMBERED_BYTES = 4096
"""What each store keeps of the values it opened (then forgets all at once): a session read
again, unchanged, is not decrypted again. Keyed by the exact stored bytes and the id, so a
value written since (a new nonce) or read for another session is opened afresh. At most
``REMEMBERED`` values of at most ``REMEMBERED_BYTES`` each."""


def _plain(payload: Any, key: str) -> Any:
    return payload


def _newest(stored: Any) -> bool:
    return False


def _aesgcm() -> Any:
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ModuleNotFoundError:
        raise ImportError(
            "encryption_keys needs the cryptography package: pip install 'hug_store_redis[crypto]'"
        ) from None
    return AESGCM


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:4]


class Sealing:
    """``seal(json, id)`` gives the bytes Redis stores and ``open(stored, id)`` the JSON back.

    Without keys both hand their argument back unchanged, so the bytes stay 1.0.0's.

    ``stale(stored)``: whether a value is sealed under an older key than the newest (a read
    whose touch is due seals it again, so retiring that key logs nobody out).
    """

    __slots__ = ("encrypted", "open", "rotating", "seal", "stale")

    def __init__(self, encryption_keys: Sequence[bytes] | None, logical_key: Callable[[str], bytes]) -> None:
        keys = checked_keys(encryption_keys)
        self.encrypted = bool(keys)
        self.rotating = len(keys) > 1
        if not keys:
            self.seal: Callable[[bytes, str], bytes] = _plain
            self.open: Callable[[Any, str], Any] = _plain
            self.stale: Callable[[Any], bool] = _newest
            return
        aesgcm = _aesgcm()
        ciphers = {key_id(key): aesgcm(key) for key in keys}
        newest_head = bytes((VERSION,)) + key_id(keys[0])
        newest = ciphers[key_id(keys[0])]
        encode, a2b, urandom = base64.urlsafe_b64encode, binascii.a2b_base64, os.urandom

        def seal(payload: bytes, key: str) -> bytes:
            if not payload:  # compare-and-set's delete: nothing to hide
                return payload
            nonce = urandom(_NONCE_BYTES)
            return encode(newest_head + nonce + newest.encrypt(nonce, payload, logical_key(key)))

        opened: dict[bytes | str, tuple[str, bytes]] = {}
        get = opened.get

        def remembering_open(stored: Any, key: str) -> bytes:
            hit = get(stored) if type(stored) is bytes or type(stored) is str else None
            if hit is not None and hit[0] == key:
                return hit[1]
            plain = open_(stored, key)
            if len(stored) <= REMEMBERED_BYTES and type(key) is str:
                if len(opened) >= REMEMBERED:
                    opened.clear()
                opened[stored] = (key, plain)
            return plain

        def open_(stored: Any, key: str) -> bytes:
            try:
                if type(stored) is str:  # from a decoding client
                    stored = stored.encode("ascii")
                raw = a2b(stored.translate(_FROM_URLSAFE))  # a tampered byte fails the tag
            except (binascii.Error, ValueError, TypeError, AttributeError):
                raise CorruptSessionError(key, "not a sealed value (encryption_keys is set)") from None
            if len(raw) < _HEADER_BYTES + 16 or raw[0] != VERSION:
                raise CorruptSessionError(key, "not a sealed value (encryption_keys is set)")
            cipher = ciphers.get(raw[1:5])
            if cipher is None:
                raise CorruptSessionError(key, "sealed with a key not in encryption_keys")
            try:
                plain: bytes = cipher.decrypt(raw[5:_HEADER_BYTES], raw[_HEADER_BYTES:], logical_key(key))
            except Exception:  # cryptography's InvalidTag: tampered, or moved from another key
                raise CorruptSessionError(key, "sealed value does not open (tampered or moved)") from None
            return plain

        newest_id = key_id(keys[0])

        def stale(stored: Any) -> bool:
            """The key id from the first 8 characters alone (6 bytes); anything unreadable is
            left to ``open``, which calls it corrupt."""
            try:
                head = stored[:8]
                if type(head) is str:
                    head = head.encode("ascii")
                return bool(a2b(head.translate(_FROM_URLSAFE))[1:5] != newest_id)
            except (binascii.Error, ValueError, TypeError, AttributeError):
                return False

        self.seal = seal
        self.open = remembering_open
        self.stale = stale if len(keys) > 1 else _newest


def checked_keys(encryption_keys: Sequence[bytes] | None) -> list[bytes]:
    """The keys as a list, newest first; a clear error for anything that cannot be one."""
    if encryption_keys is None:
        return []
    if isinstance(encryption_keys, (bytes, bytearray, str)) or not isinstance(encryption_keys, Sequence):
        raise TypeError(
            "encryption_keys must be a list of 32-byte keys, newest first, "
            f"not {type(encryption_keys).__name__}: wrap a single key in a list"
        )
    if not encryption_keys:
        raise ValueError("encryption_keys is empty: give at least one key, or None for no encryption")
    keys: list[bytes] = []
    for position, key in enumerate(encryption_keys):
        if not isinstance(key, bytes):
            raise TypeError(f"encryption_keys[{position}] must be bytes, not {type(key).__name__}")
        if len(key) != KEY_BYTES:
            raise ValueError(
                f"encryption_keys[{position}] has {len(key)} bytes; AES-256 needs exactly "
                f"{KEY_BYTES} (for example secrets.token_bytes(32))"
            )
        if key_id(key) in {key_id(earlier) for earlier in keys}:
            raise ValueError(f"encryption_keys[{position}] repeats an earlier key")
        keys.append(bytes(key))
    return keys
