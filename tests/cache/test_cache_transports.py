"""The local cache over a Unix socket and over TLS: the listener reaches the server as the client does.

The listener is the connection under test, not the data path: one twin and one store path.
"""

import contextlib
import inspect
import logging
import os
import ssl
import subprocess
import uuid
from pathlib import Path

import pytest
import redis
from support.cache import PREFIX, Invalidations, key, wait_serving
from support.commands import Commands
from support.servers import HOST, Node, free_port, wait_for
from support.store_cache import GENEROUS, listeners_of, sent_by_the_store, wait_cached, wait_value

from hug_store_redis import LocalCache, RedisStore
from hug_store_redis.cache import (
    InvalidationListener,
    TLSSettings,
    UnixSocket,
    listener_endpoints,
    tls_settings,
    tracking,
)

pytestmark = pytest.mark.one_twin


@pytest.fixture
def namespace() -> str:
    return f"transport-{uuid.uuid4().hex[:8]}"


def tls_client(redis_tls, **options) -> redis.Redis:
    options.setdefault("ssl_ca_certs", str(redis_tls.ca_cert))
    return redis.Redis(host=HOST, port=redis_tls.tls_port, ssl=True, socket_timeout=5, **options)


def hits_send_nothing(store: RedisStore, counted: redis.Redis) -> None:
    store.set("alice", {"user": "alice"})
    wait_cached(store, "alice")
    commands = Commands(counted)
    for _ in range(500):
        assert store.get("alice") == {"user": "alice"}
        assert store.read_payload_sliding("alice", 60).payload == store.encode({"user": "alice"})
    assert sent_by_the_store(commands) == {}
    assert store.stats()["cache_hits"] >= 1000


def others_writes_are_seen(store: RedisStore, writer: redis.Redis) -> None:
    store.set("alice", {"v": 1})
    wait_cached(store, "alice")
    writer.set(store.namespaced_key("alice"), b'{"v":2}')
    wait_value(store, "alice", b'{"v":2}')
    wait_cached(store, "alice")
    writer.delete(store.namespaced_key("alice"))
    wait_value(store, "alice", None)


def a_killed_listener_fails_closed_and_recovers(store: RedisStore, admin: redis.Redis) -> None:
    store.set("alice", {"v": 1})
    wait_cached(store, "alice")
    flushes = store.stats()["cache_flushes"]
    (listener,) = listeners_of(store)
    sessions = listener.sessions
    admin.client_kill_filter(_id=listener.client_id)
    wait_for("the cache to be emptied", lambda: store.stats()["cache_flushes"] > flushes, GENEROUS)
    admin.set(store.namespaced_key("alice"), b'{"v":2}')
    wait_value(store, "alice", b'{"v":2}')
    wait_for("a new tracking connection", lambda: listener.sessions > sessions, GENEROUS)
    wait_cached(store, "alice")


# -- Unix sockets --------------------------------------------------------------------------


@pytest.fixture
def unix_store(redis_server, namespace):
    client = redis.Redis(unix_socket_path=redis_server.unixsocket, socket_timeout=5)
    store = RedisStore(client, namespace, local_cache=True)
    yield store
    store.close()
    client.close()


def test_a_unix_socket_client_listens_on_the_same_socket(unix_store, redis_client, redis_server):
    assert unix_store.local_cache is not None
    (listener,) = listeners_of(unix_store)
    assert listener._address == UnixSocket(redis_server.unixsocket)
    hits_send_nothing(unix_store, redis_client)
    (entry,) = [c for c in redis_client.client_list() if int(c["id"]) == listener.client_id]
    assert "U" in entry["flags"]  # the server sees it on its Unix socket


def test_a_unix_socket_cache_sees_others_writes(unix_store, redis_client):
    others_writes_are_seen(unix_store, redis_client)


def test_a_unix_socket_listener_killed_fails_closed_and_recovers(unix_store, redis_client):
    a_killed_listener_fails_closed_and_recovers(unix_store, redis_client)


def test_a_unix_url_store_shares_the_socket_listener(unix_store, redis_server, namespace):
    by_url = RedisStore.from_url(f"unix://{redis_server.unixsocket}?db=0", namespace, local_cache=True)
    try:
        assert listeners_of(by_url) == listeners_of(unix_store)
        by_url.set("bob", {"v": 1})
        wait_cached(by_url, "bob")
    finally:
        by_url.close()


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def tls_store(redis_tls, namespace):
    client = tls_client(redis_tls)
    store = RedisStore(client, namespace, local_cache=True)
    yield store
    store.close()
    client.close()


def test_a_tls_client_gets_a_tls_listener(tls_store, redis_tls):
    assert tls_store.local_cache is not None
    (listener,) = listeners_of(tls_store)
    assert listener._tls is not None and listener._tls.ca_certs == str(redis_tls.ca_cert)
    assert listener._tls.cert_reqs is ssl.CERT_REQUIRED and listener._tls.check_hostname
    hits_send_nothing(tls_store, redis_tls.node.client)


def test_a_tls_cache_sees_others_writes(tls_store, redis_tls):
    others_writes_are_seen(tls_store, redis_tls.node.client)


def test_a_tls_listener_killed_fails_closed_and_recovers(tls_store, redis_tls):
    a_killed_listener_fails_closed_and_recovers(tls_store, redis_tls.node.client)


def quiet_tls_listener(redis_tls):
    """A cache on a TLS listener whose heartbeats are 30 s apart: nothing but what the test sends."""
    cache, invalidations = LocalCache(), Invalidations()
    listener = InvalidationListener(
        (HOST, redis_tls.tls_port),
        tls=TLSSettings(ca_certs=str(redis_tls.ca_cert)),
        heartbeat_interval=30,
        heartbeat_timeout=30,
        on_invalidation=invalidations,
    )
    listener.attach(cache, PREFIX)
    return cache, invalidations, listener


def test_a_burst_of_invalidations_over_tls_is_read_whole(redis_tls, monkeypatch):
    """Bytes TLS decrypted but nobody read are invisible to select: they are drained, not stranded.

    Small reads leave most of each TLS record decrypted in the SSL buffer. Undrained, the tail
    of the burst would wait for the kernel to bring something else (the next heartbeat reply,
    here 30 s away) while the cache kept its lease.
    """
    monkeypatch.setattr(tracking, "READ_SIZE", 256)
    cache, invalidations, listener = quiet_tls_listener(redis_tls)
    with listener:
        wait_serving(cache)
        writer = redis_tls.node.client
        burst = [key(f"burst-{index:05d}-{'x' * 80}") for index in range(2000)]
        writer.mset(dict.fromkeys(burst, b"1"))  # one command: one invalidation message, many records
        invalidations.wait_for_key(burst[-1])
        assert listener.sessions == 1  # one connection read it all
        assert cache.stats()["invalidations"] >= len(burst)


def test_tls_listeners_are_shared_only_under_the_same_settings(redis_tls, namespace):
    clients = [tls_client(redis_tls), tls_client(redis_tls), tls_client(redis_tls, ssl_cert_reqs="none")]
    url_client = redis.Redis.from_url(redis_tls.url, ssl_ca_certs=str(redis_tls.ca_cert))
    stores = [RedisStore(client, namespace, local_cache=True) for client in [*clients, url_client]]
    try:
        same, same_again, unverified, by_url = (listeners_of(store)[0] for store in stores)
        assert same is same_again and same is by_url
        assert unverified is not same and unverified._tls.cert_reqs is ssl.CERT_NONE
        assert not unverified._tls.check_hostname  # as redis-py: no hostname check without verification
        for store in stores:
            store.set("k", {"v": 1})
            wait_cached(store, "k")
    finally:
        for store in stores:
            store.close()
        for client in [*clients, url_client]:
            client.close()


def other_certificate(directory: Path) -> Path:
    """A self-signed certificate the TLS server's certificate does not chain to."""
    cert = directory / "other-ca.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(directory / "other-key.pem"), "-out", str(cert), "-subj", "/CN=other"),
        ],
        check=True,
        capture_output=True,
    )
    return cert


def test_a_wrong_ca_never_serves_and_says_why_once(redis_tls, namespace, tmp_path, caplog):
    client = tls_client(redis_tls, ssl_ca_certs=str(other_certificate(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
        store = RedisStore(client, namespace, local_cache=True)
        try:
            (listener,) = listeners_of(store)
            wait_for("three refused handshakes", lambda: listener.connects >= 3, GENEROUS)
            assert isinstance(listener.last_error, ssl.SSLCertVerificationError)
            assert listener.sessions == 0 and not store._cached.cache.serving
            with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
                store.get("alice")  # the data connection refuses the server just the same
        finally:
            store.close()
            client.close()
    reasons = [r.getMessage() for r in caplog.records if "certificate verify failed" in r.getMessage()]
    assert len(reasons) == 1, reasons
    assert "local cache off" in reasons[0] and f"rediss://{HOST}:{redis_tls.tls_port}" in reasons[0]


class _OwnTLSConnection(redis.SSLConnection):
    def _wrap_socket_with_ssl(self, sock):  # type: ignore[no-untyped-def]
        return super()._wrap_socket_with_ssl(sock)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"ssl": True, "ssl_validate_ocsp": True}, "cannot check OCSP"),
        ({"ssl": True, "ssl_validate_ocsp_stapled": True}, "cannot check OCSP"),
        ({"connection_class": _OwnTLSConnection}, "_OwnTLSConnection is its own"),
        ({"ssl": True, "ssl_cert_reqs": "sometimes"}, "invalid ssl_cert_reqs"),
    ],
)
def test_tls_the_listener_cannot_reproduce_is_refused(options, reason, namespace, caplog):
    """Nothing connects: the cache stays off rather than listening with other checks than the data."""
    connection_class = options.pop("connection_class", None)
    if connection_class is None:
        client = redis.Redis(host=HOST, port=1, **options)
    else:
        pool = redis.ConnectionPool(connection_class=connection_class, host=HOST, port=1)
        client = redis.Redis(connection_pool=pool)
    with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
        store = RedisStore(client, namespace, local_cache=True)
    assert store.local_cache is None
    (message,) = [r.getMessage() for r in caplog.records if "local cache off" in r.getMessage()]
    assert reason in message


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ssl_cert_reqs": "none"},
        {"ssl_cert_reqs": None, "ssl_check_hostname": True},
        {"ssl_cert_reqs": "optional", "ssl_check_hostname": False},
        {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/ca.pem", "ssl_ca_path": "/cas"},
        {"ssl_ca_data": "PEM", "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem", "ssl_password": "pw"},
        {"ssl_min_version": ssl.TLSVersion.TLSv1_3, "ssl_ciphers": "HIGH"},
        {"ssl_include_verify_flags": [ssl.VerifyFlags.VERIFY_X509_STRICT]},
        {"ssl_exclude_verify_flags": [ssl.VerifyFlags.VERIFY_X509_PARTIAL_CHAIN]},
    ],
)
def test_tls_settings_read_the_keywords_as_redis_py_does(options):
    """Differential: what redis-py's SSLConnection makes of the keywords is what the listener uses."""
    connection = redis.SSLConnection(host=HOST, port=1, **options)
    settings = tls_settings(dict(options, host=HOST, port=1), redis.SSLConnection)
    assert isinstance(settings, TLSSettings)
    assert (settings.cert_reqs, settings.check_hostname) == (connection.cert_reqs, connection.check_hostname)
    assert (settings.ca_certs, settings.ca_path, settings.ca_data) == (
        connection.ca_certs,
        connection.ca_path,
        connection.ca_data,
    )
    assert (settings.certfile, settings.keyfile, settings.password) == (
        connection.certfile,
        connection.keyfile,
        connection.certificate_password,
    )
    assert (settings.min_version, settings.ciphers) == (connection.ssl_min_version, connection.ssl_ciphers)
    assert list(settings.include_verify_flags) == list(connection.ssl_include_verify_flags or [])
    assert list(settings.exclude_verify_flags) == list(connection.ssl_exclude_verify_flags or [])
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"ssl_cert_reqs": "none"},
        {"ssl_cert_reqs": "optional", "ssl_check_hostname": False, "ssl_ca_certs": "/ca.pem"},
        {"ssl_ca_data": "PEM", "ssl_certfile": "/c.pem", "ssl_keyfile": "/k.pem", "ssl_password": "pw"},
        {"ssl_min_version": ssl.TLSVersion.TLSv1_3, "ssl_ciphers": "HIGH"},
    ],
)
def test_tls_settings_read_the_keywords_as_valkey_py_does(options):
    """valkey-py's SSLConnection reads them the same way and floors the version at TLS 1.2, as
    ``ssl.create_default_context`` already does on every Python this package supports."""
    valkey_connection = pytest.importorskip("valkey.connection")
    connection = valkey_connection.SSLConnection(host=HOST, port=1, **options)
    settings = tls_settings(dict(options, host=HOST, port=1), valkey_connection.SSLConnection)
    assert isinstance(settings, TLSSettings)
    assert (settings.cert_reqs, settings.check_hostname, settings.ca_certs, settings.ca_data) == (
        connection.cert_reqs,
        connection.check_hostname,
        connection.ca_certs,
        connection.ca_data,
    )
    assert (settings.certfile, settings.keyfile, settings.password, settings.ciphers) == (
        connection.certfile,
        connection.keyfile,
        connection.certificate_password,
        connection.ssl_ciphers,
    )
    wanted_floor = connection.ssl_min_version or ssl.TLSVersion.TLSv1_2
    context = TLSSettings(min_version=settings.min_version, ciphers=settings.ciphers).context()
    assert context.minimum_version == wanted_floor


@pytest.mark.parametrize("module", ["redis.connection", "valkey.connection"])
def test_every_tls_keyword_of_the_client_is_mirrored_or_refused(module):
    """A client library that grows a TLS option the listener does not know makes this fail, not connect."""
    ssl_connection = pytest.importorskip(module).SSLConnection
    keywords = {
        name for name in inspect.signature(ssl_connection.__init__).parameters if name.startswith("ssl_")
    }
    assert keywords <= listener_endpoints._KNOWN


def test_tls_through_sentinel_is_refused_not_sent_in_clear(redis_sentinel, namespace, caplog):
    """Its listener would speak plain TCP to a TLS primary, AUTH included: the cache stays off."""
    client = redis_sentinel.master_for(ssl=True, password="secret", socket_timeout=5)
    with caplog.at_level(logging.WARNING, logger="hug_store_redis"):
        store = RedisStore(client, namespace, local_cache=True)
    assert store.local_cache is None
    assert any("TLS through Sentinel" in r.getMessage() for r in caplog.records)
    client.close()


@pytest.fixture
def mutual_tls(redis_tls, tmp_path):
    """A server that asks for a client certificate (its own, self-signed), and the key under a password."""
    cert, key, locked_key = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "locked-key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}"),
            *("-addext", f"subjectAltName=IP:{HOST}"),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "pkey",
            "-in",
            str(key),
            "-aes256",
            "-passout",
            "pass:opensesame",
            "-out",
            str(locked_key),
        ],
        check=True,
        capture_output=True,
    )
    tls_port = free_port()
    node = Node(
        tmp_path,
        "mutual-tls",
        *("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key)),
        *("--tls-ca-cert-file", str(cert), "--tls-auth-clients", "yes"),
    )
    yield node, tls_port, cert, locked_key
    node.stop()


def test_a_client_certificate_with_a_locked_key_is_presented_by_the_listener_too(mutual_tls, namespace):
    node, tls_port, cert, locked_key = mutual_tls
    bare = redis.Redis(host=HOST, port=tls_port, ssl=True, ssl_ca_certs=str(cert), socket_timeout=5)
    with contextlib.closing(bare), pytest.raises(redis.ConnectionError):
        bare.ping()  # the server does insist on a client certificate
    client = redis.Redis(
        host=HOST,
        port=tls_port,
        ssl=True,
        ssl_ca_certs=str(cert),
        ssl_certfile=str(cert),
        ssl_keyfile=str(locked_key),
        ssl_password="opensesame",
        socket_timeout=5,
    )
    store = RedisStore(client, namespace, local_cache=True)
    try:
        (listener,) = listeners_of(store)
        assert listener._tls.keyfile == str(locked_key)
        hits_send_nothing(store, node.client)
        others_writes_are_seen(store, node.client)
    finally:
        store.close()
        client.close()


def test_a_forked_child_leaves_the_parents_tls_stream_alone(redis_tls):
    """The child closes its copy of the TLS socket without a TLS goodbye: the parent's session goes on."""
    cache, invalidations, listener = quiet_tls_listener(redis_tls)
    with listener:
        wait_serving(cache)
        pid = os.fork()
        if pid == 0:  # the at-fork hooks closed the child's copies; nothing else to do
            os._exit(0)
        os.waitpid(pid, 0)
        writer = redis_tls.node.client
        writer.set(key("after-fork"), b"1")
        invalidations.wait_for_key(key("after-fork"))
        assert listener.sessions == 1 and cache.serving  # the same TLS connection, still serving


def test_a_valkey_py_tls_client_gets_a_tls_listener_too(redis_tls, namespace):
    valkey = pytest.importorskip("valkey")
    client = valkey.Valkey(
        host=HOST, port=redis_tls.tls_port, ssl=True, ssl_ca_certs=str(redis_tls.ca_cert), socket_timeout=5
    )
    store = RedisStore(client, namespace, local_cache=True)
    try:
        (listener,) = listeners_of(store)
        assert listener._tls is not None and not listener._tls.check_hostname  # valkey-py's default
        hits_send_nothing(store, redis_tls.node.client)
        others_writes_are_seen(store, redis_tls.node.client)
    finally:
        store.close()
        client.close()
