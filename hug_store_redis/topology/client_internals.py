"""The private parts of the client's pool that following a Sentinel failover needs, in one place.

redis-py (and valkey-py, its fork) offers no public way to do two things the follower must do:

- reach the connections other threads have checked out of the pool, to cut the ones still
  talking to a demoted primary (``pool.disconnect(inuse_connections=True)`` is public, but it
  resets the parser under the thread reading with it: an ``AttributeError`` there, not a
  ``ConnectionError`` that the retry would handle); that needs the pool's ``_lock`` and
  ``_in_use_connections``;
- wait on several sentinels' subscriptions at once, which needs each connection's ``_sock``
  for ``select`` (``PubSub.get_message`` waits on one connection only).

Everything else uses public names (``disconnect(inuse_connections=False)``, ``sentinel_manager``,
``get_master_address``...). So that an upgrade cannot break failover silently, the versions
tested are pinned here (and in ``pyproject.toml``), and a store built on a Sentinel-managed
client from another version, or from a pool without these attributes, fails at construction
with ``UnsupportedClientError`` naming the range.
"""

import re
import sys
from typing import Any

from ..errors import UnsupportedClientError

# The releases the Sentinel suites run on, as (first supported, first unsupported); keep in
# step with pyproject.toml (tests/topology/test_client_internals.py checks both).
SUPPORTED_RANGES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "redis": ((5, 3), (9,)),
    "valkey": ((6,), (7,)),
}
_POOL_ATTRIBUTES = ("_lock", "_in_use_connections")


def require_supported(pool: Any) -> None:
    """Raise ``UnsupportedClientError`` unless ``pool`` comes from a release the follower was tested on."""
    family = _family_of(pool)
    if family is None:
        raise UnsupportedClientError(
            f"{type(pool).__qualname__} is neither redis-py's nor valkey-py's pool", supported_text()
        )
    version = str(getattr(sys.modules[family], "__version__", "0"))
    low, high = SUPPORTED_RANGES[family]
    if not low <= _parsed(version) < high:
        raise UnsupportedClientError(f"{family} {version} is installed", supported_text())
    missing = [name for name in _POOL_ATTRIBUTES if not hasattr(pool, name)]
    if missing:
        raise UnsupportedClientError(
            f"{type(pool).__qualname__} has no {', '.join(missing)}", supported_text()
        )


def in_use_connections(pool: Any) -> list[Any]:
    """The connections other threads hold right now (a copy, taken under the pool's lock)."""
    with pool._lock:
        return list(pool._in_use_connections)


def socket_of(connection: Any) -> Any:
    """The connection's socket, or None while it is not connected."""
    return getattr(connection, "_sock", None)


def supported_text() -> str:
    """The supported releases in pip's words, for messages."""
    return " or ".join(
        f"{family}>={_dotted(low)},<{_dotted(high)}" for family, (low, high) in SUPPORTED_RANGES.items()
    )


def _family_of(pool: Any) -> str | None:
    for cls in type(pool).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in SUPPORTED_RANGES:
            return root
    return None


def _parsed(version: str) -> tuple[int, ...]:
    match = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(part) for part in match.group().split(".")) if match else (0,)


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(map(str, version))
