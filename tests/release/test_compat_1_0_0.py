"""Upgrading from the real hug_store_redis 1.0.0 (from PyPI) keeps every live session."""

import importlib
import math

import pytest
from hug.exceptions import StoreKeyNotFound
from support.legacy_release import load_legacy_module

from hug_store_redis import RedisStore

SESSIONS = [
    {},
    {"user": "foo", "authenticated": False},
    {"cart": [{"sku": "A-1", "qty": 2, "price": 9.99}], "visits": 12, "ref": None},
    {"name": "Zoë 😀 ключ", "path": "a/b\\c", "quote": 'say "hi"', "ctl": "\t\n\x00"},
    {"big": 2**70, "neg": -(2**64), "tiny": 0.1, "list": [True, False, None, [], {}]},
    ["not", "a", "dict"],
    "plain string",
    42,
]


@pytest.fixture(scope="module")
def legacy_store_class():
    return load_legacy_module().RedisStore


@pytest.mark.parametrize("data", SESSIONS)
def test_same_key_same_bytes_same_ttl(legacy_store_class, redis_client, data):
    legacy = legacy_store_class(redis_client, namespace="old")
    ours = RedisStore(redis_client, namespace="new")
    legacy.set("sid", data)
    ours.set("sid", data)
    assert redis_client.get("new:sid") == redis_client.get("old:sid")
    assert redis_client.ttl("new:sid") == redis_client.ttl("old:sid") == 86400


@pytest.mark.parametrize("data", SESSIONS)
def test_sessions_written_by_1_0_0_read_back(legacy_store_class, redis_client, data):
    legacy_store_class(redis_client).set("sid", data)
    ours = RedisStore(redis_client)
    assert ours.exists("sid")
    assert ours.get("sid") == data


@pytest.mark.parametrize("data", SESSIONS)
def test_sessions_written_by_us_read_back_with_1_0_0(legacy_store_class, redis_client, data):
    RedisStore(redis_client).set("sid", data)
    legacy = legacy_store_class(redis_client)
    assert legacy.exists("sid")
    assert legacy.get("sid") == data


def test_nan_written_by_1_0_0_still_reads(legacy_store_class, redis_client):
    """1.0.0 used json.dumps defaults, which write NaN; we refuse to write it but still read it."""
    legacy_store_class(redis_client).set("sid", {"score": float("nan"), "max": float("inf")})
    data = RedisStore(redis_client).get("sid")
    assert math.isnan(data["score"]) and data["max"] == math.inf


def test_delete_and_missing_keys_agree(legacy_store_class, redis_client):
    legacy = legacy_store_class(redis_client)
    ours = RedisStore(redis_client)
    legacy.set("sid", 1)
    assert ours.delete("sid") is True
    assert legacy.delete("sid") is False
    with pytest.raises(StoreKeyNotFound):
        ours.get("sid")
    with pytest.raises(StoreKeyNotFound):
        legacy.get("sid")


@pytest.mark.one_twin
def test_the_1_0_0_import_path_still_works(redis_client):
    """1.0.0 shipped its store in this module; code importing it from there keeps working."""
    from hug_store_redis.redis_store import RedisStore as FromOldPath

    assert FromOldPath is RedisStore
    FromOldPath(redis_client).set("sid", {"a": 1})
    assert RedisStore(redis_client).get("sid") == {"a": 1}


@pytest.mark.one_twin
def test_every_class_1_0_0_defined_is_importable_from_its_module():
    legacy = load_legacy_module()
    ours = importlib.import_module("hug_store_redis.redis_store")
    defined = [
        name for name, value in vars(legacy).items() if getattr(value, "__module__", None) == legacy.__name__
    ]
    assert defined == ["RedisStore"]
    for name in defined:
        assert getattr(ours, name) is getattr(importlib.import_module("hug_store_redis"), name)
