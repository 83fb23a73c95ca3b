"""Per-user session index: "your devices", "sign out that device" and "sign out everywhere".

One Redis hash per user, outside every namespace's ``namespace:*`` pattern (see
``index_key``), so ``count``/``ids``/``clear`` never see it. Fields, per bound session:

- ``e:<handle>``: compact JSON ``{"sid", "created", "bound", "ua", "ip"}``, plus ``"old"``,
  the id a ``regenerate`` is replacing (so both are ended if the rotation never finishes);
- ``s:<handle>``: last seen, Unix seconds, refreshed at most once per ``seen_every``
  (clamped to half the session expiry).

The handle is random and shown in pages; the session id never leaves Redis. Every call is
a single-key command (or a pipeline of them), so the index and the sessions may live in
different Cluster slots. Order of operations, so that a crash between two steps leaves
nothing a client could use:

- bind: index entry first, session key after (the middleware writes it at the end of the
  request). A crash in between leaves an entry whose key never appears: pruned later.
- end: session keys first, index entries after. A crash in between leaves entries whose
  keys are gone: pruned later. The reverse order could leave a live, unlisted session.

Entries are pruned when read or written, verified against the session keys (EXISTS), not
by a guessed expiry; an entry younger than ``PENDING_GRACE`` may not have its key yet and
is kept. The hash expires after twice the session expiry, refreshed by every bind and
last-seen update, so it outlives the sessions it lists and vanishes with an idle user.
The middleware updates last seen on every touch and every write of a bound session (each
restarts the session's expiry), throttled per process to ``seen_every`` <= expiry / 2: a
session written at ``w`` expires at ``w + E``, and this process refreshed the index after
``w - E/2``, so until at least ``w + 3E/2``.
"""

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import ujson

from ..codec.wire import as_bytes, as_text
from ..store.redis_store import RedisStore
from ..transport.scripts import entry_fields

INDEX_PREFIX = b"hug_store_redis-users|"
"""No ``:`` anywhere in an index key (``:`` and ``|`` in names are escaped), so no namespace's
``namespace:*`` SCAN pattern can match one, and distinct (namespace, user) pairs never collide."""

USER_AGENT_CHARS = 200
PENDING_GRACE = 300.0
"""Seconds an entry may wait for its session key (bind happens before the request's write)."""

MAX_SESSIONS = 32
SEEN_EVERY = 60.0
_SEEN_MEMORY = 10_000
_ESCAPES = {ord("%"): "%25", ord(":"): "%3A", ord("|"): "%7C"}


def _escaped(text: str) -> bytes:
    return text.translate(_ESCAPES).encode("utf-8", "surrogatepass")


def _printable(text: str) -> str:
    """A client-chosen header shown in pages and terminals: no control characters."""
    return "".join(char if char.isprintable() else "?" for char in text)


@dataclass(frozen=True, slots=True)
class UserSession:
    """One signed-in session of a user, safe to show: ``handle`` is not the session id."""

    handle: str
    created: float
    last_seen: float
    user_agent: str
    ip: str | None
    current: bool


@dataclass(frozen=True, slots=True)
class _Entry:
    raw: bytes | str  # the e: field as read: dropped only while it still holds exactly this
    handle: str
    session_id: str
    old_session_id: str | None
    created: float
    bound: float
    user_agent: str
    ip: str | None
    last_seen: float


def _seconds(unix_time: float) -> bytes:
    """A time as the client writes a float (``repr``), so every index field reads back alike."""
    return repr(unix_time).encode()


class UserSessionIndex:
    """The per-user index of one store's sessions."""

    def __init__(
        self, store: RedisStore, *, max_sessions: int = MAX_SESSIONS, seen_every: float = SEEN_EVERY
    ) -> None:
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, not {max_sessions!r}")
        self.store = store
        self._client: Any = store.connection  # reads of the hashes; writes go through the store
        self.max_sessions = max_sessions
        # At most half the expiry: the refreshes that follow a session's writes and touches
        # then keep the index (2 x expiry) alive past every expiry they restart.
        self.seen_every = seen_every if store.expiration is None else min(seen_every, store.expiration / 2)
        self._prefix = INDEX_PREFIX + _escaped(store.namespace) + b"|"
        self._seen: OrderedDict[str, float] = OrderedDict()  # session id -> monotonic time
        self._seen_lock = threading.Lock()

    def index_key(self, user_id: str) -> bytes:
        """``hug_store_redis-users|<namespace>|<user id>``, with ``%``, ``:`` and ``|`` escaped."""
        if not isinstance(user_id, str) or not user_id:
            raise ValueError(f"user_id must be a non-empty str, not {user_id!r}")
        return self._prefix + _escaped(user_id)

    # Writing

    def add(
        self,
        user_id: str,
        session_id: str,
        *,
        user_agent: str = "",
        ip: str | None = None,
        created: float | None = None,
    ) -> str:
        """Index ``session_id`` under ``user_id`` (before its key is written); its new handle.

        Dead entries are pruned; past ``max_sessions`` the oldest sessions are ended.
        """
        now = time.time()
        entry = {
            "sid": session_id,
            "created": now if created is None else created,
            "bound": now,
            "ua": _printable(user_agent[:USER_AGENT_CHARS]),
            "ip": ip,
        }
        return self._put(user_id, secrets.token_urlsafe(12), entry, now)

    def rotate(self, user_id: str, handle: str, session_id: str, old_session_id: str | None) -> str:
        """``regenerate`` on a bound session: the entry names the new id (and the old one until it goes).

        Written before the new key. An entry ended meanwhile comes back under the same
        handle: the new key is about to be written, and must be reachable.
        """
        now = time.time()
        raw = self._client.hget(self.index_key(user_id), entry_fields(handle)[0])
        try:
            entry: dict[str, Any] = ujson.loads(raw) if raw is not None else {}
        except ValueError:
            entry = {}
        entry.setdefault("created", now)
        entry.update(sid=session_id, old=old_session_id, bound=now)
        return self._put(user_id, handle, entry, now)

    def _put(self, user_id: str, handle: str, entry: dict[str, Any], now: float) -> str:
        key = self.index_key(user_id)
        entry_field, seen_field = entry_fields(handle)
        self.store.index_set(
            key, {entry_field: as_bytes(ujson.encode(entry)), seen_field: _seconds(now)}, self._expiry()
        )
        live = self._live_entries(key, now)
        surplus = sorted(live, key=lambda item: item.created)[: max(0, len(live) - self.max_sessions)]
        self._end(key, surplus)
        self._remember_seen(entry["sid"])
        return handle

    def note_seen(self, user_id: str, handle: str, session_id: str) -> None:
        """Refresh last seen and the index's expiry, at most once per ``seen_every`` per session
        in this process.

        The check is a dict lookup; the update is one round trip (HSET and EXPIRE pipelined).
        An update that fails is not remembered, so the next request tries again.
        """
        if not self._due(session_id):
            return
        key = self.index_key(user_id)
        try:
            self.store.index_set(key, {entry_fields(handle)[1]: _seconds(time.time())}, self._expiry())
        except BaseException:
            with self._seen_lock:
                self._seen.pop(session_id, None)
            raise

    def sessions(self, user_id: str, current_session_id: str | None = None) -> list[UserSession]:
        """Every live session of ``user_id``, most recently seen first; dead entries are pruned."""
        live = self._live_entries(self.index_key(user_id), time.time())
        live.sort(key=lambda item: item.last_seen, reverse=True)
        return [
            UserSession(
                handle=entry.handle,
                created=entry.created,
                last_seen=entry.last_seen,
                user_agent=entry.user_agent,
                ip=entry.ip,
                current=entry.session_id == current_session_id,
            )
            for entry in live
        ]

    def end_all(self, user_id: str, *, keep_session_id: str | None = None) -> int:
        """End every indexed session of ``user_id`` but ``keep_session_id``; how many keys were deleted."""
        key = self.index_key(user_id)
        doomed = [entry for entry in self._entries(key) if entry.session_id != keep_session_id]
        return self._end(key, doomed)

    def end_one(self, user_id: str, handle: str) -> bool:
        """End the session behind ``handle``; False when there was no such live session."""
        key = self.index_key(user_id)
        doomed = [entry for entry in self._entries(key) if entry.handle == handle]
        return self._end(key, doomed) > 0

    def forget(self, user_id: str, session_id: str) -> None:
        """Drop the entries of a session whose key is already deleted (logout)."""
        key = self.index_key(user_id)
        self._drop(key, [entry for entry in self._entries(key) if entry.session_id == session_id])

    def remove(self, user_id: str, handle: str) -> None:
        """Drop one entry, leaving its session alone (the session was bound again)."""
        self.store.index_delete(self.index_key(user_id), entry_fields(handle))

    # Internals

    def _entries(self, key: bytes) -> list[_Entry]:
        fields = {as_text(name): value for name, value in self._client.hgetall(key).items()}
        entries = []
        for name, value in fields.items():
            if not name.startswith("e:"):
                continue
            handle = name[2:]
            try:
                data: dict[str, Any] = ujson.loads(value)
                seen = float(fields.get("s:" + handle, data["bound"]))
                entries.append(
                    _Entry(
                        value,
                        handle,
                        str(data["sid"]),
                        data.get("old") if isinstance(data.get("old"), str) else None,
                        float(data["created"]),
                        float(data["bound"]),
                        str(data.get("ua") or ""),
                        data.get("ip"),
                        seen,
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue  # not an entry this module wrote: ignored, never trusted
        return entries

    def _live_entries(self, key: bytes, now: float) -> list[_Entry]:
        """Entries whose session key exists (or may still be written); the others are pruned."""
        entries = self._entries(key)
        if not entries:
            return []
        pipeline = self._client.pipeline(transaction=False)
        keys = [self.store.redis_keys(entry.session_id) for entry in entries]
        for session_keys in keys:  # one EXISTS per key (Cluster-safe), every key_secrets one
            for session_key in session_keys:
                pipeline.exists(session_key)
        replies = iter(pipeline.execute())
        exists = [any([next(replies) for _ in session_keys]) for session_keys in keys]
        live, dead = [], []
        for entry, found in zip(entries, exists, strict=True):
            if found or now - entry.bound < PENDING_GRACE:
                live.append(entry)
            else:
                dead.append(entry)
        self._drop(key, dead)
        return live

    def _end(self, key: bytes, entries: list[_Entry]) -> int:
        """Session keys first, then the index entries: a crash between leaves only dead entries.

        An entry with no key yet, bound within ``PENDING_GRACE``, is a login still running:
        its key may appear after this call, so its entry stays and a later call reaches it.
        """
        deleted, done = 0, []
        now = time.time()
        for entry in entries:
            found = self.store.delete(entry.session_id)
            if entry.old_session_id is not None:
                self.store.delete(entry.old_session_id)  # a rotation that never finished
            deleted += found
            if found or now - entry.bound >= PENDING_GRACE:
                done.append(entry)
        self._drop(key, done)
        return deleted

    def _drop(self, key: bytes, entries: list[_Entry]) -> None:
        """HDEL each entry only if it is unchanged: a ``rotate`` in between names a new key to keep.

        On a server refusing scripts, a plain HDEL: a tiny race left.
        """
        if entries:
            self.store.index_drop_unchanged(key, [(entry.handle, entry.raw) for entry in entries])

    def _expiry(self) -> int | None:
        """The index's expiry in seconds: twice the sessions', so it outlives those it lists."""
        return None if self.store.expiration is None else 2 * self.store.expiration

    def seen_due(self, session_id: str) -> bool:
        """Whether ``note_seen`` would write; lock-free (one dict lookup), so a request can ask cheaply."""
        last = self._seen.get(session_id)
        return last is None or time.monotonic() - last >= self.seen_every

    def _due(self, session_id: str) -> bool:
        now = time.monotonic()
        with self._seen_lock:
            last = self._seen.get(session_id)
            if last is not None and now - last < self.seen_every:
                return False
            self._seen[session_id] = now
            self._seen.move_to_end(session_id)
            if len(self._seen) > _SEEN_MEMORY:  # forgetting only costs one early update
                self._seen.popitem(last=False)
            return True

    def _remember_seen(self, session_id: str) -> None:
        with self._seen_lock:
            self._seen[session_id] = time.monotonic()
