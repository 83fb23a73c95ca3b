"""The scripted operations for servers that refuse scripts, through the client's own methods.

Same results as the scripts, at the price of round trips: a lazy read is GET + PTTL
pipelined, and a PEXPIRE only when due (it never creates a key); a compare-and-set is
WATCH, GET, a comparison here, then MULTI/SET/EXEC, which needs a client that can WATCH.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

from redis.exceptions import RedisClusterException

from ..clients.families import UNREACHABLE_ERRORS, WATCH_ERRORS
from ..errors import CompareAndSetUnavailableError
from .base import Resends, SlidingReply, get_bytes, settled
from .scripts import server_name


def read_sliding(client: Any, full_key: bytes, expiry_ms: int, touch_below_ms: int) -> SlidingReply:
    """What READ_AND_TOUCH returns, as ``(value, remaining ms, slid)``; ``(None, -2, False)`` when absent."""
    pipeline = client.pipeline(transaction=False)
    pipeline.get(full_key)
    pipeline.pttl(full_key)
    payload, remaining = pipeline.execute()
    if payload is None:
        return None, -2, False
    remaining = int(remaining)
    if 0 <= remaining < touch_below_ms and client.pexpire(full_key, expiry_ms):
        return payload, expiry_ms, True
    return payload, remaining, False


def compare_and_set(
    client: Any,
    full_key: bytes,
    expected: bytes,
    payload: bytes,
    expiration: int | None,
    *,
    waiting: bool = False,
) -> int | bytes | str:
    """What COMPARE_AND_SET returns: 1 written, 0 no key (never recreated), else the current value.

    The value is read as bytes whatever the client decodes, so one that is not UTF-8 is
    compared, handed back and replaced like any other (a decoding client's GET would raise).

    EXEC aborts when anything touched the key after WATCH, a PEXPIRE included: that is
    reported as a conflict with the value read again, and the caller merges and retries.
    When EXEC's reply is lost (the client raises WatchError for a connection that failed
    while watching), EXEC may have run: finding exactly ``payload`` then means written
    (``transport.settled`` says why byte-identical bytes of another writer are taken so).
    ``waiting`` (a store with ``wait_replicas``) is refused: WAIT cannot follow the EXEC on
    its connection here.
    """
    if waiting:
        raise CompareAndSetUnavailableError(server_name(client, full_key), waiting=True)
    resends = Resends()
    with _watching(client, full_key) as pipeline:
        current = get_bytes(pipeline, full_key)
        if current is None:
            return 0
        if current != expected:
            return current
        pipeline.multi()
        if payload:
            pipeline.set(full_key, payload, ex=expiration)
        else:
            pipeline.delete(full_key)
        try:
            pipeline.execute()
        except WATCH_ERRORS as error:
            if isinstance(error.__context__, UNREACHABLE_ERRORS):  # EXEC sent, its reply lost
                resends.happened = True
        else:
            return 1
    current = get_bytes(client, full_key)
    return 0 if current is None else settled(current, payload, resends)


@contextlib.contextmanager
def _watching(client: Any, full_key: bytes) -> Iterator[Any]:
    """A transaction pipeline watching ``full_key``, reset (UNWATCH, connection back) on leaving."""
    try:
        pipeline = client.pipeline(transaction=True)
    except RedisClusterException as error:  # a redis-py without cluster transactions
        raise CompareAndSetUnavailableError(server_name(client, full_key)) from error
    with pipeline:
        try:
            pipeline.watch(full_key)
        except RedisClusterException as error:
            raise CompareAndSetUnavailableError(server_name(client, full_key)) from error
        yield pipeline
