"""Per-user session index: "your devices", "sign out that device" and "sign out everywhere".

One Redis hash per user, outside every namespace's ``namespace:*`` pattern (see
``index_key``), so ``count``/``ids``/``clear`` never see it. Fields, per bound session:

- ``e:<handle>``: compact JSON ``{"sid", "created", "bound", "ua", "ip"}``, plus ``"old"``,
  the id a ``regenerate`` is replacing (so both are ended if the rotation never finishes).
  Under ``key_secrets``, ``sid`` and ``old`` hold ``store.index_token``s (SHA-256 of the id,
  no usable id) from which the store finds the session's key under every secret;
- ``s:<handle>``: last seen, Unix seconds, refreshed at most once per ``seen_every``
  (clamped to half the session expiry).

The handle is random and shown in pages; the session id never leaves Redis (nor enters it,
under ``key_secrets``). Every call is a single-key command (or a pipeline of them), so the
index and the sessions may live in different Cluster slots. Order of operations, so that a
crash between two steps leaves nothing a client could use:

- bind: index entry first, session key after (the middleware writes it at the end of the
  request). A crash in between leaves an entry whose key never appears: pruned later.
- end: session keys first, index entries after. A crash in between leaves entries whose
  keys are gone: pruned later. The reverse order could leave a live, unlisted session.

Where the server has hash-field expiry, each entry's fields expire on their own at most a
second after its session (``index_expiry``: refreshed after the session's writes and touches,
in the same round trip as the other index writes). Everywhere, entries are pruned when read
or written, verified against the session keys (EXISTS), not by a guessed expiry; an entry
younger than ``PENDING_GRACE`` may not have its key yet and is kept. The hash expires after
twice the session expiry, refreshed by every bind and last-seen update, so it outlives the
sessions it lists and vanishes with an idle user. The middleware updates last seen on every
touch and every write of a bound session (each restarts the session's expiry), throttled per
process to ``seen_every`` <= expiry / 2: a session written at ``w`` expires at ``w + E``, and
this process refreshed the index after ``w - E/2``, so until at least ``w + 3E/2``.
"""

import secrets
import time
from dataclasses import dataclass
from typing import Any

import ujson

from ..clients.families import RESPONSE_ERRORS
from ..codec.wire import as_bytes, as_text
from ..store.redis_store import RedisStore
from ..transport.scripts import entry_fields
from .index_expiry import EntryExpiry, Throttle

INDEX_PREFIX = b"hug_store_redis-users|"
"""No ``:`` anywhere in an index key (``:`` and ``|`` in names are escaped), so no namespace's
``namespace:*`` SCAN pattern can match one, and distinct (namespace, user) pairs never collide."""

USER_AGENT_CHARS = 200
PENDING_GRACE = 300.0
"""Seconds an entry may wait for its session key (bind happens before the request's write)."""

MAX_SESSIONS = 32
SEEN_EVERY = 60.0
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
    token: str  # store.index_token of the session id: the id itself without key_secrets
    old_token: str | None
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
        self._seen = Throttle(
            seen_every if store.expiration is None else min(seen_every, store.expiration / 2)
        )
        self._prefix = INDEX_PREFIX + _escaped(store.namespace) + b"|"
        self._entry_expiry = EntryExpiry(
            store.expiration,
            store.server_capabilities,
            store.known_capabilities,
            store.server_changed,
            PENDING_GRACE,
            store.namespace,
        )

    @property
    def seen_every(self) -> float:
        """Seconds between two last-seen updates of a session by this process."""
        return self._seen.every

    @seen_every.setter
    def seen_every(self, seconds: float) -> None:
        self._seen.every = seconds

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
            "sid": self.store.index_token(session_id),
            "created": now if created is None else created,
            "bound": now,
            "ua": _printable(user_agent[:USER_AGENT_CHARS]),
            "ip": ip,
        }
        return self._put(user_id, secrets.token_urlsafe(12), entry, now, session_id)

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
        token = self.store.index_token
        old = None if old_session_id is None else token(old_session_id)
        entry.update(sid=token(session_id), old=old, bound=now)
        return self._put(user_id, handle, entry, now, session_id)

    def _put(self, user_id: str, handle: str, entry: dict[str, Any], now: float, session_id: str) -> str:
        key = self.index_key(user_id)
        entry_field, seen_field = entry_fields(handle)
        fields_expire_s = self._entry_expiry.pending_seconds()  # the session key comes later
        if fields_expire_s is not None and fields_expire_s == self._entry_expiry.seconds():
            self._entry_expiry.refreshes.remember(handle)  # before sending: the server's clock runs later
        else:
            self._entry_expiry.refreshes.forget(handle)  # the login's write refreshes it
        try:
            self._write(
                key,
                {entry_field: as_bytes(ujson.encode(entry)), seen_field: _seconds(now)},
                (entry_field, seen_field),
                fields_expire_s,
            )
        except BaseException:
            self._entry_expiry.refreshes.forget(handle)
            raise
        live = self._live_entries(key, now)
        surplus = sorted(live, key=lambda item: item.created)[: max(0, len(live) - self.max_sessions)]
        self._end(key, surplus)
        self._seen.remember(session_id)
        return handle

    def note_seen(self, user_id: str, handle: str, session_id: str) -> None:
        """After a write or touch of a bound session: refresh last seen and the index's expiry
        at most once per ``seen_every``, and the entry's own expiry (where the server has one)
        at most once per ``index_expiry.SLACK_S``, per session and process.

        The checks are dict lookups; the update is one round trip (HSET, EXPIRE and HEXPIRE
        pipelined). An update that fails is not remembered, so the next request tries again.
        """
        fields_expire_s = self._entry_expiry.seconds()
        if fields_expire_s is None and not self._seen.due(session_id):
            return  # lock-free: no entry expiry on this server, last seen not due
        refreshes = self._entry_expiry.refreshes
        seen = self._seen.claim(session_id)
        if fields_expire_s is None:
            refreshed = False
        elif seen:  # HSET drops the field's expiry: HEXPIRE goes with it
            refreshes.remember(handle)
            refreshed = True
        else:
            refreshed = refreshes.claim(handle)
        if not seen and not refreshed:
            return
        entry_field, seen_field = entry_fields(handle)
        try:
            self._write(
                self.index_key(user_id),
                {seen_field: _seconds(time.time())} if seen else {},
                (entry_field, seen_field) if refreshed else (),
                fields_expire_s,
            )
        except BaseException:
            self._seen.forget(session_id)
            refreshes.forget(handle)
            raise

    def sessions(self, user_id: str, current_session_id: str | None = None) -> list[UserSession]:
        """Every live session of ``user_id``, most recently seen first; dead entries are pruned."""
        live = self._live_entries(self.index_key(user_id), time.time())
        live.sort(key=lambda item: item.last_seen, reverse=True)
        current = None if current_session_id is None else self.store.index_token(current_session_id)
        return [
            UserSession(
                handle=entry.handle,
                created=entry.created,
                last_seen=entry.last_seen,
                user_agent=entry.user_agent,
                ip=entry.ip,
                current=entry.token == current,
            )
            for entry in live
        ]

    def end_all(self, user_id: str, *, keep_session_id: str | None = None) -> int:
        """End every indexed session of ``user_id`` but ``keep_session_id``; how many keys were deleted."""
        key = self.index_key(user_id)
        keep = None if keep_session_id is None else self.store.index_token(keep_session_id)
        doomed = [entry for entry in self._entries(key) if entry.token != keep]
        return self._end(key, doomed)

    def end_one(self, user_id: str, handle: str) -> bool:
        """End the session behind ``handle``; False when there was no such live session."""
        key = self.index_key(user_id)
        doomed = [entry for entry in self._entries(key) if entry.handle == handle]
        return self._end(key, doomed) > 0

    def forget(self, user_id: str, session_id: str) -> None:
        """Drop the entries of a session whose key is already deleted (logout)."""
        key, token = self.index_key(user_id), self.store.index_token(session_id)
        self._drop(key, [entry for entry in self._entries(key) if entry.token == token])

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
        """Entries whose session key exists (or may still be written); the others are pruned.

        One pipelined EXISTS per key finds the live sessions in one round trip. Under a
        ``key_secrets`` rotation a session can move from one key to the other between two of
        those EXISTS and miss both, so an entry about to be pruned is looked at again as the
        store's reads look (``RedisStore.token_exists``): only dead entries pay for it, once.
        """
        entries = self._entries(key)
        if not entries:
            return []
        pipeline = self._client.pipeline(transaction=False)
        keys = [self.store.token_redis_keys(entry.token) for entry in entries]
        for session_keys in keys:  # one EXISTS per key (Cluster-safe), every key_secrets one
            for session_key in session_keys:
                pipeline.exists(session_key)
        replies = iter(pipeline.execute())
        exists = [any([next(replies) for _ in session_keys]) for session_keys in keys]
        live, dead = [], []
        for entry, session_keys, found in zip(entries, keys, exists, strict=True):
            if found or now - entry.bound < PENDING_GRACE:
                live.append(entry)
            elif len(session_keys) > 1 and self.store.token_exists(entry.token):
                live.append(entry)  # moved between two of the looks above: a rotation half done
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
            found = self.store.delete_token(entry.token)
            if entry.old_token is not None:
                self.store.delete_token(entry.old_token)  # a rotation that never finished
            deleted += found
            if found or now - entry.bound >= PENDING_GRACE:
                done.append(entry)
        self._drop(key, done)
        return deleted

    def _write(
        self, key: bytes, fields: dict[bytes, bytes], expiring: tuple[bytes, ...], fields_expire_s: int | None
    ) -> None:
        """One index write; where HEXPIRE turns out refused, written again without it (HSET and
        EXPIRE again: the same values)."""
        try:
            self.store.index_set(key, fields, self._expiry(), expiring, fields_expire_s)
        except RESPONSE_ERRORS as error:
            if not expiring or fields_expire_s is None or not self._entry_expiry.refused(error):
                raise
            self.store.index_set(key, fields, self._expiry())

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
        """Whether ``note_seen`` may write; lock-free (dict lookups), so a request can ask cheaply."""
        return self._seen.due(session_id)

    def refresh_due(self, session_id: str, handle: str) -> bool:
        """``seen_due``, or the entry's own expiry may need refreshing (lock-free)."""
        return self._seen.due(session_id) or self._entry_expiry.maybe_due(handle)
