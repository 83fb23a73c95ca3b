"""Module paths the README or the docs once named stay importable after the move into layers.

Each shim re-exports the object itself, so ``isinstance`` and ``except`` written against the
old path keep matching what the package raises and returns.
"""

import importlib
import pkgutil

import pytest

import hug_store_redis
from hug_store_redis import cache, clients, sessions, store

pytestmark = pytest.mark.one_twin

OLD_PATHS = {
    "hug_store_redis.connect": (
        clients,
        ["InvalidURLError", "ServerUnreachableError", "client_from_url", "mask_url", "redact", "server_info"],
    ),
    "hug_store_redis.stats": (store, ["StoreStats"]),
    "hug_store_redis.invalidation": (
        cache,
        [
            "InvalidationListener",
            "ListenerError",
            "TLSSettings",
            "UnixSocket",
            "shared_listener",
            "shared_unix_listener",
        ],
    ),
    "hug_store_redis.middleware": (
        sessions,
        ["RedisSessionMiddleware", "SESSION_ID_BYTES", "is_session_id", "new_session_id"],
    ),
    "hug_store_redis.redis_store": (store, ["RedisStore"]),
}


@pytest.mark.parametrize("path", OLD_PATHS)
def test_an_old_path_gives_the_same_objects_as_their_new_home(path):
    home, names = OLD_PATHS[path]
    old = importlib.import_module(path)
    assert sorted(old.__all__) == sorted(names)
    for name in names:
        assert getattr(old, name) is getattr(home, name), name


def test_the_top_level_holds_at_most_eight_modules_and_each_shim_says_why():
    top = [info.name for info in pkgutil.iter_modules(hug_store_redis.__path__) if not info.ispkg]
    assert len(top) + 1 <= 8, top  # and __init__
    for name in OLD_PATHS:
        assert "old imports" in (importlib.import_module(name).__doc__ or "") or name.endswith("redis_store")
