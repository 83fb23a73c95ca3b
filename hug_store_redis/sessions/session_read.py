"""Loading a request's session: one store read (or a local-cache hit), the bytes kept as the
base of a later compare-and-set write. A mixin of ``RedisSessionMiddleware``, as
``MaxLifetime`` is, so ``middleware.py`` keeps the request flow and this the read.

On a store with a local cache, a session the cache holds decoded (``RedisStore.keep_decoded``,
after its first read) is served as a private copy, without decoding its bytes: a handler that
changes its session in place changes nobody else's, and the cached one never.
"""

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..clients.families import UNREACHABLE_ERRORS
from ..errors import CorruptSessionError, short_id
from ..store import RedisStore
from ..transport.base import SlidingReply
from .lifetime import Lifetime
from .request_state import Loaded, RequestState
from .signed_in_devices import BOUND_KEY

logger = logging.getLogger("hug_store_redis.middleware")  # the middleware's documented name


class SessionReads:
    """``_load`` and ``_discard``: a session id in, the session and the request's state out."""

    __slots__ = ()

    # Provided by RedisSessionMiddleware.
    store: RedisStore
    on_error: str
    _lifetime: Lifetime | None
    _read: Callable[[str], SlidingReply]
    _keep_decoded: "Callable[[str, bytes | str, Any, Any, bytes | str], None] | None"
    _decode_stored: Callable[[bytes | str, str], tuple[Any, bytes | str]]
    _reference: Callable[[Any, Any], Any]

    if TYPE_CHECKING:  # from SignedInDevices and MaxLifetime, after this class in the bases

        def _note_seen(self, session_id: str, binding: Any) -> None: ...
        def _load_stamped(
            self,
            lifetime: Lifetime,
            session_id: str,
            payload: bytes | str,
            json: bytes | str,
            data: Any,
            ttl_ms: int,
        ) -> tuple[Any, RequestState]: ...

    def _load(self, session_id: str, keep: bool = False) -> tuple[Any, Loaded | RequestState]:
        """Read and decode (``process_request`` tried ``_decoded_hit`` first, when there is one);
        ``keep``: the cache serves these bytes and would keep the decoded session for the next hit."""
        try:
            payload, ttl_ms, touched = self._read(session_id)
        except UNREACHABLE_ERRORS as error:
            if self.on_error == "raise":
                raise
            logger.warning(
                "[%s] session store unreachable, serving an empty session: %s", self.store.namespace, error
            )
            return {}, RequestState(degraded=True)
        except CorruptSessionError as error:  # bytes that are not UTF-8, met by a decoding client
            return {}, self._discard(session_id, error.reason)
        if payload is None:  # expired or never issued: never adopt an id the client chose
            return {}, RequestState(clear_cookie=True)
        try:
            data, json = self._decode_stored(payload, session_id)  # json: payload, unless sealed
        except CorruptSessionError as error:
            return {}, self._discard(session_id, error.reason)
        if not isinstance(data, dict):  # valid JSON, but no session this middleware wrote
            return {}, self._discard(session_id, f"JSON {type(data).__name__}, not an object")
        if self._lifetime is not None:
            return self._load_stamped(self._lifetime, session_id, payload, json, data, ttl_ms)
        if touched and BOUND_KEY in data:  # signed-in devices: last seen rides on the lazy touch
            self._note_seen(session_id, data[BOUND_KEY])
        reference = self._reference(data, json)
        if keep and self._keep_decoded is not None:  # the next hit of these bytes skips the decoding
            self._keep_decoded(session_id, payload, data, reference, json)
        return data, (session_id, payload, reference)

    def _discard(self, session_id: str, reason: str) -> RequestState:
        logger.warning(
            "[%s] session %s: %s; starting a new session", self.store.namespace, short_id(session_id), reason
        )
        return RequestState(old_id=session_id, clear_cookie=True)
