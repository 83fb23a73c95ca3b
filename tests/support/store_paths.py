"""The store code paths the fault and load tests run on, as fixtures.

Adding a path is one line in ``STORE_PATHS`` (its constructor options live in
``STORE_PATH_OPTIONS``); every test that builds its store with ``make_store`` then runs
on it too.
"""

from collections.abc import Callable
from typing import Any

import pytest

from hug_store_redis import RedisStore

STORE_PATHS = ["default", "generic"]
STORE_PATH_OPTIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "generic": {"fast_path": False},
}


@pytest.fixture(params=STORE_PATHS)
def store_path(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(store_path: str) -> Callable[..., RedisStore]:
    """``make_store(client, **kwargs)``: a RedisStore on the path under test."""

    def make(client: Any, **kwargs: Any) -> RedisStore:
        return RedisStore(client, **STORE_PATH_OPTIONS[store_path], **kwargs)

    return make
