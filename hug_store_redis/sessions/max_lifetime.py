"""The middleware's ``max_lifetime`` hooks: a mixin of ``RedisSessionMiddleware``, as
``SignedInDevices`` is, so the request flow stays in ``middleware.py`` and the policy (what
the issue time is, where it lives, why) in ``lifetime.py``.
"""

import logging
from typing import Any

from ..clients.families import UNREACHABLE_ERRORS
from ..errors import CorruptSessionError, short_id
from ..store import RedisStore
from .lifetime import ENDED, Lifetime, log_ended
from .request_state import RequestState
from .session_delta import MergeHook
from .session_write import Expiry
from .signed_in_devices import BOUND_KEY

logger = logging.getLogger("hug_store_redis.middleware")  # the middleware's documented name


class MaxLifetime:
    """Loading a session whose issue time is checked, and saving it with the time put back."""

    __slots__ = ()

    # Provided by RedisSessionMiddleware.
    store: RedisStore
    merge: MergeHook | None
    cookie_max_age: int | None
    _reference: Any
    _unchanged: Any

    def _discard(self, session_id: str, reason: str) -> RequestState:
        raise NotImplementedError

    def _note_seen(self, session_id: str, binding: Any) -> None:
        raise NotImplementedError

    def _set_cookie(self, response: Any, session_id: str) -> None:
        raise NotImplementedError

    def _guard(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def _save_existing(
        self,
        session: Any,
        session_id: str,
        read: bytes | str,
        response: Any,
        expire_s: Expiry = None,
        merge: MergeHook | None = None,
    ) -> None:
        raise NotImplementedError

    def _load_stamped(
        self,
        lifetime: Lifetime,
        session_id: str,
        payload: bytes | str,
        json: bytes | str,
        data: Any,
        ttl_ms: int,
    ) -> tuple[Any, RequestState]:
        """``max_lifetime``: the issue time out of the app's sight; a session past it not honoured.

        ``payload`` is what Redis holds (the compare-and-set base), ``json`` the JSON it opens to:
        the same bytes unless ``encryption_keys`` sealed them, and change detection compares JSON.
        """
        reference = self._reference(data, json)  # taken while data is what Redis holds
        try:
            issued = lifetime.take_issued(data, session_id)
        except CorruptSessionError as error:
            return {}, self._discard(session_id, error.reason)
        if issued is not None:
            touch_ms = lifetime.on_read(issued, ttl_ms)
            if touch_ms == ENDED:
                log_ended(self.store, session_id, "starting a new session")
                return {}, RequestState(old_id=session_id, clear_cookie=True)
            if touch_ms is not None:
                self._touch_capped(session_id, touch_ms, data)
        return data, RequestState(session_id=session_id, payload=payload, issued=issued, reference=reference)

    def _touch_capped(self, session_id: str, expire_ms: int, data: Any) -> None:
        """The lazy touch under ``max_lifetime``: one PEXPIRE, never past the lifetime's end."""
        try:
            touched = self.store.touch(session_id, expire_ms=expire_ms)
        except UNREACHABLE_ERRORS as error:  # the read worked: the expiry slides on a later request
            logger.warning(
                "[%s] session %s: expiry not slid: %s", self.store.namespace, short_id(session_id), error
            )
            return
        if touched and BOUND_KEY in data:
            self._note_seen(session_id, data[BOUND_KEY])

    def _save_stamped(self, lifetime: Lifetime, session: Any, state: RequestState, response: Any) -> None:
        """The issue time back in, the expiry capped at what is left; never a write past the end."""
        session_id, read = state.session_id, state.payload
        assert session_id is not None and read is not None
        issued = lifetime.now() if state.issued is None else state.issued  # 1.0.0's: issued now
        if type(session) is dict and session:
            session = lifetime.stamped(session, issued)
        if state.reference is not None and self._unchanged(session, state.reference):
            self.store.note_skipped_write()
            if self.cookie_max_age is not None:
                self._set_cookie(response, session_id)
            return
        expire_s = lifetime.expire_s(issued)
        if expire_s == 0:  # ended while this request ran: deleted, as Redis's capped expiry would
            log_ended(self.store, session_id, "this request's changes are dropped")
            self._guard(self.store.delete, session_id)
            return
        # Each attempt's expiry from the issue time it writes: a merge with a session another
        # request stamped earlier (a 1.0.0 session stamped by both) ends at that earlier time.
        self._save_existing(
            session, session_id, read, response, lifetime.expiry(issued), lifetime.merging(self.merge)
        )
