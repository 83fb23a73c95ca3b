"""The one-key Lua scripts (lazy expiry, compare-and-set writes, the user index's prune) and
how they are run: through a client, or framed once for the fast path.

Each touches only ``KEYS[1]``, so every call is Cluster-safe. Redis 7 replicates a script by
its effects: a read that finds no touch due writes nothing (no replication, no AOF, no dirty
counter), and a compare-and-set that finds another value writes nothing either.

Scripts are cached per node and lost on a restart, a failover or ``SCRIPT FLUSH``: EVALSHA
first, and on NOSCRIPT one EVAL, which runs the script and loads it on the node that owns
the key (RedisCluster routes both by their one key). A server with EVAL/EVALSHA renamed away
(``unknown command``) or forbidden by ACL (``NOPERM`` on the command) never runs them: the
transport then switches to the fallbacks in ``without_scripts`` for good, and says so once.
"""

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..clients.families import NO_PERMISSION_ERRORS, NO_SCRIPT_ERRORS, RESPONSE_ERRORS
from ..codec.wire import bulk

logger = logging.getLogger("hug_store_redis")
# CPython's own SHA-1 for the compare-and-set digest of every session write: hashlib's goes
# through OpenSSL's EVP machinery, twice the instructions for a few hundred bytes.
_sha1: Callable[[bytes], Any]
try:
    from _sha1 import sha1 as _sha1  # type: ignore[import-not-found,no-redef]
except ImportError:  # another interpreter
    _sha1 = hashlib.sha1
T = TypeVar("T")


class Script:
    """A script's text and the SHA1 that EVALSHA names it by (per node, loaded on NOSCRIPT)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


READ_AND_TOUCH = Script(
    """
local value = redis.call('GET', KEYS[1])
if not value then return nil end
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {value, tonumber(ARGV[1]), 1}
end
return {value, ttl, 0}
"""
)
"""``KEYS[1]``; ``ARGV``: the expiry in ms and the remaining-TTL threshold in ms below which the
expiry slides. Returns nil when there is no key, else ``[value, remaining ms, 1 if it slid else 0]`` (-1 ms:
no expiry; the flag keeps a touch countable even on a key written in the same millisecond);
never a Lua boolean, which RESP2 and RESP3 reply differently. PEXPIRE only when due,
and never on a missing key, so a read never creates one."""

COMPARE_AND_SET = Script(
    """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if redis.sha1hex(current) ~= ARGV[1] then return current end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
end
return 1
"""
)
"""``KEYS[1]``; ``ARGV``: the SHA1 hex of the bytes the caller read, the expiry in seconds
(``0``: none) and the new value (empty: delete the key). Returns 1 when written, 0 when the key
is gone (never recreated: logout and rotation are final), or the current value when another
writer changed it, so the caller can merge without another read."""


DROP_UNCHANGED = Script(
    """
local removed = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], 'e:' .. ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], 'e:' .. ARGV[i], 's:' .. ARGV[i])
    removed = removed + 1
  end
end
return removed
"""
)
"""The per-user index's prune (``sessions/user_sessions.py``): ``KEYS[1]``: the index; ``ARGV``:
handle, entry-as-read pairs; an entry is removed only if it is still as read. Returns how many
were removed. One key, so Cluster-safe."""


def entry_fields(handle: str) -> tuple[bytes, bytes]:
    """The index fields DROP_UNCHANGED removes for ``handle``: its entry and its last seen."""
    encoded = handle.encode("utf-8", "surrogatepass")
    return b"e:" + encoded, b"s:" + encoded


def digest(payload: bytes) -> str:
    """What ``redis.sha1hex`` computes over the same bytes."""
    hexdigest: str = _sha1(payload).hexdigest()
    return hexdigest


def refuses_scripts(error: Exception) -> bool:
    """True when the server will not run scripts at all, as opposed to a script that failed."""
    text = str(error).lower()
    if isinstance(error, NO_PERMISSION_ERRORS):
        return "command" in text  # not "...access one of the keys": that is the caller's ACL on keys
    return "unknown command" in text


def server_name(client: Any, full_key: bytes | None = None) -> str:
    """``host:port`` of the server (a cluster's: the node serving ``full_key``), or the socket path.

    The client's class name when it says neither. Never the client's repr: error texts and
    logs must not carry passwords or session keys.
    """
    node_for_key = getattr(client, "get_node_from_key", None)  # RedisCluster
    if full_key is not None and node_for_key is not None:
        try:
            return f"{type(client).__name__} node {node_for_key(full_key).name}"
        except Exception:  # a stale slot map: the class name still says what it is
            pass
    options = getattr(getattr(client, "connection_pool", None), "connection_kwargs", None) or {}
    if "path" in options:
        return f"unix:{options['path']}"
    if "host" in options:
        return f"{options['host']}:{options.get('port', 6379)}"
    return type(client).__name__


class FramedScript:
    """The EVALSHA and EVAL heads of a one-key script with ``arguments`` ARGV, framed once (fast path)."""

    __slots__ = ("by_sha", "by_text")

    def __init__(self, script: Script, arguments: int) -> None:
        count = b"*%d\r\n" % (4 + arguments)
        self.by_sha = count + bulk(b"EVALSHA") + bulk(script.sha.encode()) + bulk(b"1")
        self.by_text = count + bulk(b"EVAL") + bulk(script.text.encode()) + bulk(b"1")


class ScriptSupport:
    """Whether this store's server runs scripts: assumed until it refuses one, then never again.

    Detected once per store (a restart with scripting re-enabled needs a new store) and
    logged once, without the refused command's arguments, which hold a session key.
    """

    __slots__ = ("_client", "_lock", "available", "on_reload")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.available = True
        #: Called with the script's SHA1 and the key on NOSCRIPT (a restart, a failover, SCRIPT
        #: FLUSH, or its first use on the key's node): the node may be another one.
        self.on_reload: Callable[[str, bytes], None] = _nothing

    def give_up(self, error: Exception) -> None:
        """Remember that scripts are refused (``error`` said so); log it the first time."""
        self.refused("no permission (ACL)" if isinstance(error, NO_PERMISSION_ERRORS) else "unknown command")

    def refused(self, why: str) -> None:
        """Remember that scripts are refused for ``why``; log it the first time."""
        with self._lock:
            if not self.available:
                return
            self.available = False
        logger.warning(
            "Redis at %s refuses Lua scripts (%s): lazy-expiry reads use GET + PTTL and "
            "compare-and-set uses SET IFEQ where the server has it, else WATCH/MULTI, from now on",
            server_name(self._client),
            why,
        )

    def run_or_fallback(self, run: Callable[[], T], fallback: Callable[[], T]) -> T:
        """``run`` (a script) while the server takes scripts; ``fallback`` for good once it refuses one."""
        if self.available:
            try:
                return run()
            except RESPONSE_ERRORS as error:
                if not refuses_scripts(error):
                    raise
                self.give_up(error)
        return fallback()

    def run(self, script: Script, full_key: bytes, *arguments: Any, on: Any = None) -> Any:
        """EVALSHA through the client; on NOSCRIPT, one EVAL that also loads it on the key's node.

        ``on`` a pipeline (a write followed by ``WAIT``): EVAL, so no NOSCRIPT can come back
        in the middle of it.
        """
        if on is not None and on is not self._client:
            return on.eval(script.text, 1, full_key, *arguments)
        try:
            return self._client.evalsha(script.sha, 1, full_key, *arguments)
        except NO_SCRIPT_ERRORS:
            self.on_reload(script.sha, full_key)
            return self._client.eval(script.text, 1, full_key, *arguments)


def _nothing(sha: str, full_key: bytes) -> None:
    pass
