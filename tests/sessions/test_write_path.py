"""The middleware's write path, request by request in a chosen order (support.driven), and lazy expiry.

Reads and writes of overlapping requests run in exactly the order each test names, on a
real Redis; what Redis ran is counted (support.session_app's command shapes).
"""

import json
import logging
import signal

import hug
import pytest
import redis
from redis.backoff import AbstractBackoff
from redis.retry import Retry
from support.commands import Commands
from support.driven import DrivenRequest
from support.scripts_refused import WAYS, refusing_server
from support.servers import wait_for
from support.session_app import (
    CAS_CONFLICT,
    CAS_DELETE,
    CAS_WRITE,
    NATIVE,
    READ,
    READ_TOUCHING,
    call,
    commands_of,
    issued_id,
    make_api,
)

from hug_store_redis import RedisStore
from hug_store_redis.cli.demo import merge_carts
from hug_store_redis.sessions import MAX_ATTEMPTS, RedisSessionMiddleware

EXPIRED = "sid=; Max-Age=0"


@pytest.fixture
def sid(store):
    sid = "S" * 43
    assert store.create(sid, store.encode({"n": 0}))
    return sid


def stored(redis_client, sid):
    payload = redis_client.get(f"store:{sid}")
    return None if payload is None else json.loads(payload)


def read_once(middleware, sid):
    request = DrivenRequest(middleware, sid)
    request.read()
    return request


def both_read(middleware, sid):
    first, second = DrivenRequest(middleware, sid), DrivenRequest(middleware, sid)
    first.read()
    second.read()
    return first, second


def test_a_conflict_costs_one_more_compare_and_set_and_keeps_both_changes(store, redis_client, sid):
    first, second = both_read(RedisSessionMiddleware(store), sid)
    first.session["a"] = 1
    first.write()
    second.session["b"] = 2
    commands = Commands(redis_client)
    second.write()
    assert commands.delta() == commands_of(CAS_CONFLICT, CAS_WRITE)
    assert stored(redis_client, sid) == {"n": 0, "a": 1, "b": 2}
    assert (store.stats()["conflicts"], store.stats()["merges"]) == (1, 1)
    attempts = store.histograms()["write_attempts"]
    assert (attempts.bounds, attempts.counts, attempts.sum) == ((1, 2, 3, 5, 10), (1, 1, 0, 0, 0, 0), 3)


def test_a_conflict_holding_this_requests_own_bytes_counts_as_written(store, redis_client, sid):
    first, second = both_read(RedisSessionMiddleware(store), sid)
    first.session["a"] = 1
    first.write()
    second.session["a"] = 1  # the bytes Redis now holds: what a retried write whose reply was lost finds
    commands = Commands(redis_client)
    second.write()
    assert commands.delta() == CAS_CONFLICT
    assert stored(redis_client, sid) == {"n": 0, "a": 1}
    assert (store.stats()["conflicts"], store.stats()["merges"]) == (1, 0)  # nothing to merge


def test_the_merge_hook_decides_a_key_both_requests_changed(store, redis_client, sid):
    calls = []

    def merge_carts(base, mine, theirs):
        calls.append((base, mine, theirs))
        merged = {**theirs, **mine}
        merged["cart"] = sorted(set(theirs.get("cart", [])) | set(mine.get("cart", [])))
        return merged

    first, second = both_read(RedisSessionMiddleware(store, merge=merge_carts), sid)
    first.session["cart"] = ["apple"]
    first.write()
    second.session["cart"] = ["pear"]
    second.write()
    assert stored(redis_client, sid) == {"n": 0, "cart": ["apple", "pear"]}
    assert calls == [({"n": 0}, {"n": 0, "cart": ["pear"]}, {"n": 0, "cart": ["apple"]})]


def test_the_merge_hook_decides_also_when_another_request_made_the_same_change(store, redis_client, sid):
    """Two requests adding one to the same counter leave identical bytes: the hook must still count both."""

    def add_up(base, mine, theirs):
        return {**theirs, "n": theirs["n"] + mine["n"] - base["n"]}

    first, second = both_read(RedisSessionMiddleware(store, merge=add_up), sid)
    first.session["n"] += 1
    first.write()
    second.session["n"] += 1
    second.write()
    assert stored(redis_client, sid) == {"n": 2}


def test_a_merge_hook_returning_no_dict_is_an_error_and_writes_nothing(store, redis_client, sid):
    first, second = both_read(RedisSessionMiddleware(store, merge=lambda base, mine, theirs: None), sid)
    first.session["a"] = 1
    first.write()
    second.session["b"] = 2
    with pytest.raises(TypeError, match="merge must return a dict, not NoneType"):
        second.write()
    assert stored(redis_client, sid) == {"n": 0, "a": 1}


def test_without_a_merge_hook_the_later_request_wins_a_key_both_changed(store, redis_client, sid):
    first, second = both_read(RedisSessionMiddleware(store), sid)
    first.session["cart"] = ["apple"]
    first.write()
    second.session["cart"] = ["pear"]
    second.write()
    assert stored(redis_client, sid) == {"n": 0, "cart": ["pear"]}


def test_a_write_that_keeps_conflicting_gives_up_after_the_attempts_and_logs(
    store, redis_client, sid, caplog
):
    def relentless_other_writer(base, mine, theirs):
        redis_client.set(f"store:{sid}", json.dumps({"n": len(calls)}))  # changes it again before each retry
        calls.append(theirs)
        return {**theirs, **mine}

    calls = []
    request = read_once(RedisSessionMiddleware(store, merge=relentless_other_writer), sid)
    redis_client.set(f"store:{sid}", json.dumps({"n": "other"}))
    request.session["mine"] = 1
    commands = Commands(redis_client, only={"evalsha", "eval", "set"})
    with caplog.at_level(logging.ERROR, logger="hug_store_redis.middleware"):
        request.write()
    # Each attempt: the other writer's SET, and this request's script or SET IFEQ.
    tries = {"set": MAX_ATTEMPTS} if NATIVE.set_ifeq else {"evalsha": MAX_ATTEMPTS}
    assert commands.delta() == commands_of({"set": MAX_ATTEMPTS}, tries)
    assert f"still conflicting with concurrent writes after {MAX_ATTEMPTS} attempts" in caplog.text
    assert "mine" not in stored(redis_client, sid)
    assert store.stats()["merges"] == MAX_ATTEMPTS
    assert store.histograms()["write_attempts"].counts == (0, 0, 0, 0, 1, 0)  # 10 attempts: the last bucket


def test_max_session_bytes_is_checked_again_after_merging(store, redis_client, sid, caplog):
    first, second = both_read(RedisSessionMiddleware(store, max_session_bytes=200), sid)
    first.session["a"] = "x" * 120
    first.write()
    second.session["b"] = "y" * 120
    with caplog.at_level(logging.ERROR, logger="hug_store_redis.middleware"):
        second.write()
    assert "after merging with a concurrent write is over max_session_bytes=200" in caplog.text
    assert stored(redis_client, sid) == {"n": 0, "a": "x" * 120}


def test_a_session_left_empty_is_deleted_and_its_cookie_cleared(store, redis_client, sid):
    request = read_once(RedisSessionMiddleware(store), sid)
    request.session.clear()
    commands = Commands(redis_client)
    request.write()
    assert commands.delta() == CAS_DELETE
    assert stored(redis_client, sid) is None
    assert request.set_cookies()[0].startswith(EXPIRED)


def test_a_session_left_empty_beside_a_concurrent_set_keeps_the_other_key(store, redis_client, sid):
    emptying, setting = both_read(RedisSessionMiddleware(store), sid)
    setting.session["b"] = 2
    setting.write()
    emptying.session.clear()
    emptying.write()
    assert stored(redis_client, sid) == {"b": 2}
    assert emptying.set_cookies() == []


def test_a_deleted_key_is_never_recreated_and_the_cookie_is_left_alone(store, redis_client, sid, caplog):
    """The request that deleted it (logout, login) set the cookie the browser must keep:
    this response may arrive after that one, and clearing would undo a login."""
    request = read_once(RedisSessionMiddleware(store), sid)
    redis_client.delete(f"store:{sid}")  # a logout or a login in another request
    request.session["late"] = 1
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.middleware"):
        request.write()
    assert stored(redis_client, sid) is None
    assert request.set_cookies() == []
    assert f"session {sid[:8]}... was deleted while this request ran" in caplog.text


def test_regenerate_onto_a_taken_id_draws_another_and_leaves_the_taken_one_alone(store, redis_client, sid):
    middleware = RedisSessionMiddleware(store)
    request = DrivenRequest(middleware, sid)
    request.read()
    taken = middleware.regenerate(request.request)
    redis_client.set(f"store:{taken}", b'{"someone": "else"}')
    request.write()
    (cookie,) = request.set_cookies()
    new_id = cookie.split(";")[0].removeprefix("sid=")
    assert new_id not in (sid, taken)
    assert stored(redis_client, taken) == {"someone": "else"}
    assert stored(redis_client, new_id) == {"n": 0}
    assert stored(redis_client, sid) is None


def test_a_new_session_is_created_only_if_its_id_is_free(store, redis_client):
    request = DrivenRequest(RedisSessionMiddleware(store))
    request.read()
    request.session["a"] = 1
    commands = Commands(redis_client)
    request.write()
    assert commands.delta() == {"set": 1}
    (cookie,) = request.set_cookies()
    assert stored(redis_client, cookie.split(";")[0].removeprefix("sid=")) == {"a": 1}


# Lazy expiry: the remaining TTL decides.


def test_no_touch_while_the_ttl_is_within_touch_after_of_the_expiration(store, redis_client, sid):
    redis_client.expire(f"store:{sid}", 86400 - 30)
    commands = Commands(redis_client)
    read_once(RedisSessionMiddleware(store), sid)
    assert commands.delta() == READ
    assert redis_client.ttl(f"store:{sid}") <= 86400 - 30


def test_a_touch_once_the_ttl_drops_below_expiration_minus_touch_after(store, redis_client, sid):
    redis_client.expire(f"store:{sid}", 86400 - 61)
    commands = Commands(redis_client)
    read_once(RedisSessionMiddleware(store), sid)
    assert commands.delta() == READ_TOUCHING
    assert redis_client.ttl(f"store:{sid}") > 86400 - 5


def test_touch_after_zero_slides_on_every_read(store, redis_client, sid):
    commands = Commands(redis_client)
    for _ in range(3):
        read_once(RedisSessionMiddleware(store, touch_after=0), sid)
    assert commands.delta() == {"getex": 3}


def test_touch_after_is_capped_at_half_the_expiration(redis_client):
    store = RedisStore(redis_client, expiration=100)
    assert store.create("T" * 43, b'{"n": 0}')
    middleware = RedisSessionMiddleware(store, touch_after=1000)
    redis_client.expire(f"store:{'T' * 43}", 60)  # above 100 - 50: no touch
    commands = Commands(redis_client, only={"pexpire"})
    read_once(middleware, "T" * 43)
    assert commands.delta() == {}
    redis_client.expire(f"store:{'T' * 43}", 40)  # below 100 - 50: touch
    read_once(middleware, "T" * 43)
    assert commands.delta() == {"pexpire": 1}
    assert redis_client.ttl(f"store:{'T' * 43}") > 90


@pytest.mark.parametrize(
    ("expiration", "given", "in_force"),
    [(3600, 7200, 1800), (3600, 60, 60), (None, 7200, 7200)],
    ids=["capped", "below-the-cap", "no-expiration"],
)
def test_touch_after_reads_the_value_in_force(redis_client, expiration, given, in_force):
    middleware = RedisSessionMiddleware(RedisStore(redis_client, expiration=expiration), touch_after=given)
    assert middleware.touch_after == in_force


@pytest.mark.parametrize("touch_after", [-1, float("nan"), "60", True])
def test_a_bad_touch_after_is_refused(store, touch_after):
    with pytest.raises(ValueError, match="touch_after"):
        RedisSessionMiddleware(store, touch_after=touch_after)


def test_read_only_requests_inside_touch_after_change_nothing_on_the_server(store, redis_client):
    api = make_api(RedisSessionMiddleware(store))
    sid = issued_id(call(api, "/write"))
    before = redis_client.info("persistence")["rdb_changes_since_last_save"]
    for _ in range(20):
        assert call(api, "/read", sid).data == {"counter": 1}
    assert redis_client.info("persistence")["rdb_changes_since_last_save"] - before == 0


LAYOUTS = {
    "the store's": lambda data: json.dumps(data).encode(),
    "compact, from another client": lambda data: json.dumps(data, separators=(",", ":")).encode(),
    "unescaped UTF-8": lambda data: json.dumps(data, ensure_ascii=False).encode(),
    "1.0.0's float exponent": lambda data: json.dumps(data).encode().replace(b"1e-07", b"1e-7"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_session_in_any_layout_is_written_only_when_its_value_changes(store, redis_client, layout):
    """Unchanged means same value, not same bytes: a read-only request on bytes laid out by
    another writer writes nothing, and a change deep inside the session is still written."""
    sid = "L" * 43
    data = {"counter": 1, "cart": [{"sku": "a/b", "name": "caf\u00e9"}], "tiny": 1e-07}
    redis_client.set(f"store:{sid}", LAYOUTS[layout](data), ex=store.expiration)
    api = make_api(RedisSessionMiddleware(store))

    @hug.get("/nested", api=api)
    def add_to_cart(request):
        request.context["session"]["cart"][0]["qty"] = 2

    commands = Commands(redis_client)
    for _ in range(3):
        assert call(api, "/read", sid).data == data
    assert commands.delta() == commands_of(READ, READ, READ) and store.stats()["skipped_writes"] == 3
    call(api, "/nested", sid)
    assert json.loads(redis_client.get(f"store:{sid}"))["cart"][0] == {**data["cart"][0], "qty": 2}


@pytest.mark.parametrize("how", WAYS)
def test_the_write_path_holds_on_a_server_refusing_scripts(tmp_path, how):
    server, client = refusing_server(tmp_path, how)
    try:
        store = RedisStore(client)
        sid = "R" * 43
        assert store.create(sid, store.encode({"n": 0}))
        middleware = RedisSessionMiddleware(store)
        first, second = both_read(middleware, sid)  # GET + PTTL, no script
        first.session["a"] = 1
        first.write()
        second.session["b"] = 2
        second.write()  # WATCH/MULTI: a conflict, merged, written
        assert stored(client, sid) == {"n": 0, "a": 1, "b": 2}
        late = read_once(middleware, sid)
        client.delete(f"store:{sid}")
        late.session["c"] = 3
        late.write()
        assert stored(client, sid) is None
    finally:
        client.close()
        server.stop()


class ResumeBeforeRetry(AbstractBackoff):
    """The client's own retry policy as the hook: the server, stopped while a write was in
    flight, is resumed and runs that write (its reply goes to a socket the client has
    closed, so the reply is lost) before the client sends it again."""

    def __init__(self, server, ran):
        self.server, self.ran = server, ran

    def __deepcopy__(self, memo):  # each connection copies its client's retry policy
        return self

    def reset(self):
        pass

    def compute(self, failures):
        self.server.send(signal.SIGCONT)
        wait_for("the first send to run on the resumed server", self.ran)
        return 0


def apples(client, sid):
    return json.loads(client.get(f"store:{sid}"))["cart"].get("apple")


def lost_reply_client(server, watcher, sid):
    """The README's client (a short socket timeout, one retry), whose retry finds the write ran."""
    backoff = ResumeBeforeRetry(server, lambda: apples(watcher, sid) == 2)
    return redis.Redis(port=server.port, socket_timeout=0.5, retry=Retry(backoff, 1))


def test_a_write_whose_reply_was_lost_is_not_merged_into_itself(own_server, twin, store_path, request):
    if store_path == "generic":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="the client's own retry runs inside its method: the generic transport "
                "cannot tell a resent write from another request's identical bytes",
            )
        )
    watcher = redis.Redis(port=own_server.port, socket_timeout=5)
    sid = "L" * 43
    client = lost_reply_client(own_server, watcher, sid)
    store = RedisStore(client)
    middleware = RedisSessionMiddleware(store, merge=merge_carts)
    assert store.create(sid, store.encode({"cart": {}}))
    first = read_once(middleware, sid)
    first.session["cart"] = {"apple": 1}
    first.write()  # the compare-and-set script is loaded: the lost send is the write itself
    request = read_once(middleware, sid)
    request.session["cart"] = {"apple": 2}
    own_server.send(signal.SIGSTOP)  # the compare-and-set's reply comes after the client's timeout
    request.write()
    assert apples(watcher, sid) == 2
    client.close()
    watcher.close()


@pytest.mark.one_twin
def test_without_scripts_an_exec_whose_reply_was_lost_is_not_merged_into_itself(tmp_path, store_path):
    server, _ = refusing_server(tmp_path, "renamed")
    watcher = redis.Redis(port=server.port, socket_timeout=5)
    sid = "W" * 43
    client = lost_reply_client(server, watcher, sid)
    try:
        store = RedisStore(client)
        assert store.create(sid, store.encode({"cart": {"apple": 1}}))
        request = read_once(RedisSessionMiddleware(store, merge=merge_carts), sid)
        request.session["cart"] = {"apple": 2}
        real_pipeline, stopped = client.pipeline, []

        def pipeline_stopping_after_get(transaction=True):
            pipeline = real_pipeline(transaction=transaction)
            real_get = pipeline.get

            def get_then_stop(name):
                value = real_get(name)
                if not stopped:
                    stopped.append(server.send(signal.SIGSTOP))  # EXEC's reply comes after the timeout
                return value

            pipeline.get = get_then_stop
            return pipeline

        client.pipeline = pipeline_stopping_after_get  # type: ignore[method-assign]
        request.write()
        del client.pipeline
        assert apples(watcher, sid) == 2
    finally:
        client.close()
        watcher.close()
        server.stop()
