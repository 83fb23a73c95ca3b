"""RedisSessionMiddleware: hug sessions with one Redis round trip per read-only request.

hug's stock ``SessionMiddleware`` asks the store EXISTS, GET, EXISTS, SET on every request
and saves ``{}`` for every cookieless visitor. This middleware reads once (sliding the expiry
only when ``touch_after`` says it is due), keeps what it read, and writes only when the
session holds another JSON value after the handler, so bots without cookies cost Redis
nothing. Writes never lose an overlapping request's update
(``session_write.py``).
"""

import datetime
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from falcon.util.structures import Context  # type: ignore[import-untyped]  # hug's request context

from ..clients.families import UNREACHABLE_ERRORS
from ..errors import short_id
from ..store.redis_store import RedisStore
from .cookies import (
    EXPIRED,
    SESSION_ID_BYTES,
    attributes,
    check_cookie,
    cookie_flags,
    is_session_id,
    lifetime,
    new_session_id,
)
from .lifetime import Lifetime
from .max_lifetime import MaxLifetime
from .request_state import STATE_KEY, Loaded, RequestState
from .session_delta import MergeHook
from .session_read import SessionReads
from .session_write import Expiry, Saved, create, encode_session, save_existing, too_big
from .signed_in_devices import BOUND_KEY, SignedInDevices
from .user_sessions import UserSessionIndex

__all__ = ["SESSION_ID_BYTES", "RedisSessionMiddleware", "is_session_id", "new_session_id"]

logger = logging.getLogger("hug_store_redis.middleware")  # a documented name

DEFAULT_TOUCH_AFTER = 60
"""Seconds: the expiry slides at most once a minute per session, as connect-mongo's touchAfter."""

DEFAULT_MAX_SESSION_BYTES = 1 << 20
"""1 MiB: far above what a session needs (ids, a user, a cart), far below what makes every
request of that browser slow (Redis sends the whole value on each read). A session growing
without bound is a bug to see in the log, not a value to keep storing silently."""

_UNREACHABLE = UNREACHABLE_ERRORS
ON_ERROR_VALUES = ("raise", "degrade")

_T = TypeVar("_T")


class RedisSessionMiddleware(SessionReads, SignedInDevices, MaxLifetime):
    """Sessions in a ``RedisStore``; a drop-in for ``hug.middleware.SessionMiddleware``.

    Takes every keyword of hug's middleware, with the same meaning, plus
    ``cookie_same_site``, ``on_error``, ``max_session_bytes`` (default 1 MiB; ``None``: no
    limit), ``touch_after`` and ``merge``. ``cookie_path`` defaults to ``"/"`` (hug leaves
    it unset, which scopes the cookie to the directory of whichever URL first set it).

    ``touch_after`` (seconds, default 60, capped at half the store's expiration): a read
    slides the expiry only when the remaining TTL has dropped below ``expiration -
    touch_after``, so at most once per ``touch_after`` per session; ``0`` slides on every
    read; the ``touch_after`` attribute reads the value in force, after the cap.
    ``merge(base, mine, theirs) -> dict`` decides what to write when another request
    changed the session in between (default: this request's top-level changes win).
    ``max_lifetime`` (seconds or a timedelta; default None, no limit): a session ends that
    long after its id was issued (created, or ``regenerate`` at login), however active it
    is; its key's expiry never outlasts it (``lifetime.py`` says how and why).
    """

    __slots__ = (
        "_cookie_attributes",
        "_cookie_prefix",
        "_decode_stored",
        "_decoded_hit",
        "_expired_cookie_attributes",
        "_first_cookie_id",
        "_keep_decoded",
        "_lifetime",
        "_note_skipped_write",
        "_read",
        "_reference",
        "_unchanged",
        "context_name",
        "cookie_domain",
        "cookie_expires",
        "cookie_http_only",
        "cookie_max_age",
        "cookie_name",
        "cookie_path",
        "cookie_same_site",
        "cookie_secure",
        "max_lifetime",
        "max_session_bytes",
        "merge",
        "on_error",
        "store",
        "touch_after",
        "user_index",
    )

    def __init__(
        self,
        store: RedisStore,
        context_name: str = "session",
        cookie_name: str = "sid",
        cookie_expires: datetime.datetime | None = None,
        cookie_max_age: int | None = None,
        cookie_domain: str | None = None,
        cookie_path: str | None = "/",
        cookie_secure: bool = True,
        cookie_http_only: bool = True,
        *,
        cookie_same_site: str | None = "Lax",
        on_error: str = "raise",
        max_session_bytes: int | None = DEFAULT_MAX_SESSION_BYTES,
        touch_after: float = DEFAULT_TOUCH_AFTER,
        merge: MergeHook | None = None,
        max_lifetime: "float | datetime.timedelta | None" = None,
    ) -> None:
        check_cookie(cookie_name, cookie_same_site, cookie_secure)
        if on_error not in ON_ERROR_VALUES:
            raise ValueError(f"on_error must be one of {ON_ERROR_VALUES}, not {on_error!r}")
        if max_session_bytes is not None and max_session_bytes <= 0:
            raise ValueError(f"max_session_bytes must be positive or None, not {max_session_bytes!r}")
        if isinstance(touch_after, bool) or not isinstance(touch_after, (int, float)) or not touch_after >= 0:
            raise ValueError(f"touch_after must be a number of seconds >= 0, not {touch_after!r}")
        if merge is not None and not callable(merge):
            raise TypeError(f"merge must be callable as merge(base, mine, theirs), not {merge!r}")
        if cookie_max_age is not None:
            cookie_max_age = int(cookie_max_age)
        self.store = store
        # The value in force, so reading the attribute tells what the reads do.
        self.touch_after = touch_after if store.expiration is None else min(touch_after, store.expiration / 2)
        self._lifetime = (
            None if max_lifetime is None else Lifetime(max_lifetime, store.expiration, self.touch_after)
        )
        self.max_lifetime = None if self._lifetime is None else self._lifetime.seconds
        # Under max_lifetime the touch waits for the issue time, which is inside the value.
        self._read = (
            store.sliding_reader(self.touch_after) if self._lifetime is None else store.untouched_reader()
        )
        # A local-cache hit of a session decoded before skips the read and the decoding
        # (session_read.py); under max_lifetime every load checks the issue time instead.
        self._decoded_hit = store.decoded_reader(self.touch_after) if self._lifetime is None else None
        self._keep_decoded = None if self._decoded_hit is None else store.keep_decoded
        self._reference = store.codec.reference  # the store's twin, compiled or pure
        self._unchanged = store.codec.unchanged
        self._first_cookie_id = store.codec.first_cookie_id
        self._decode_stored = store.decode_stored  # bound once: the read path's calls, not lookups
        self._note_skipped_write = store.note_skipped_write
        self.merge = merge
        self.context_name = context_name
        self.cookie_name = cookie_name
        self.cookie_expires = cookie_expires
        self.cookie_max_age = cookie_max_age
        self.cookie_domain = cookie_domain
        self.cookie_path = cookie_path
        self.cookie_secure = cookie_secure
        self.cookie_http_only = cookie_http_only
        self.cookie_same_site = cookie_same_site
        self.on_error = on_error
        self.max_session_bytes = max_session_bytes
        self.user_index = UserSessionIndex(store)  # signed-in devices (user_sessions.py)
        flags = cookie_flags(cookie_domain, cookie_path, cookie_secure, cookie_http_only, cookie_same_site)
        self._cookie_attributes = attributes(lifetime(cookie_expires, cookie_max_age) + flags)
        self._expired_cookie_attributes = attributes([EXPIRED, *flags])
        self._cookie_prefix = cookie_name + "="  # ours first: read without falcon's parser

    # hug / falcon middleware hooks

    def process_request(self, request: Any, response: Any) -> None:
        """Load the session: no Redis call without a well-formed cookie, one with.

        The cookie is the first value falcon's parser would give. A header that starts
        with it, well-formed, is matched directly; any other header goes to falcon.
        """
        env = request.env
        header = env.get("HTTP_COOKIE")
        session_id = self._first_cookie_id(header, self._cookie_prefix) if header else None
        values = None
        if session_id is None and header:
            values = request.get_cookie_values(self.cookie_name)
            if values and is_session_id(values[0]):
                session_id = values[0]
        data: Any
        if session_id is None:
            data, env[STATE_KEY] = {}, RequestState(clear_cookie=bool(values))
        elif self._decoded_hit is None:  # no local cache: one read
            data, env[STATE_KEY] = self._load(session_id)
        else:
            hit = self._decoded_hit(session_id)
            if hit:  # a local-cache hit of a session decoded before: a private copy (session_read.py)
                data, env[STATE_KEY] = hit[1], (session_id, hit[0], hit[2])
            else:  # False: a hit of bytes alone, decoded here and then kept by the cache
                data, env[STATE_KEY] = self._load(session_id, hit is False)
        context = request.context
        if type(context) is Context:  # falcon's: its item access is a Python method over __dict__
            context.__dict__[self.context_name] = data
        else:
            context[self.context_name] = data

    def process_response(self, request: Any, response: Any, resource: Any, req_succeeded: bool) -> None:
        """Write the session only if its JSON changed; set the cookie only if it is new."""
        state: Loaded | RequestState | None = request.env.get(STATE_KEY)
        context = request.context
        session = (context.__dict__ if type(context) is Context else context).get(self.context_name)
        if type(state) is tuple:
            session_id, payload, reference = state
            if self._unchanged(session, reference):
                self._note_skipped_write()
                if self.cookie_max_age is not None:  # slide the browser's expiry with Redis's
                    self._set_cookie(response, session_id)
                return
            self._save_existing(session, session_id, payload, response)
        elif isinstance(state, RequestState) and not state.degraded:
            if state.session_id is None and not session:
                self._drop_stale(state, response)
            elif state.session_id is None or state.new_id:
                self._save_new(session, state, response)
            elif self._lifetime is not None:
                self._save_stamped(self._lifetime, session, state, response)
            else:
                assert state.payload is not None
                self._save_existing(session, state.session_id, state.payload, response)

    def _save_existing(
        self,
        session: Any,
        session_id: str,
        read: bytes | str,
        response: Any,
        expire_s: Expiry = None,
        merge: MergeHook | None = None,
    ) -> None:
        """Compare-and-set over the bytes read; a session left empty is deleted the same way."""
        if type(session) is dict and not session:
            payload = b""
        else:
            payload = encode_session(self.store, session, read, session_id)
            if too_big(self.store, payload, session_id, self.max_session_bytes):
                return
        try:
            saved = save_existing(
                self.store,
                session_id,
                read,
                session,
                payload,
                self.merge if merge is None else merge,
                self.max_session_bytes,
                expire_s,
            )
        except _UNREACHABLE as error:
            self._unreachable(error)
            return
        if saved is Saved.WRITTEN:
            if self.cookie_max_age is not None:
                self._set_cookie(response, session_id)
            if type(session) is dict and BOUND_KEY in session:  # the write restarted its expiry:
                self._note_seen(session_id, session[BOUND_KEY])  # the user index follows (throttled)
        elif saved is Saved.DELETED:
            self._clear_cookie(response)
        elif saved is Saved.GONE:
            # The cookie is left alone: the request that deleted the key (logout, login) set
            # the cookie the browser should keep, and this response may arrive after it.
            logger.warning(
                "[%s] session %s was deleted while this request ran (logout, login or expiry): "
                "its changes are dropped and the session is not recreated",
                self.store.namespace,
                short_id(session_id),
            )

    def _save_new(self, session: Any, state: RequestState, response: Any) -> None:
        """SET NX under a fresh id (deleting a rotated or refused old key in the same round trip)."""
        expire_s = None
        if self._lifetime is not None and type(session) is dict:  # a new id: its lifetime starts now
            issued = self._lifetime.now()
            session, expire_s = self._lifetime.stamped(session, issued), self._lifetime.expire_s(issued)
        payload = encode_session(self.store, session, state.payload, state.session_id)
        if too_big(self.store, payload, "(new)", self.max_session_bytes):
            return
        session_id = self._guard(
            create, self.store, state.session_id or new_session_id(), payload, state.old_id, expire_s
        )
        if session_id is not None:
            state.session_id, state.new_id = session_id, True
            self._set_cookie(response, session_id)
            if type(session) is dict and BOUND_KEY in session:  # written after its index entry:
                self._note_seen(session_id, session[BOUND_KEY])  # the entry's expiry follows

    def _drop_stale(self, state: RequestState, response: Any) -> None:
        """An empty session under a cookie we refused: clear it, store nothing."""
        if state.old_id is not None:
            self._guard(self.store.delete, state.old_id)
        if state.clear_cookie:
            self._clear_cookie(response)

    def _guard(self, call: Callable[..., _T], *args: Any, **kwargs: Any) -> _T | None:
        """Run a Redis call; in degrade mode an unreachable server is logged (None), not raised."""
        try:
            return call(*args, **kwargs)
        except _UNREACHABLE as error:
            self._unreachable(error)
            return None

    def _unreachable(self, error: Exception) -> None:
        if self.on_error == "raise":
            raise error
        logger.warning("[%s] session store unreachable, session not saved: %s", self.store.namespace, error)

    def _clear_cookie(self, response: Any) -> None:
        response.append_header("Set-Cookie", f"{self.cookie_name}={self._expired_cookie_attributes}")

    def _set_cookie(self, response: Any, session_id: str) -> None:
        response.append_header("Set-Cookie", f"{self.cookie_name}={session_id}{self._cookie_attributes}")

    # For handlers

    def regenerate(self, request: Any) -> str:
        """Login: same data under a fresh id; the old key goes in the same round trip as the write.

        Call it whenever privileges change, so an id an attacker planted or saw before
        login is worthless afterwards. Returns the new id. The new key is created with SET NX
        and the old one deleted, so an overlapping request still carrying the old id finds it
        gone and never writes it back; what that request changed is lost with the old key.
        """
        state = self._state(request)
        if state.session_id is not None and not state.new_id:  # an id minted here is not in Redis
            state.old_id = state.session_id
        state.session_id = new_session_id()
        state.new_id = True  # forces the write under the new id
        state.clear_cookie = False
        self._rebind_after_regenerate(request, state.session_id)  # signed-in devices
        return state.session_id

    def destroy(self, request: Any) -> None:
        """Logout: delete the key now, empty the session and expire the cookie.

        Anything the handler stores in the session afterwards starts a new session.
        """
        state = self._state(request)
        for session_id in (state.session_id, state.old_id):
            if session_id is not None:
                self._guard(self.store.delete, session_id)
        self._unbind_after_destroy(request, (state.session_id, state.old_id))  # signed-in devices
        state.session_id = state.payload = state.old_id = None
        state.new_id = False
        state.clear_cookie = True
        request.context[self.context_name] = {}

    def _state(self, request: Any) -> RequestState:
        state: Loaded | RequestState | None = request.env.get(STATE_KEY)
        if isinstance(state, RequestState):
            return state
        if state is None:
            raise RuntimeError("RedisSessionMiddleware did not see this request: is it added to the API?")
        session_id, payload, _ = state
        state = request.env[STATE_KEY] = RequestState(session_id=session_id, payload=payload)
        return state
