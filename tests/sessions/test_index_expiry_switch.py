"""The per-user index follows the server under its address when that server changes.

A Sentinel failover onto a replica of another version, or a server restarted as another
version, keeps the address: the index must read what the store's transport detects (asked
again after the switch), not what it once asked itself. Real servers started here on one
port in turn, whatever ``--server`` says: Debian's redis-server 7.0 (no HEXPIRE: entries
pruned when read) and valkey-server 9.1 (HEXPIRE: entries expire with their sessions).
"""

import logging

import hug
import pytest
import redis
from support.server_kinds import scripting_denied, valkey9_server_executable
from support.servers import RedisServer, wait_for
from support.session_app import issued_id, signed_in_api
from support.topology_sentinel import SentinelDeployment

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.sessions import user_sessions
from hug_store_redis.sessions.index_expiry import SLACK_S
from hug_store_redis.transport.scripts import entry_fields

EXPIRATION = 2  # seconds: short, so sessions end within the test
HEXPIRE_SERVERS = {"valkey-9.1"}


def executable(name):
    return {"redis-7.0": "redis-server", "valkey-9.1": valkey9_server_executable()}[name]


def signed_in_app(client):
    store = RedisStore(client, expiration=EXPIRATION)
    middleware = RedisSessionMiddleware(store, touch_after=1, cookie_secure=False)
    return signed_in_api(middleware), middleware


def get(api, path, sid=None):
    response = hug.test.get(api, path, headers={"Cookie": f"sid={sid}"} if sid else {})
    assert response.status == "200 OK", response.data  # no error reaches the user
    return response


def hpttl(client, key, field):
    return int(client.execute_command("HPTTL", key, "FIELDS", 1, field)[0])


def one_life(client, app, name, fields_expire, caplog, monkeypatch):
    """A login and two writes on the server now under the address, then the session's end."""
    api, middleware = app
    monkeypatch.setattr(user_sessions, "PENDING_GRACE", 300.0)
    with caplog.at_level(logging.WARNING, logger="hug_store_redis.signed_in_devices"):
        login = get(api, "/login")
        sid, handle = issued_id(login), login.data
        for n in (1, 2):
            assert get(api, "/add", sid).data == n
    assert not [record for record in caplog.records if "HEXPIRE" in record.getMessage()]
    key, entry_field = middleware.user_index.index_key("ann"), entry_fields(handle)[0]
    assert [entry.handle for entry in middleware.user_sessions("ann")] == [handle], name
    session_key = middleware.store.namespaced_key(sid)
    if fields_expire:
        session_ms = client.pttl(session_key)
        for field in entry_fields(handle):
            assert session_ms <= hpttl(client, key, field) <= (EXPIRATION + SLACK_S) * 1000, name
    wait_for("the session to expire", lambda: not client.exists(session_key))
    if fields_expire:
        wait_for("the entry to expire with it", lambda: not client.hexists(key, entry_field))
    else:
        assert client.hexists(key, entry_field)  # until pruned, past the login's grace
        monkeypatch.setattr(user_sessions, "PENDING_GRACE", 0.0)
        assert middleware.user_sessions("ann") == []
        assert not client.hexists(key, entry_field)


@pytest.mark.one_twin
@pytest.mark.parametrize(
    "servers",
    [("redis-7.0", "valkey-9.1"), ("valkey-9.1", "redis-7.0", "valkey-9.1")],
    ids=["upgrade", "downgrade-and-back"],
)
def test_the_index_follows_a_server_that_changes_under_its_address(
    tmp_path, store_path, servers, caplog, monkeypatch
):
    """One store and middleware for the whole run; each server in turn on the same port: a
    login and two writes, then the session ends. Where the server has HEXPIRE the entry's
    fields expire with the session (never before it, at most SLACK_S after) and leave the
    index by themselves; elsewhere the entry stays until a read prunes it. Every request
    answers 200, and a switch is no refusal: nothing logged about HEXPIRE."""
    port, client, app = None, None, None
    try:
        for step, name in enumerate(servers):
            (tmp_path / str(step)).mkdir()
            server = RedisServer(tmp_path / str(step), port=port, executable=executable(name)).start()
            try:
                port = server.port
                if client is None:
                    client = redis.Redis(port=port, socket_timeout=5)
                    app = signed_in_app(client)
                # With scripts denied nothing tells the transport that the server restarted as a
                # newer one (no NOSCRIPT, no refused command): the index prunes as before.
                fields_expire = name in HEXPIRE_SERVERS and (step == 0 or not scripting_denied())
                one_life(client, app, name, fields_expire, caplog, monkeypatch)
            finally:
                server.stop()
    finally:
        if client is not None:
            client.close()


class UpgradingSentinel(SentinelDeployment):
    """A rolling upgrade half done: a Redis 7.0 primary, its replica already Valkey 9.1."""

    primary_executable = "redis-server"

    @property
    def replica_executable(self):
        return valkey9_server_executable()


@pytest.mark.one_twin
def test_the_index_follows_a_sentinel_failover_onto_a_newer_replica(
    tmp_path, store_path, caplog, monkeypatch
):
    """SENTINEL FAILOVER from Redis 7.0 to its Valkey 9.1 replica: the store (a ``master_for``
    client, following the switch) keeps its address book, not its server. Logins after the
    failover get entries that expire with their sessions; before it, pruning."""
    deployment = UpgradingSentinel(tmp_path)
    client = deployment.master_for(socket_timeout=5)
    try:
        app = signed_in_app(client)
        one_life(client, app, "redis-7.0", False, caplog, monkeypatch)
        deployment.failover()
        new = deployment.replica
        wait_for("the replica promoted", lambda: new.client.info("replication")["role"] == "master")
        wait_for("the store writing to it", lambda: get(app[0], "/login") and new.client.dbsize() > 0)
        one_life(client, app, "valkey-9.1", True, caplog, monkeypatch)
    finally:
        client.close()
        deployment.stop()
