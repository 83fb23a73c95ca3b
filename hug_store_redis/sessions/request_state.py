"""What the middleware keeps about a request's session between its two hooks, in the WSGI environ."""

from typing import Any

STATE_KEY = "hug_store_redis.session"
"""The environ key; the value is a ``Loaded`` tuple or a ``RequestState``."""

Loaded = tuple[str, bytes | str, Any]
"""The common request's whole state, kept in the WSGI environ: the id of a session read
from Redis, the exact bytes read, which a write compares against, and the codec's
reference for telling whether the session changed, nested changes included (the compiled
twin walks the session beside a private copy of what was read, and encodes it only when the
walk cannot tell)."""


class RequestState:
    """Everything else a request can do to its session, kept in the WSGI environ."""

    __slots__ = (
        "clear_cookie",
        "degraded",
        "issued",
        "new_id",
        "old_id",
        "payload",
        "reference",
        "session_id",
    )

    def __init__(
        self,
        *,
        session_id: str | None = None,
        payload: bytes | str | None = None,
        old_id: str | None = None,
        clear_cookie: bool = False,
        degraded: bool = False,
        issued: int | None = None,
        reference: Any = None,
    ) -> None:
        self.session_id = session_id  # None: no session in Redis yet (nothing issued)
        self.payload = payload  # as in Loaded: the bytes a write of session_id compares against
        self.old_id = old_id  # a key Redis holds, to delete when the session is written
        self.clear_cookie = clear_cookie  # the client sent a cookie we will not honour
        self.new_id = False  # the id is not the one in the client's cookie (never written yet)
        self.degraded = degraded  # Redis was unreachable and on_error="degrade"
        self.issued = issued  # max_lifetime: when session_id was issued (None: not known, now)
        self.reference = reference  # max_lifetime: as in Loaded, to skip writing an unchanged session
