"""The transport seam: chosen once, the same operations with the same signatures on both sides."""

import inspect

import pytest
import redis

from hug_store_redis import RedisStore
from hug_store_redis.transport import ClientTransport, FastTransport, Transport

OPERATIONS = sorted(
    name for name, member in vars(Transport).items() if callable(member) and not name.startswith("_")
)


@pytest.mark.one_twin
@pytest.mark.parametrize("transport", [FastTransport, ClientTransport], ids=["fast", "client"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_operation_exists_on_both_transports_with_one_signature(transport, operation):
    expected = inspect.signature(getattr(Transport, operation))
    assert inspect.signature(getattr(transport, operation)) == expected


def test_the_transport_is_picked_once_at_construction(redis_client, store_path):
    store = RedisStore(redis_client)
    expected = FastTransport if store_path == "fast" else ClientTransport
    assert type(store._transport) is expected
    assert store.uses_fast_path is (expected is FastTransport)
    assert type(RedisStore(redis_client, fast_path=False)._transport) is ClientTransport


@pytest.mark.one_twin
def test_a_look_alike_client_gets_the_client_transport(redis_server):
    class LookAlike:
        """Has redis-py's single-key methods and nothing else: no pool to borrow from."""

        def __init__(self) -> None:
            self._client = redis.Redis(port=redis_server.port)

        def __getattr__(self, name: str) -> object:
            if name == "connection_pool":
                raise AttributeError(name)
            return getattr(self._client, name)

    store = RedisStore(LookAlike(), namespace="look-alike")
    assert type(store._transport) is ClientTransport
    store.set("k", [1])
    assert store.get("k") == [1] and store.exists("k") and store.delete("k")
