"""Sessions 1.0.0 wrote with NaN or Infinity: they read as before and write without an error.

1.0.0 stored sessions with ``json.dumps``, which writes ``NaN``, ``Infinity`` and
``-Infinity``. They are not JSON, so the store reads them (leniently, as ``json.loads``
does) but refuses to write them. Writing such a session back therefore puts ``null``
in their place (what JavaScript's ``JSON.stringify`` does) and logs a warning. A session
a handler builds itself is never cleaned: NaN from code is still a ``ValueError``.
"""

import logging
import math
from typing import Any

from ..errors import short_id

logger = logging.getLogger("hug_store_redis.non_finite")  # a documented name

MAX_DEPTH = 1024
"""ujson reads no deeper than this; anything deeper was not read from Redis."""


class NonFiniteSession(dict[Any, Any]):
    """A session ``RedisStore.get`` read with NaN or Infinity in it; ``set`` writes it cleaned."""

    __slots__ = ()


def may_hold(payload: bytes | str) -> bool:
    """False when the bytes cannot hold the tokens; True may still mean a string such as "NaN"."""
    if isinstance(payload, bytes):
        return b"NaN" in payload or b"Infinity" in payload
    return "NaN" in payload or "Infinity" in payload


def mark(data: Any, payload: bytes | str) -> Any:
    """``data`` as read from ``payload``, as a ``NonFiniteSession`` if it holds NaN or Infinity."""
    if type(data) is not dict:
        return data
    if type(payload) is bytes:  # may_hold, inline: every get passes here
        if b"NaN" not in payload and b"Infinity" not in payload:
            return data
    elif not may_hold(payload):
        return data
    return NonFiniteSession(data) if holds(data) else data


def holds(value: Any) -> bool:
    """True when a NaN or an infinity is anywhere in ``value`` (no recursion: any depth is safe)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif depth < MAX_DEPTH and isinstance(item, (dict, list, tuple)):
            children = dict.values(item) if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
    return False


def cleaned(value: Any, key: str, namespace: str) -> Any:
    """A copy of ``value`` with ``None`` for every NaN and infinity, and a warning naming the session.

    Containers are copied once each (tuples become lists, as JSON has them; a cycle stays
    a cycle); everything else is shared, so whatever else is wrong with the data still
    fails the strict encode.
    """
    logger.warning(
        "[%s] session %s held NaN or Infinity (written by hug_store_redis 1.0.0): written as null",
        namespace,
        short_id(key),
    )
    copies: dict[int, Any] = {}
    root = [value]
    pending: list[tuple[Any, Any]] = [(root, 0)]
    while pending:
        parent, index = pending.pop()
        item = parent[index]
        if isinstance(item, float) and not math.isfinite(item):
            parent[index] = None
        elif isinstance(item, (dict, list, tuple)):
            if id(item) in copies:
                parent[index] = copies[id(item)]
                continue
            copy: Any = dict(dict.items(item)) if isinstance(item, dict) else list(item)
            copies[id(item)] = parent[index] = copy
            pending.extend(
                (copy, child) for child in (list(copy) if isinstance(copy, dict) else range(len(copy)))
            )
    return root[0]
