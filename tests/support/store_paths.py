"""The store paths (fast, generic) every store test runs on, and how a test picks one.

``generic`` turns the fast path off for every RedisStore the test builds, however it is
built (directly, ``from_url``, the CLI in-process), as ``fast_path=False`` would for one.
Adding a path is one entry in ``STORE_PATHS`` and a branch in ``use_store_path``.
"""

import pytest

import hug_store_redis.transport.selection

STORE_PATHS = ["fast", "generic"]


def use_store_path(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make every RedisStore built while ``monkeypatch`` is active take the named path."""
    if name not in STORE_PATHS:
        raise ValueError(f"unknown store path {name!r}; known: {STORE_PATHS}")
    if name == "generic":
        monkeypatch.setattr(hug_store_redis.transport.selection, "fast_path_for", lambda client: None)
