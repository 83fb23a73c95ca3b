"""Compare-and-set writes with the server's own conditional commands, where it has them.

A session write goes only over the exact bytes the request read (DESIGN.md), and a conflict
hands back the value now there so the middleware merges without another read. The scripts
(``scripts.COMPARE_AND_SET``) do that in one round trip; these commands do too:

- ``SET key payload IFEQ base GET [EX n]`` (Valkey >= 8.1): GET answers the value the SET
  found, so nil is "gone" (never recreated: IFEQ does not create), ``base`` is "written" and
  anything else is the conflicting value, all in the one reply. Checked on Valkey 8.1.8 and
  9.1.2 (``tests/transport/test_capabilities.py``).
- Redis 8.4 has SET IFEQ and is not assumed to take GET with it (it could not be had here to
  check): ``SET key payload IFEQ base [EX n]`` and a ``GET key`` pipelined behind it without
  MULTI, still one round trip. Valkey takes that form too for a base that is not UTF-8 (see
  ``_is_text``). A conflict then carries what GET saw, which may be newer than
  what the SET compared: the merge is over a real value either way and the next attempt
  compares against it.
- An emptied session is a conditional delete: ``DELIFEQ key base`` (Valkey >= 9.0) or
  ``DELEX key IFEQ base`` (Redis >= 8.4), a ``GET`` pipelined behind it for the conflict.
- Anything else (no SET IFEQ, or a delete without DELIFEQ/DELEX) keeps the script, or the
  WATCH fallback where scripts are refused.

A native command refused as unknown or a syntax error means the node is not what was detected
(a failover to an older node, a downgrade): the capabilities are asked again and the write
sent once more through whatever they now say.
"""

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from ..clients.families import RESPONSE_ERRORS, UNREACHABLE_ERRORS
from ..codec.wire import as_bytes
from ..topology.cluster import key_node_name
from .base import Resends, settled
from .capabilities import NONE, ServerCapabilities, cluster_capabilities, common

T = TypeVar("T")
#: A command as its parts: words as ``str`` (what the clients' response callbacks are keyed
#: by), keys and values as bytes.
Command = tuple[bytes | str | int, ...]
#: One round trip of commands, sent as a write (``WAIT`` after them when the store asks):
#: the transport's own sender, so both transports share everything here.
Send = Callable[[tuple[Command, ...], Resends], list[Any]]


RETRY_S = 1.0
"""A failed re-detection keeps the previous answer and is tried again this much later at the
earliest: every write asking a node that does not answer would wait its timeout each."""


class Detected:
    """The capabilities of the server behind one transport: asked at the first conditional
    write (not when the store is made: a store may be built before its server is up, and
    other operations need none of it), kept until a sign that the node changed (``forget``),
    then asked again. Scripting is not probed here: a refused script says so at its first
    use (``ScriptSupport``), as it always has.

    Scripts are loaded per node, so NOSCRIPT is remembered per (node, script): a Cluster's
    primaries each answer it once per script as they warm up, and none of that is a change.

    ``switches``, for a Sentinel-managed client, counts the master switches its follower has
    completed (the old primary's connections swept): a switch is asked again after (a rolling
    upgrade fails over onto a newer replica, and with scripts replicated or denied no NOSCRIPT
    nor refused command would say so). Counted at the end of a switch, not its start: asked
    in between, the old primary could still answer, and its answer would pass for the new one's.

    No lock is held while asking: one thread asks, the others keep the previous answer (all
    wait only for the very first). An answer is kept only if no sign of a change (``forget``,
    ``script_missing``: the epoch) came while it was asked, else it may describe the node
    before the change. A re-detection that fails keeps the previous answer until ``RETRY_S``.
    """

    __slots__ = (
        "_asked_epoch",
        "_asked_in",
        "_asking",
        "_client",
        "_clock",
        "_epoch",
        "_found",
        "_loaded",
        "_lock",
        "_nodes",
        "_retry_at",
        "_switches",
    )

    def __init__(
        self,
        client: Any,
        switches: Callable[[], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._switches = switches
        self._clock = clock
        self._found: ServerCapabilities | None = None
        #: The switch count and epoch ``_found`` was asked under: stale once either moved.
        self._asked_in: int | None = None
        self._asked_epoch = self._epoch = 0
        self._retry_at = 0.0
        #: The nodes ``_found`` was asked of (``node_name``), None until asked.
        self._nodes: frozenset[str] | None = None
        self._loaded: set[tuple[str | None, Hashable]] = set()
        self._lock = threading.Lock()  # the state above; never held over a round trip
        self._asking = threading.Lock()  # held by the one thread asking the server

    def get(self) -> ServerCapabilities:
        found = self._found
        if found is not None and self._asked_epoch == self._epoch and self._current() == self._asked_in:
            return found
        if found is None:  # nothing to serve yet: wait for (or make) the first answer
            with self._asking:
                return self._ask(None)
        if self._clock() < self._retry_at or not self._asking.acquire(blocking=False):
            return found  # another thread asks, or the last try failed a moment ago
        try:
            return self._ask(found)
        finally:
            self._asking.release()

    def _current(self) -> int | None:
        return None if self._switches is None else self._switches()

    def _ask(self, previous: ServerCapabilities | None) -> ServerCapabilities:
        """Ask the server (``_asking`` held), unless another thread just did."""
        with self._lock:
            found, epoch, switches = self._found, self._epoch, self._current()
            if found is not None and self._asked_epoch == epoch and self._asked_in == switches:
                return found
        try:
            by_node = cluster_capabilities(self._client, probe_scripting=False)
        except (*UNREACHABLE_ERRORS, *RESPONSE_ERRORS):
            if previous is None:
                raise  # the caller fails as the server does; the next call asks again
            self._retry_at = self._clock() + RETRY_S
            return previous
        found = common(by_node.values())
        with self._lock:
            if self._epoch == epoch:  # else a change came meanwhile: this answer may predate it
                self._found, self._nodes = found, frozenset(by_node)
                self._asked_epoch, self._asked_in = epoch, switches
        return found

    @property
    def fresh(self) -> ServerCapabilities | None:
        """What ``get`` would answer without asking the server, or None (not asked yet, or due
        to be asked again): for a hot path that takes ``get``'s way whenever it is None."""
        found = self._found
        if found is not None and self._asked_epoch == self._epoch and self._current() == self._asked_in:
            return found
        return None

    def known(self) -> ServerCapabilities | None:
        """The last answer, asking nothing (None before the first): a new object each time
        the server is asked again, so a caller can tell a renewed detection by identity."""
        return self._found

    def settle(self, found: ServerCapabilities) -> None:
        """Take ``found`` instead of what the server says (it refused what it claimed)."""
        with self._lock:
            self._found = found

    def forget(self) -> None:
        """The node may have changed (a native command refused): ask again next time."""
        with self._lock:  # a try that failed a moment ago still waits: the node is not answering
            self._epoch += 1

    def script_missing(self, script: Hashable, full_key: bytes | None = None) -> None:
        """NOSCRIPT for ``script`` (its SHA1, or its framed head) on the node of ``full_key``
        (None: the lone server's). The first time on a node that was asked, it only means "not
        loaded there yet". A second time (the node lost its scripts: a restart, SCRIPT FLUSH)
        or from a node that was not asked (a failover promoted it), the node may be another
        server: ask again, and count that node's scripts as lost."""
        node = key_node_name(self._client, full_key)
        with self._lock:
            lost = (node, script) in self._loaded
            if lost:  # all of them: a restart or a flush takes every script
                self._loaded = {entry for entry in self._loaded if entry[0] != node}
            unasked = self._found is not None and self._nodes is not None and node not in self._nodes
            if lost or unasked:
                self._epoch += 1
            self._loaded.add((node, script))


def compare_and_set_commands(
    found: ServerCapabilities, full_key: bytes, expected: bytes, payload: bytes, expiration: int | None
) -> tuple[Command, ...] | None:
    """The native round trip for COMPARE_AND_SET on a server with ``found``, or None (script)."""
    if not payload:
        if found.delifeq:
            return ("DELIFEQ", full_key, expected), ("GET", full_key)
        if found.delex:
            return ("DELEX", full_key, "IFEQ", expected), ("GET", full_key)
        return None
    if not found.set_ifeq:
        return None
    expiry: Command = () if expiration is None else ("EX", expiration)
    if found.set_ifeq_get and _is_text(expected):
        return (("SET", full_key, payload, "IFEQ", expected, "GET", *expiry),)
    return ("SET", full_key, payload, "IFEQ", expected, *expiry), ("GET", full_key)


def _is_text(expected: bytes) -> bool:
    """Whether a decoding client can read ``expected`` back: SET ... GET answers the value it
    found, which is ``expected`` when written. Bytes that are not UTF-8 there would raise in the
    client's parser after the write ran, leaving "written" and "conflict" apart only by another
    read; those (a corrupt value being replaced) take the form whose SET answers OK or nil."""
    if expected.isascii():
        return True
    try:
        expected.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def compare_and_set_reply(replies: Sequence[Any], expected: bytes) -> int | bytes | str:
    """COMPARE_AND_SET's reply (1 written, 0 gone, else the value now there) from the native replies."""
    if len(replies) == 1:  # SET ... IFEQ ... GET: the value it found
        (found,) = replies
        if found is None:
            return 0
        return 1 if as_bytes(found) == expected else found
    done, current = replies
    if done in (1, True) or (isinstance(done, (bytes, str)) and as_bytes(done) == b"OK"):
        return 1
    return 0 if current is None else current


def compare_and_set(
    detected: Detected,
    send: Send,
    full_key: bytes,
    expected: bytes,
    payload: bytes,
    expiration: int | None,
    scripted: Callable[[], T],
) -> int | bytes | str | T:
    """COMPARE_AND_SET natively where the server can, else ``scripted()`` (the script or WATCH).

    A server unreachable while it is asked what it can do gets ``scripted()``: the write then
    meets the outage where the transport handles it (a Sentinel-managed client holds and
    retries it across the failover), and the next write asks again.
    """
    for attempt in (1, 2):
        try:
            found = detected.get() if attempt == 1 else _asked_again(detected)
        except UNREACHABLE_ERRORS:
            break
        commands = compare_and_set_commands(found, full_key, expected, payload, expiration)
        if commands is None:
            break
        resends = Resends()
        try:
            replies = send(commands, resends)
        except RESPONSE_ERRORS as error:
            if not node_changed(error):
                raise
            # Never raised: "unknown command" errors quote the arguments, a session key among
            # them. Refused again after asking again: the script, which every server runs,
            # until a sign that the node changed. Only the conditional writes are given up:
            # the rest of what the node said (HEXPIRE, for the per-user index) still holds.
            if attempt == 2:
                detected.settle(without_native_writes(found))
            continue
        reply: int | bytes | str = settled(compare_and_set_reply(replies, expected), payload, resends)
        return reply
    return scripted()


def without_native_writes(found: ServerCapabilities) -> ServerCapabilities:
    """``found`` less the conditional writes a node claimed and then refused."""
    return replace(found, set_ifeq=False, set_ifeq_get=False, delifeq=False, delex=False)


def _asked_again(detected: Detected) -> ServerCapabilities:
    detected.forget()
    try:
        return detected.get()
    except RESPONSE_ERRORS:  # the node will not say: scripts are safe everywhere
        return NONE


def node_changed(error: Exception) -> bool:
    """A native command refused as unknown or malformed: the node is not the one detected."""
    text = str(error).lower()
    return "unknown command" in text or "syntax error" in text
