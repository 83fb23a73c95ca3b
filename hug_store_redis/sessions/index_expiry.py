"""When the per-user index's entries end: with their sessions, where the server can do it.

On a server with hash-field expiry (HEXPIRE: Valkey >= 9.0, Redis >= 7.4, as the store's
transport detected it, again after a failover or a restart as another version), each entry's
two fields (``e:`` and ``s:``) expire on their own, ``SLACK_S`` after the session they name
would (counted from the refresh, which follows the session's write by a round trip). So an
ended session leaves the index about a second after its key expires, with no call to the
library; pruning on read stays for the rest (a key deleted by hand, a login that never wrote
its key).

Why an entry never ends before its live session: the session's expiry is restarted only by a
write or a touch, and after each the middleware asks ``UserSessionIndex.note_seen``. That
refreshes the fields (HEXPIRE to ``expiry + SLACK_S``) unless this process refreshed them
less than ``SLACK_S`` ago (remembered by handle: the fields are the entry's, whatever id it
names after a rotation). A refresh claimed at ``t`` (before it is sent, so the server runs it
at ``t`` or later) keeps the fields until ``t + E + SLACK_S`` at least; a write or touch that
skips one ended by ``t + SLACK_S``, so its session ends by ``t + SLACK_S + E``: never later.
Other processes only add refreshes, and each refresh can only move the end later (the server
adds the TTL to its own clock, in the order the refreshes arrive).

An entry written before its session key (``bind_user``, ``regenerate``) gets a longer life,
``max(expiry, PENDING_GRACE) + SLACK_S``: the key comes at the end of the request, however
long it runs, and pruning keeps a pending entry as long. Such a write is never the base of a
skip (the next write or touch, the login's own, refreshes to the usual life), so a skip still
rests only on a refresh of the usual length, and the argument above holds. A refresh that fails is
forgotten, so the next request tries again. The cost: one round trip (HEXPIRE, pipelined with
the other index writes) at most once a second per entry and process, on writes and touches
only; a read-only request that does not touch still makes one round trip.

Elsewhere (Redis < 7.4, Valkey < 9.0) the hash as a whole expires after twice the session
expiry, refreshed with last seen (``user_sessions``), and dead entries go when pruned.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from ..clients.families import NO_PERMISSION_ERRORS
from ..transport.capabilities import ServerCapabilities

logger = logging.getLogger("hug_store_redis.signed_in_devices")  # the index's documented logger

SLACK_S = 1
"""Seconds an entry may outlive its session; also the least time between two refreshes."""

_MEMORY = 10_000


class Throttle:
    """When this process last did something for each session id (or handle); bounded, oldest
    forgotten."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._last: OrderedDict[str, float] = OrderedDict()  # session id -> monotonic time
        self._lock = threading.Lock()

    def due(self, session_id: str) -> bool:
        """Lock-free (one dict lookup), so a request can ask cheaply before ``claim``."""
        last = self._last.get(session_id)
        return last is None or time.monotonic() - last >= self.every

    def claim(self, session_id: str) -> bool:
        """True (and remembered as done now) when due; False when done within ``every``."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(session_id)
            if last is not None and now - last < self.every:
                return False
            self._remember(session_id, now)
            return True

    def remember(self, session_id: str) -> None:
        with self._lock:
            self._remember(session_id, time.monotonic())

    def forget(self, session_id: str) -> None:
        """A write that failed: the next request does it again."""
        with self._lock:
            self._last.pop(session_id, None)

    def _remember(self, session_id: str, now: float) -> None:
        self._last[session_id] = now
        self._last.move_to_end(session_id)
        if len(self._last) > _MEMORY:  # forgetting only costs one early update
            self._last.popitem(last=False)


class EntryExpiry:
    """The entries' own expiry for one index: ``seconds()`` (None without) and its refreshes.

    Whether the server expires hash fields is read from the store's transport each time
    (``server_capabilities``: one detection per store, asked again by the transport after a
    failover or a restart as another version), never remembered here: an index that asked
    once would keep an old server's answer across a switch, and never expire entries again
    after a failover onto a server that can, nor stop sending HEXPIRE to one that cannot.
    """

    def __init__(
        self,
        expiration: int | None,
        capabilities: Callable[[], ServerCapabilities],
        known: Callable[[], ServerCapabilities | None],
        changed: Callable[[], None],
        pending_s: float,
        namespace: str,
    ) -> None:
        self._namespace = namespace
        self._expiration = expiration
        self._capabilities = capabilities
        self._known = known
        self._changed = changed
        self._pending_s = pending_s
        #: The detection under which the server refused HEXPIRE (an ACL that denies it although
        #: COMMAND INFO lists it): no HEXPIRE until the transport asks again (a new object).
        self._refused_under: ServerCapabilities | None = None
        #: The last detection ``seconds`` saw without HEXPIRE (None: with it, or none seen yet):
        #: ``maybe_due`` says no while the transport's detection is still that object.
        self._lacking: ServerCapabilities | None = None
        self.refreshes = Throttle(SLACK_S)

    def seconds(self) -> int | None:
        """HEXPIRE's seconds for an entry's fields, or None where they do not expire on their own.

        The transport's detection (asked at its first use: COMMAND INFO, on every primary of
        a Cluster); a failure to ask propagates, and the next index write asks again.
        """
        if self._expiration is None:
            return None
        found = self._capabilities()
        if not found.hash_field_expiry or found is self._refused_under:
            self._lacking = found
            return None
        self._lacking = None
        return self._expiration + SLACK_S

    def pending_seconds(self) -> int | None:
        """HEXPIRE's seconds for an entry written before its session key (bind, rotate): its
        session's expiry starts only when the request ends, so the entry lasts as long as
        pruning waits for a pending key (at least), and the write that follows shortens it."""
        seconds = self.seconds()
        if seconds is None or self._expiration is None:
            return None
        return max(self._expiration, int(self._pending_s)) + SLACK_S

    def maybe_due(self, handle: str) -> bool:
        """Whether a refresh may be due (lock-free). False while the transport's detection is
        still the one last seen without HEXPIRE (peeked at, never asked for): a server without
        it would otherwise send every write and touch of a bound session through ``note_seen``
        and the detection (after a ``forget``, its round trips). Once the transport has asked
        again (a failover, a restart as another version: a new object), it is read again."""
        lacking = self._lacking
        return (
            self._expiration is not None
            and (lacking is None or self._known() is not lacking)
            and self.refreshes.due(handle)
        )

    def refused(self, error: Exception) -> bool:
        """After an index write with HEXPIRE failed with ``error``: True when the caller should
        write again without it (False: not about HEXPIRE, raise it).

        "Unknown command": the node is not the one detected (a failover onto an older server, a
        restart as one), so the transport asks again, quietly. A refusal by a server that still
        claims HEXPIRE (an ACL denying it) holds until the transport's next detection, logged
        once per detection; pruning does the rest meanwhile.
        """
        text = str(error).lower()
        unknown = "unknown command" in text
        if not (unknown or isinstance(error, NO_PERMISSION_ERRORS) or "noperm" in text):
            return False
        if unknown:
            self._changed()
        found = self._capabilities()
        if found.hash_field_expiry and found is not self._refused_under:
            logger.warning(
                "[%s] the server refuses HEXPIRE (%s): index entries are pruned when read instead",
                self._namespace,
                error,
            )
            self._refused_under = found
        self._lacking = found
        return True
