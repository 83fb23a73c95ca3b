"""Running the one-key scripts through a client, and noticing once that a server refuses them.

Scripts are cached per node and lost on a restart, a failover or ``SCRIPT FLUSH``: EVALSHA
first, and on NOSCRIPT one EVAL, which runs the script and loads it on the node that owns
the key (RedisCluster routes both by their one key). A server with EVAL/EVALSHA renamed away
(``unknown command``) or forbidden by ACL (``NOPERM`` on the command) never runs them: the
transport then switches to the fallbacks in ``without_scripts`` for good, and says so once.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .client_errors import NO_PERMISSION_ERRORS, NO_SCRIPT_ERRORS, RESPONSE_ERRORS
from .scripts import Script

logger = logging.getLogger("hug_store_redis")
T = TypeVar("T")


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


class ScriptSupport:
    """Whether this store's server runs scripts: assumed until it refuses one, then never again.

    Detected once per store (a restart with scripting re-enabled needs a new store) and
    logged once, without the refused command's arguments, which hold a session key.
    """

    __slots__ = ("_client", "_lock", "available")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.available = True

    def give_up(self, error: Exception) -> None:
        """Remember that scripts are refused (``error`` said so); log it the first time."""
        with self._lock:
            if not self.available:
                return
            self.available = False
        why = "no permission (ACL)" if isinstance(error, NO_PERMISSION_ERRORS) else "unknown command"
        logger.warning(
            "Redis at %s refuses Lua scripts (%s): lazy-expiry reads use GET + PTTL and "
            "compare-and-set uses WATCH/MULTI from now on",
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
            return self._client.eval(script.text, 1, full_key, *arguments)
