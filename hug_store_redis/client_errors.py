"""The exception classes of every client family the store serves: redis-py's, and valkey-py's.

valkey-py is a fork of redis-py whose exceptions are classes of their own (a
``valkey.exceptions.ConnectionError`` is no ``redis.exceptions.RedisError``), so a
handler written against redis-py alone would let a valkey-py client's errors past
uncounted, and the middleware's degrade mode would not notice its server going away.
Each name below is a tuple for ``except``; valkey-py's class joins when it is installed.
"""

from typing import Any

import redis.exceptions

_valkey: Any
try:
    import valkey.exceptions as _valkey
except ModuleNotFoundError:  # valkey-py is optional
    _valkey = None


def _with_valkey(redis_class: type[Exception], valkey_name: str) -> tuple[type[Exception], ...]:
    return (redis_class,) if _valkey is None else (redis_class, getattr(_valkey, valkey_name))


#: Anything a client raises for a failed command or round trip.
CLIENT_ERRORS = _with_valkey(redis.exceptions.RedisError, "ValkeyError")
#: An error reply from the server.
RESPONSE_ERRORS = _with_valkey(redis.exceptions.ResponseError, "ResponseError")
#: The server could not be reached, or did not answer in time.
UNREACHABLE_ERRORS = _with_valkey(redis.exceptions.ConnectionError, "ConnectionError") + _with_valkey(
    redis.exceptions.TimeoutError, "TimeoutError"
)
#: NOSCRIPT: the script is not cached on that node (restart, failover, SCRIPT FLUSH).
NO_SCRIPT_ERRORS = _with_valkey(redis.exceptions.NoScriptError, "NoScriptError")
#: NOPERM: an ACL refuses the command (or the keys).
NO_PERMISSION_ERRORS = _with_valkey(redis.exceptions.NoPermissionError, "NoPermissionError")
#: A WATCHed key changed before EXEC.
WATCH_ERRORS = _with_valkey(redis.exceptions.WatchError, "WatchError")
