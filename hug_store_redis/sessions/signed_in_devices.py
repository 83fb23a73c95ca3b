"""The middleware's signed-in-devices API, delegating to ``user_sessions.UserSessionIndex``.

A mixin of ``RedisSessionMiddleware``, so the session middleware keeps its one job and
only calls the hooks at the bottom (on a touched load or a write, on regenerate, on destroy).

The session carries its own binding under ``BOUND_KEY`` (``{"user", "handle"}``), so a
request on a bound session knows its index entry without asking Redis: it costs no extra
round trip, except an index update after a read that slid the session's expiry or a write
that restarted it (a new session's too): last seen at most once per
``UserSessionIndex.seen_every`` (60 s, or half the session expiry if shorter), which also
refreshes the index's expiry, so "sign out everywhere" reaches every live session; and where
entries expire on their own, their expiry at most once a second (``index_expiry``), so they
end with their sessions, never before. Each per session (or entry) and process.
"""

import logging
from typing import Any

from ..clients.families import UNREACHABLE_ERRORS
from ..errors import short_id
from ..store import RedisStore
from .user_sessions import UserSession, UserSessionIndex

logger = logging.getLogger("hug_store_redis.signed_in_devices")  # the name it had before the move

BOUND_KEY = "hug_store_redis.user"
"""The key ``bind_user`` adds to the session; clearing the session unbinds it (the index
entry then stays until the session ends, so "sign out everywhere" still reaches it)."""


class SignedInDevices:
    """``bind_user``, ``user_sessions``, ``destroy_user_sessions``, ``destroy_user_session``."""

    __slots__ = ()

    # Provided by RedisSessionMiddleware.
    user_index: UserSessionIndex
    context_name: str
    store: RedisStore

    def _state(self, request: Any) -> Any:
        raise NotImplementedError

    def regenerate(self, request: Any) -> str:
        raise NotImplementedError

    def _guard(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def bind_user(self, request: Any, user_id: str, *, ip: str | None = None) -> str:
        """Tie this request's session to ``user_id``; call at login, after ``regenerate``.

        The index entry is written now, before the session key (written at the end of the
        request), so no live session of the user is ever missing from the index. Records
        the User-Agent, cut short, and ``ip`` only if given. Returns the session's handle.
        """
        if self._state(request).session_id is None:
            self.regenerate(request)  # nothing issued yet: mint the id the entry names
        session_id = self._state(request).session_id
        session = request.context[self.context_name]
        previous = _binding(session)
        if previous is not None and previous["user"] == user_id:
            return str(previous["handle"])  # bound already (regenerate kept the entry right)
        handle = self.user_index.add(user_id, session_id, user_agent=request.user_agent or "", ip=ip)
        if previous is not None:  # bound to another user before: this session is no longer theirs
            self.user_index.remove(previous["user"], str(previous.get("handle")))
        session[BOUND_KEY] = {"user": user_id, "handle": handle}
        return handle

    def user_sessions(self, user_id: str, current: Any = None) -> list[UserSession]:
        """Every live session of ``user_id``, most recently seen first; ``current`` (a request) marked."""
        return self.user_index.sessions(user_id, self._current_id(current))

    def destroy_user_sessions(self, user_id: str, *, keep: Any = None) -> int:
        """End every session of ``user_id``, or all but ``keep``'s (a request); how many ended.

        Session keys go before their index entries. ``keep=None`` ends this browser's
        session too: call ``destroy(request)`` as well, so this response does not write it.
        """
        return self.user_index.end_all(user_id, keep_session_id=self._current_id(keep))

    def destroy_user_session(self, user_id: str, handle: str) -> bool:
        """End the session behind ``handle`` ("sign out that device"); False if there was none."""
        return self.user_index.end_one(user_id, handle)

    # Hooks the middleware calls.

    def _note_seen(self, session_id: str, binding: Any) -> None:
        if _binding({BOUND_KEY: binding}) is None:
            return
        if not self.user_index.refresh_due(session_id, str(binding.get("handle"))):
            return  # the common case: dict lookups, no lock
        try:
            self.user_index.note_seen(binding["user"], str(binding.get("handle")), session_id)
        except UNREACHABLE_ERRORS as error:  # last seen is a courtesy: never fail the request for it
            logger.warning(
                "[%s] session %s: last seen not recorded: %s",
                self.store.namespace,
                short_id(session_id),
                error,
            )

    def _rebind_after_regenerate(self, request: Any, new_id: str) -> None:
        """A bound session under a new id: its entry names the new id before the new key exists.

        Raises even with ``on_error="degrade"``: a rotation the index cannot follow would
        leave a live session out of reach of "sign out everywhere".
        """
        binding = _binding(request.context.get(self.context_name))
        if binding is not None:
            old_id = self._state(request).old_id
            self.user_index.rotate(binding["user"], str(binding.get("handle")), new_id, old_id)

    def _unbind_after_destroy(self, request: Any, session_ids: tuple[str | None, ...]) -> None:
        """Logout: the keys are deleted already; now their index entries."""
        binding = _binding(request.context.get(self.context_name))
        if binding is not None:
            for session_id in session_ids:
                if session_id is not None:
                    self._guard(self.user_index.forget, binding["user"], session_id)

    def _current_id(self, request: Any) -> str | None:
        if request is None:
            return None
        session_id: str | None = self._state(request).session_id
        return session_id


def _binding(session: Any) -> dict[str, Any] | None:
    binding = session.get(BOUND_KEY) if isinstance(session, dict) else None
    if isinstance(binding, dict) and isinstance(binding.get("user"), str) and binding["user"]:
        return binding
    return None
