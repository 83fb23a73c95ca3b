"""Arguments the store refuses before anything reaches Redis."""

import datetime


def expiration_seconds(expiration: "int | float | datetime.timedelta | None") -> int | None:
    """Whole, positive seconds, or None for keys that never expire.

    Redis rounds nothing for us: ``EX 0`` is an error and ``EX 1.5`` is refused, so a
    bad value fails here, at start-up, rather than on the first request.
    """
    if expiration is None:
        return None
    if isinstance(expiration, datetime.timedelta):
        seconds: float = expiration.total_seconds()
    elif isinstance(expiration, bool) or not isinstance(expiration, (int, float)):
        raise TypeError(
            f"expiration must be whole seconds (int), a timedelta or None, not {type(expiration).__name__}"
        )
    else:
        seconds = expiration
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds != int(seconds):
        raise ValueError(f"expiration must be a whole number of seconds, got {expiration!r}")
    if seconds <= 0:
        raise ValueError(f"expiration must be positive (or None for no expiry), got {expiration!r}")
    return int(seconds)


def require_expiry(expire: object, unit: str = "expire_s") -> None:
    """A per-write expiry (a session's remaining lifetime): a positive int, since Redis refuses
    ``EX 0`` and fractions, and a caller's rounding slip must fail here, not set no expiry."""
    if expire is not None and (type(expire) is not int or expire <= 0):
        raise ValueError(f"{unit} must be a positive int or None, got {expire!r}")


def require_bytes(payload: object) -> None:
    """The generic path would hand a str to redis-py, which writes it; refuse it on both paths."""
    if not isinstance(payload, bytes):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
