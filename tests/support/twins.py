"""The codec twins by name, and RedisStores built on a chosen twin (tests and benchmarks)."""

import importlib
from types import ModuleType
from typing import Any

import pytest

import hug_store_redis.codec
from hug_store_redis import RedisStore

TWIN_MODULES = {"cython": "hug_store_redis.codec._speedups", "python": "hug_store_redis.codec._codec_py"}


def twin_module(name: str) -> ModuleType:
    """The named twin's module, imported itself: a missing extension fails loudly, never as Python."""
    return importlib.import_module(TWIN_MODULES[name])


def use_twin(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    """Make every RedisStore built while ``monkeypatch`` is active use the named twin's codec."""
    module = twin_module(name)
    monkeypatch.setattr(hug_store_redis.codec, "Codec", module.Codec)
    return module


def store_on(twin: str, client: Any, **options: Any) -> RedisStore:
    """A RedisStore on the named twin, whatever the import-time choice was (the codec is bound at init)."""
    with pytest.MonkeyPatch.context() as patch:
        use_twin(patch, twin)
        return RedisStore(client, **options)
