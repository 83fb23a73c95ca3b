"""RedisStore.from_url and the URL clients: schemes, TLS, unix sockets, clusters, masked errors,
URLs and keywords checked when the client is made."""

import functools
import re
from urllib.parse import quote

import pytest
import redis
from hypothesis import assume, given
from redis.cluster import RedisCluster
from support import password_leaks
from support.hypothesis_profiles import FUZZ
from support.servers import RedisServer

from hug_store_redis import RedisStore
from hug_store_redis.clients import (
    InvalidURLError,
    ServerUnreachableError,
    client_from_url,
    mask_url,
    redact,
)

pytestmark = pytest.mark.one_twin


def _close(store):
    store.connection.close()


def test_redis_url_with_db_namespace_and_expiration(redis_server, redis_client):
    store = RedisStore.from_url(
        f"redis://{redis_server.host}:{redis_server.port}/3", namespace="web", expiration=60
    )
    try:
        store.set("k", {"a": 1})
        redis_client.select(3)
        assert redis_client.get("web:k") == b'{"a": 1}'
        assert 0 < redis_client.ttl("web:k") <= 60
        assert (store.namespace, store.expiration) == ("web", 60)
    finally:
        redis_client.flushall()
        _close(store)


def test_client_kwargs_reach_redis_py(redis_server):
    store = RedisStore.from_url(f"redis://{redis_server.host}:{redis_server.port}/0", decode_responses=True)
    try:
        store.set("k", [1])
        assert store.read_payload("k") == "[1]"
        assert store.get("k") == [1]
    finally:
        store.connection.flushall()
        _close(store)


def test_unix_socket_url(redis_server, redis_client):
    store = RedisStore.from_url(f"unix://{redis_server.unixsocket}?db=0", namespace="sock")
    try:
        store.set("k", 1)
        assert redis_client.get("sock:k") == b"1"
    finally:
        redis_client.flushall()
        _close(store)


def test_tls_url(redis_tls):
    store = RedisStore.from_url(redis_tls.url, namespace="tls", ssl_ca_certs=str(redis_tls.ca_cert))
    try:
        store.set("k", {"secure": True})
        assert store.get("k") == {"secure": True}
        assert redis_tls.node.client.get("tls:k") == '{"secure": true}'
    finally:
        redis_tls.node.client.flushall()
        _close(store)


def test_tls_url_refuses_an_unknown_certificate(redis_tls):
    store = RedisStore.from_url(redis_tls.url, namespace="tls")
    try:
        with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
            store.set("k", 1)
    finally:
        _close(store)
    assert redis_tls.node.client.dbsize() == 0


def test_cluster_flag_and_cluster_scheme(redis_cluster):
    port = redis_cluster.nodes[0].port
    for url, flag in ((f"redis://127.0.0.1:{port}", True), (f"redis+cluster://127.0.0.1:{port}", None)):
        client = client_from_url(url, cluster=flag)
        try:
            assert isinstance(client, RedisCluster)
            assert len(client.get_primaries()) == 3
        finally:
            client.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
        ("redis://user:s3cret@127.0.0.1:1", "redis://user:***@127.0.0.1:1"),
        ("rediss+cluster://u:s3cret@h:1/0", "rediss+cluster://u:***@h:1/0"),
        ("redis://127.0.0.1:1/0?password=s3cret&db=1", "redis://127.0.0.1:1/0?password=***&db=1"),
        ("redis://user@127.0.0.1:1", "redis://user@127.0.0.1:1"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
        ("redis://u:s3cret@[::1:1", "redis://u:***@[::1:1"),
        ("redis://:p@ss@127.0.0.1:1", "redis://:***@127.0.0.1:1"),
        ("redis://h:1/0?PASSWORD=s3cret", "redis://h:1/0?PASSWORD=***"),
    ],
)
def test_mask_url_hides_only_the_password(url, shown):
    assert mask_url(url) == shown


WITHHELD = "(details withheld: they quote the password)"
WRONGPASS = "invalid username-password pair or user is disabled."


@pytest.mark.parametrize(
    ("text", "url", "shown"),
    [
        (WRONGPASS, "redis://:pass@h:1/0", WRONGPASS),  # "pass" inside "password": an ordinary word
        (WRONGPASS, "redis://:Wr0ng%2Fpass@h:1/0", WRONGPASS),
        (WRONGPASS, "redis://user:user-pass@h:1/0", WRONGPASS),
        ("AUTH pass failed", "redis://:pass@h:1/0", WITHHELD),  # the password as a word of its own
        ("it said pass.", "redis://:pass@h:1/0", WITHHELD),
        ("bad URL redis://:Wr0ng/pass@h", "redis://:Wr0ng%2Fpass@h:1/0", WITHHELD),  # decoded
        ("bad URL redis://:Wr0ng%2Fpass@h", "redis://:Wr0ng%2Fpass@h:1/0", WITHHELD),  # as written
        ("x/pass!", "redis://:%2Fpass!@h:1/0", WITHHELD),  # its ends are no letters: no boundary needed
        ("no such user", "redis://:p+w@h:1/0?password=p+w", "no such user"),
        ("quoted p w here", "unix:///s?password=p+w", WITHHELD),  # + read as a space
    ],
)
def test_redact_withholds_a_message_that_holds_the_password_whole(text, url, shown):
    assert redact(text, url) == shown


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("http://u:s3cret@127.0.0.1:1", {}, "unsupported URL scheme"),
        ("127.0.0.1:6380", {}, "unsupported URL scheme"),
        ("redis+cluster://u:s3cret@127.0.0.1:1", {"cluster": False}, "cluster=False"),
        ("unix://:s3cret@/tmp/redis.sock", {"cluster": True}, "not reachable over unix"),
        ("redis://:s3cret@127.0.0.1:port/0", {}, "the port must be a number"),
    ],
)
def test_bad_urls_raise_invalid_url_error_without_the_password(url, kwargs, message):
    with pytest.raises(InvalidURLError, match=message) as caught:
        RedisStore.from_url(url, **kwargs)
    assert "s3cret" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_non_str_url_is_invalid():
    with pytest.raises(InvalidURLError, match="must be str"):
        RedisStore.from_url(b"redis://127.0.0.1")


def test_unreachable_cluster_fails_at_once_without_the_password():
    with pytest.raises(ServerUnreachableError) as caught:
        RedisStore.from_url("redis+cluster://:s3cret@127.0.0.1:1/0", socket_connect_timeout=1)
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith("redis+cluster://:***@127.0.0.1:1/0: ")
    assert isinstance(caught.value, redis.ConnectionError)


@pytest.mark.parametrize(
    ("namespace", "expiration", "error"),
    [(b"bytes", 60, TypeError), ("ns", 0, ValueError), ("ns", 1.5, ValueError), ("ns", "60", TypeError)],
)
def test_bad_arguments_fail_before_connecting(namespace, expiration, error):
    """An unreachable cluster would raise ServerUnreachableError: the argument check comes first."""
    with pytest.raises(error):
        RedisStore.from_url("redis+cluster://127.0.0.1:1", namespace=namespace, expiration=expiration)


# --- passwords never leak -------------------------------------------------------------


def _outcome(url: str) -> str:
    """What a user of ``from_url`` sees for ``url``: the error chain, or nothing."""
    try:
        store = RedisStore.from_url(url, socket_connect_timeout=1)
    except (InvalidURLError, ServerUnreachableError) as error:
        return password_leaks.exception_text(error)
    _close(store)
    return ""


@functools.cache
def _boilerplate(user: str) -> str:
    """Everything ``from_url`` says about the test URLs when the password is harmless."""
    texts = []
    for probe in password_leaks.PROBES:
        for url, masked in password_leaks.userinfo_urls(user, probe):
            texts += [masked, _outcome(url)]
        for url in password_leaks.query_urls(probe):
            texts += [mask_url(url), _outcome(url)]
    return "\n".join(texts)


@FUZZ
@given(user=password_leaks.usernames, password=password_leaks.passwords)
def test_mask_url_hides_a_password_of_any_characters_in_the_user_info(user, password):
    for url, masked in password_leaks.userinfo_urls(user, password):
        assert mask_url(url) == masked


@FUZZ
@given(password=password_leaks.passwords)
def test_mask_url_hides_a_password_of_any_characters_in_the_query(password):
    assume("@" not in password)  # an "@" makes the URL read as user info: masked wider, below
    assume(not re.search(r"&(db|socket_timeout)=", password, re.IGNORECASE))  # really a new parameter
    for url in password_leaks.query_urls(password):
        masked = mask_url(url)
        start = url.index("password=") + len("password=")
        end = url.find("&socket_timeout=", start)
        assert masked == f"{url[:start]}***{url[end:] if end > 0 else ''}"


@FUZZ
@given(user=password_leaks.usernames, password=password_leaks.passwords)
def test_from_url_errors_never_hold_the_password(user, password):
    boilerplate = _boilerplate(user)
    assume(not password_leaks.leaked(password, boilerplate))
    urls = [url for url, _ in password_leaks.userinfo_urls(user, password)]
    for url in urls + password_leaks.query_urls(password):
        shown = mask_url(url) + "\n" + _outcome(url)
        assert not password_leaks.leaked(password, shown), url


@pytest.mark.parametrize(
    "url",
    ["redis://:Kx7/vQ2m@127.0.0.1:1/0", "redis://127.0.0.1:1/0?password=p@w", "redis://u:p[w@127.0.0.1:1/0"],
    ids=["slash-in-user-info", "at-in-query", "bracket"],
)
def test_a_misread_user_info_says_how_to_write_an_at_sign(url):
    """What docs/servers.md says: percent-encode, and "@" as %40, which redis-py decodes anywhere."""
    with pytest.raises(InvalidURLError) as caught:
        RedisStore.from_url(url)
    assert "percent-encode" in str(caught.value) and "'@' as %40" in str(caught.value)


def test_an_at_sign_in_a_password_works_as_percent_40_and_as_written(redis_server, redis_client):
    """redis-py ends the user info at the last "@" (urllib's rule), so both spellings connect."""
    redis_client.acl_setuser("at-user", enabled=True, passwords=["+p@ss"], keys=["*"], commands=["+@all"])
    try:
        for secret in ("p%40ss", "p@ss"):
            store = RedisStore.from_url(f"redis://at-user:{secret}@127.0.0.1:{redis_server.port}/0")
            try:
                assert store.connection.acl_whoami() == "at-user"
            finally:
                _close(store)
    finally:
        redis_client.acl_deluser("at-user")


def test_a_password_of_every_character_class_works_percent_encoded(tmp_path):
    """Against a real server that requires it: the password arrives intact, decoded once."""
    password = password_leaks.ALPHABET
    server = RedisServer(tmp_path, unixsocket=tmp_path / "redis.sock").start()
    try:
        admin = redis.Redis(port=server.port)
        admin.acl_setuser("app", enabled=True, passwords=[f"+{password}"], keys=["*"], commands=["+@all"])
        admin.config_set("requirepass", password)
        encoded = quote(password, safe="")
        for url in (
            f"redis://:{encoded}@127.0.0.1:{server.port}/0",
            f"redis://app:{encoded}@127.0.0.1:{server.port}/1",
            f"unix://app:{encoded}@{tmp_path / 'redis.sock'}?db=2",
            f"unix://{tmp_path / 'redis.sock'}?password={encoded}&db=3",
        ):
            store = RedisStore.from_url(url, namespace="pw")
            try:
                store.set("k", {"url": mask_url(url)})
                assert store.get("k") == {"url": mask_url(url)}
            finally:
                _close(store)
        with pytest.raises(InvalidURLError) as caught:
            RedisStore.from_url(f"redis://app:{password}@127.0.0.1:{server.port}/0")
        assert not password_leaks.leaked(password, password_leaks.exception_text(caught.value))
    finally:
        server.stop()


# --- strict URLs and keywords -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:1/0?foo=bar", "unknown query parameter 'foo'"),
        ("redis://127.0.0.1:1?db=0&sockt_timeout=1", "unknown query parameter 'sockt_timeout'"),
        ("redis://127.0.0.1:1/0?timeout=1", "unknown query parameter 'timeout'"),
        ("redis://127.0.0.1:1/0?ssl_cert_reqs=none", "'ssl_cert_reqs' (ssl_* parameters need rediss://)"),
        ("redis+cluster://127.0.0.1:1?ssl_cert_reqs=none", "unknown query parameter 'ssl_cert_reqs'"),
        ("redis+cluster://127.0.0.1:1?health_check_interval=1", "'health_check_interval'"),
        ("unix:///tmp/redis.sock?foo=", "unknown query parameter 'foo'"),
        ("redis://127.0.0.1:1/abc", "the path must be a database number, like /0"),
        ("redis://127.0.0.1:1/0/1", "the path must be a database number, like /0"),
        ("redis://127.0.0.1:1/1?db=2", "the database is given twice"),
        ("redis://127.0.0.1:1?db=one", "query parameter 'db' has a bad value"),
        ("redis://127.0.0.1:1?socket_timeout=", "query parameter 'socket_timeout' needs a value"),
        ("redis+cluster://127.0.0.1:1/2", "Redis Cluster has database 0 only"),
        ("unix://localhost:1/tmp/redis.sock", "names a socket path, not a host or port"),
        ("redis://127.0.0.1:1/0#frag", "unexpected '#'"),
        ("redis://127.0.0.1:1/0?client_name=a@b", "'@' after the host"),
        ("redis://h?password=s3cr&et=1", "unknown query parameter (one next to the masked password)"),
    ],
)
def test_urls_redis_py_would_misread_or_refuse_later_fail_at_once(url, message):
    with pytest.raises(InvalidURLError) as caught:
        RedisStore.from_url(url, socket_connect_timeout=1)
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"{mask_url(url)}: ")
    assert "s3cr" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "kwargs", "names"),
    [
        ("redis://127.0.0.1:1/0", {"sockt_timeout": 1}, "'sockt_timeout'"),
        ("unix:///tmp/redis.sock", {"decode_response": True, "db": 1}, "'decode_response'"),
        (
            "redis://127.0.0.1:1/0",
            {"ssl_cert_reqs": "none"},
            "'ssl_cert_reqs' (ssl_* options need rediss://)",
        ),
        (
            "redis+cluster://127.0.0.1:1",
            {"sockt_timeout": 1, "retry_on_error": []},
            "'retry_on_error', 'sockt",
        ),
        ("redis://127.0.0.1:1", {"cluster": True, "socket_timout": 1}, "RedisCluster takes no keyword"),
    ],
)
def test_misspelt_keywords_fail_at_once_with_their_names(url, kwargs, names):
    """A cluster URL on port 1 would raise ServerUnreachableError: the check comes first."""
    with pytest.raises(TypeError, match=re.escape(names)):
        RedisStore.from_url(url, **kwargs)


def test_every_parameter_the_checks_allow_reaches_the_server(redis_server, redis_client):
    url = (
        f"redis://127.0.0.1:{redis_server.port}/2?socket_timeout=5&socket_connect_timeout=5"
        "&client_name=web&health_check_interval=30&retry_on_timeout=yes&max_connections=4"
    )
    store = RedisStore.from_url(url, namespace="ok", decode_responses=True, single_connection_client=False)
    try:
        store.set("k", 1)
        redis_client.select(2)
        assert redis_client.get("ok:k") == b"1"
        assert any(client["name"] == "web" for client in redis_client.client_list())
    finally:
        _close(store)
        redis_client.flushall()


def test_ssl_parameters_are_accepted_on_rediss(redis_tls):
    url = f"{redis_tls.url}?ssl_ca_certs={quote(str(redis_tls.ca_cert))}&ssl_cert_reqs=required"
    store = RedisStore.from_url(url, namespace="tls")
    try:
        store.set("k", 1)
        assert store.get("k") == 1
    finally:
        redis_tls.node.client.flushall()
        _close(store)
