"""RedisSessionMiddleware and the policy it owns: ids and cookies, change detection,
compare-and-set writes with merge, and the per-user index of signed-in devices."""

from .cookies import SESSION_ID_BYTES, is_session_id, new_session_id
from .lifetime import ISSUED_KEY
from .middleware import RedisSessionMiddleware
from .session_delta import Delta, MergeHook, Session, rebase
from .session_write import MAX_ATTEMPTS
from .signed_in_devices import BOUND_KEY
from .user_sessions import UserSession, UserSessionIndex

__all__ = [
    "BOUND_KEY",
    "ISSUED_KEY",
    "MAX_ATTEMPTS",
    "SESSION_ID_BYTES",
    "Delta",
    "MergeHook",
    "RedisSessionMiddleware",
    "Session",
    "UserSession",
    "UserSessionIndex",
    "is_session_id",
    "new_session_id",
    "rebase",
]
