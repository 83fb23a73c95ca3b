"""What a local cache's options must be, and whether its hits may run without the lock.

Apart from ``local_cache.py`` so that module keeps to the cache itself; the listener's
durations are checked by the same rule.
"""

import sys


def gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL (``sys._is_gil_enabled``, 3.13+)."""
    is_gil_enabled = getattr(sys, "_is_gil_enabled", None)
    return True if is_gil_enabled is None else bool(is_gil_enabled())


def positive_seconds(name: str, value: float) -> float:
    """A duration option: a positive, finite int or float (not a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not 0 < value < float("inf"):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return float(value)


def positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value
