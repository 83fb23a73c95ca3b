"""The lazy-expiry and compare-and-set scripts on a real server, through EVAL."""

import pytest
import redis

from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH, digest

pytestmark = pytest.mark.one_twin


def changes(client):
    return client.info("persistence")["rdb_changes_since_last_save"]


def test_read_writes_nothing_until_the_touch_is_due(redis_client):
    redis_client.set("k", b"{}", ex=100)
    before = changes(redis_client)
    for _ in range(20):
        value, ttl, touched = redis_client.eval(READ_AND_TOUCH.text, 1, "k", 100_000, 50_000)
        assert value == b"{}" and 90_000 < ttl <= 100_000 and touched == 0
    assert changes(redis_client) == before
    redis_client.expire("k", 10)
    before = changes(redis_client)
    assert redis_client.eval(READ_AND_TOUCH.text, 1, "k", 100_000, 50_000) == [b"{}", 100_000, 1]
    assert changes(redis_client) == before + 1 and redis_client.pttl("k") > 90_000


def test_read_never_creates_a_key_and_reports_no_expiry(redis_client):
    assert redis_client.eval(READ_AND_TOUCH.text, 1, "gone", 100_000, 100_001) is None
    assert not redis_client.exists("gone")
    redis_client.set("forever", b"{}")
    assert redis_client.eval(READ_AND_TOUCH.text, 1, "forever", 100_000, 100_001) == [b"{}", -1, 0]
    assert redis_client.ttl("forever") == -1


def test_compare_and_set_writes_only_over_the_bytes_it_was_given(redis_client):
    redis_client.set("k", b'{"a": 1}')
    assert redis_client.eval(COMPARE_AND_SET.text, 1, "k", digest(b'{"a": 1}'), 60, b'{"a": 2}') == 1
    assert redis_client.get("k") == b'{"a": 2}' and 0 < redis_client.ttl("k") <= 60
    stale = redis_client.eval(COMPARE_AND_SET.text, 1, "k", digest(b'{"a": 1}'), 60, b'{"a": 3}')
    assert stale == b'{"a": 2}' and redis_client.get("k") == b'{"a": 2}'
    assert redis_client.eval(COMPARE_AND_SET.text, 1, "k", digest(b'{"a": 2}'), 0, b'{"a": 4}') == 1
    assert redis_client.ttl("k") == -1


def test_compare_and_set_never_recreates_a_deleted_key(redis_client):
    assert redis_client.eval(COMPARE_AND_SET.text, 1, "gone", digest(b"{}"), 60, b'{"a": 1}') == 0
    assert not redis_client.exists("gone")


def test_compare_and_set_with_an_empty_value_deletes(redis_client):
    redis_client.set("k", b'{"a": 1}')
    assert redis_client.eval(COMPARE_AND_SET.text, 1, "k", digest(b'{"a": 1}'), 60, b"") == 1
    assert not redis_client.exists("k")


def test_shas_are_what_the_server_computes(redis_client):
    assert redis_client.script_load(READ_AND_TOUCH.text) == READ_AND_TOUCH.sha
    assert redis_client.script_load(COMPARE_AND_SET.text) == COMPARE_AND_SET.sha
    payload = b"\xff\x00x"
    assert redis_client.eval("return redis.sha1hex(ARGV[1])", 0, payload) == digest(payload).encode()


def test_replies_are_the_same_on_resp2_and_resp3(redis_server, redis_client):
    replies = {}
    for protocol in (2, 3):
        client = redis.Redis(host=redis_server.host, port=redis_server.port, protocol=protocol)
        client.set("k", b"{}", ex=100)
        replies[protocol] = [
            client.eval(READ_AND_TOUCH.text, 1, "k", 100_000, 100_001),
            client.eval(READ_AND_TOUCH.text, 1, "gone", 100_000, 100_001),
            client.eval(COMPARE_AND_SET.text, 1, "gone", digest(b"{}"), 60, b"{}"),
            client.eval(COMPARE_AND_SET.text, 1, "k", digest(b"[]"), 60, b"{}"),
            client.eval(COMPARE_AND_SET.text, 1, "k", digest(b"{}"), 60, b"[]"),
        ]
        client.close()
    assert replies[2] == replies[3] == [[b"{}", 100_000, 1], None, 0, b"{}", 1]
