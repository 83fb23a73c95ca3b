"""RESP2 and RESP3, hiredis and the Python parser, fast and generic path: one set of results.

redis-py 8 speaks RESP3 when ``protocol`` is unset. The fast path returns the parser's
values without redis-py's response callbacks, so it serves a protocol only because the
replies it reads (bulk strings, nulls, integers, simple strings, errors, and push
frames, which both parsers consume before the reply) parse to the same Python values
under both. These tests pin that down per parser, and that the connection really speaks
the protocol the test names. valkey-py (a fork of redis-py with the same ``Connection``
machinery, in classes of its own) is held to the same results with its own parsers.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import redis
import valkey
import valkey._parsers
from hug.exceptions import StoreKeyNotFound
from redis._parsers import _HiredisParser, _RESP2Parser, _RESP3Parser
from redis.utils import HIREDIS_AVAILABLE
from valkey.utils import LIBVALKEY_AVAILABLE

from hug_store_redis import RedisStore
from hug_store_redis.store import GONE, WRITTEN, WriteOutcome, WriteStatus

pytestmark = pytest.mark.one_twin  # the codec frames the same bytes either way

PROTOCOLS = [pytest.param(2, id="resp2"), pytest.param(3, id="resp3"), pytest.param(None, id="unset")]
PARSERS = [
    pytest.param("hiredis", id="hiredis"),
    pytest.param("python", id="python-parser"),
    pytest.param("libvalkey", id="valkey-py-libvalkey"),
    pytest.param("valkey-python", id="valkey-py-python-parser"),
]
VALKEY_PARSERS = ("libvalkey", "valkey-python")
PATHS = [pytest.param(True, id="fast"), pytest.param(False, id="generic")]


def parser_for(parser: str, protocol: int | None) -> type:
    if parser == "libvalkey":
        assert LIBVALKEY_AVAILABLE, "libvalkey is a test dependency"
        return valkey._parsers._LibvalkeyParser
    if parser == "valkey-python":
        return valkey._parsers._RESP3Parser if protocol == 3 else valkey._parsers._RESP2Parser
    if parser == "hiredis":
        assert HIREDIS_AVAILABLE, "hiredis is a test dependency"
        return _HiredisParser
    return _RESP2Parser if protocol == 2 else _RESP3Parser


def spoken_protocol(protocol: int | None, parser: str) -> int:
    """What the client makes of ``protocol``: unset is RESP3 from redis-py 8 on, RESP2 on valkey-py."""
    if protocol is not None:
        return protocol
    if parser in VALKEY_PARSERS:
        return 2
    return 3 if int(redis.__version__.split(".")[0]) >= 8 else 2


@pytest.fixture
def client_for(redis_server: Any) -> Iterator[Any]:
    clients: list[Any] = []

    def make(protocol: int | None, parser: str, **options: Any) -> Any:
        kwargs: dict[str, Any] = {"protocol": protocol} if protocol is not None else {}
        family: Any = valkey if parser in VALKEY_PARSERS else redis
        pool = family.ConnectionPool(
            host=redis_server.host,
            port=redis_server.port,
            parser_class=parser_for(parser, protocol),
            **kwargs,
            **options,
        )
        client = (
            family.Valkey(connection_pool=pool) if family is valkey else redis.Redis(connection_pool=pool)
        )
        clients.append(client)
        connection = pool.get_connection("_") if family is valkey else pool.get_connection()
        try:
            assert type(connection._parser) is parser_for(parser, protocol)
            info = client.client_info()
            assert int(info["resp"]) == spoken_protocol(protocol, parser), info
        finally:
            pool.release(connection)
        return client

    yield make
    for client in clients:
        client.flushall()
        client.close()


def scenario(store: RedisStore, client: Any) -> list[Any]:
    """Every store operation, recording values and exception types alike."""
    seen: list[Any] = [store.exists("k"), store.delete("k"), store.read_payload("k")]
    with pytest.raises(StoreKeyNotFound):
        store.get("k")
    store.set("k", {"n": 1})
    seen += [store.exists("k"), store.read_payload("k"), store.read_payload("k", touch=True), store.get("k")]
    store.replace_payload("k2", b'{"n": 2}', "k")
    seen += [store.exists("k"), store.get("k2"), store.delete("k2"), store.delete("k2")]
    client.lpush("protocols:list", "x")
    with pytest.raises((redis.ResponseError, valkey.ResponseError), match="WRONGTYPE") as caught:
        store.get("list")
    seen.append(type(caught.value).__name__)  # the client family's own ResponseError
    store.set("k", [3])  # still in step after the error
    seen += [store.get("k"), store.stats()]
    return seen


EXPECTED = [
    False,
    False,
    None,
    True,
    b'{"n": 1}',
    b'{"n": 1}',
    {"n": 1},
    False,
    {"n": 2},
    True,
    False,
    "ResponseError",
    [3],
    {
        "hits": 5,
        "misses": 2,
        "touches": 1,
        "writes": 3,
        "creates": 0,
        "skipped_writes": 0,
        "conflicts": 0,
        "merges": 0,
        "deletes": 2,
        "errors": 1,
        "replica_wait_failures": 0,
        "bytes_in": 35,
        "bytes_out": 19,
        **dict.fromkeys(("cache_hits", "cache_misses", "invalidations", "cache_flushes"), 0),
        **dict.fromkeys(("cache_reconnects", "cache_serving"), 0),
    },
]


@pytest.mark.parametrize("fast_path", PATHS)
@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_same_results_on_every_protocol_parser_and_path(client_for, protocol, parser, fast_path):
    client = client_for(protocol, parser)
    store = RedisStore(client, namespace="protocols", fast_path=fast_path)
    assert store.uses_fast_path is fast_path
    seen = scenario(store, client)
    assert seen == EXPECTED
    assert [type(value) for value in seen[:6]] == [bool, bool, type(None), bool, bytes, bytes]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_decoding_clients_get_str_on_every_protocol_and_parser(client_for, protocol, parser):
    client = client_for(protocol, parser, decode_responses=True)
    store = RedisStore(client, namespace="protocols")
    assert store.uses_fast_path
    store.set("k", {"n": 1})
    assert store.read_payload("k") == '{"n": 1}' and store.read_payload("k", touch=True) == '{"n": 1}'
    assert store.read_payload("missing") is None


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_raw_replies_on_the_fast_path_are_what_redis_py_returns(client_for, protocol, parser):
    """The fast path hands back parser values: they must equal the client's own results."""
    client = client_for(protocol, parser)
    store = RedisStore(client, namespace="protocols")
    fast = store._transport._fast  # type: ignore[attr-defined]
    codec = store._codec
    client.set("protocols:k", b"v")
    replies = [
        fast.execute(codec.frame_get("k")),
        fast.execute(codec.frame_get("missing")),
        fast.execute(codec.frame_exists("k")),
        fast.execute(codec.frame_getex("k")),
        fast.execute(codec.frame_delete("k")),
        fast.execute(codec.frame_delete("k")),
    ]
    assert replies == [b"v", None, 1, b"v", 1, 0]
    assert [type(reply) for reply in replies] == [bytes, type(None), int, bytes, int, int]
    assert fast.execute(codec.frame_set("k", b"w")) in (b"OK", "OK", True)
    assert client.get("protocols:k") == b"w" and client.exists("protocols:k") == 1


@pytest.mark.parametrize("decode", [False, True], ids=["bytes", "decoded"])
@pytest.mark.parametrize("fast_path", PATHS)
@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_scripted_operations_give_the_same_results_everywhere(
    client_for, protocol, parser, fast_path, decode
):
    """The scripts reply arrays, integers, bulk strings and nil: the same values on every parser."""
    client = client_for(protocol, parser, decode_responses=decode)
    store = RedisStore(client, namespace="protocols", expiration=100, fast_path=fast_path)
    assert store.uses_fast_path is fast_path

    def text(value: bytes) -> bytes | str:
        return value.decode() if decode else value

    seen = [store.read_payload_sliding("k", 50), store.create("k", b"[1]"), store.create("k", b"[1]")]
    client.pexpire("protocols:k", 30_000)
    seen += [store.read_payload_sliding("k", 50), store.compare_and_set("k", b"[1]", b"[2]")]
    seen += [store.compare_and_set("k", b"[1]", b"[3]"), store.compare_and_set("gone", b"[1]", b"[3]")]
    seen += [store.create_replacing("k2", b"[4]", "k"), store.compare_and_set("k2", text(b"[4]"), b"")]
    assert seen == [
        (None, -2, False),
        True,
        False,
        (text(b"[1]"), 100_000, True),
        WRITTEN,
        WriteOutcome(WriteStatus.CONFLICT, text(b"[2]")),
        GONE,
        True,
        WRITTEN,
    ]
    assert type(seen[3].payload) is type(text(b"")) and type(seen[3].ttl_ms) is int
