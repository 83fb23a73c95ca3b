"""The one seam between the store and Redis: what a transport does, and the client it may wrap.

``RedisStore`` picks a transport once, in ``__init__`` (``transport_for``): ``FastTransport`` (pre-framed
commands on a plain ``redis.Redis`` pool) or ``ClientTransport`` (the client's own
methods). Each store operation is one call into it, so both transports give the same
results and raise the same exceptions by construction, and a new operation is one method
on each, never an ``if fast ... else ...`` in the store.

Contract for every method: ``key`` is the caller's key (the transport namespaces it);
replies come back raw (bytes, or str from a ``decode_responses=True`` client); Redis
errors propagate as the client raises them (``clients.families.CLIENT_ERRORS``: redis-py's
``RedisError`` or valkey-py's ``ValkeyError`` subclasses, or ``UnicodeDecodeError`` when a
decoding client meets non-UTF-8 bytes) and the store counts them. Single-key commands
and single-key scripts only, so every call is Cluster-safe.

What waits for replicas (``ReplicaWait``, ``WAIT`` in the write's round trip) is every write
of data: the session writes, ``unlink`` (a namespace's ``clear``) and the per-user index's
writes (``index_*``: an index entry a failover loses is a session "sign out everywhere"
cannot reach). Reads, ``scan`` and the expiry-only commands (``touch``, the sliding read) do
not wait: a lost expiry restart only ends a session early, as its expiry would have.

Scripted operations (``read_sliding``, ``compare_and_set``, ``index_drop_unchanged``) send
EVALSHA and, on NOSCRIPT, one EVAL (``scripts``); on a server that refuses scripts they
switch, once per store, to the client-side fallbacks (``without_scripts``, a plain HDEL).
Scripts reply integers, bulk strings, nil or arrays of those, never Lua booleans: RESP2 and
RESP3 turn booleans into different values.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from ..codec.wire import as_bytes
from .capabilities import ServerCapabilities

SlidingReply = tuple[bytes | str | None, int, bool]
T = TypeVar("T")


class RedisClient(Protocol):
    """What the store needs from a client: redis-py's single-key commands.

    Typed structurally, never checked by class, so RedisCluster, Sentinel masters and
    look-alikes all fit.
    """

    def get(self, name: Any) -> bytes | str | None: ...
    def set(self, name: Any, value: Any, ex: Any = None, nx: bool = False) -> Any: ...
    def exists(self, *names: Any) -> Any: ...
    def delete(self, *names: Any) -> Any: ...
    def getex(self, name: Any, ex: Any = None) -> bytes | str | None: ...
    def expire(self, name: Any, time: Any) -> Any: ...
    def ttl(self, name: Any) -> Any: ...
    def pipeline(self, transaction: bool = True) -> Any: ...
    def pttl(self, name: Any) -> Any: ...
    def pexpire(self, name: Any, time: Any) -> Any: ...
    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any: ...
    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any: ...
    def execute_command(self, *args: Any, **options: Any) -> Any: ...


class Transport(Protocol):
    """The store's operations on one namespace; see the module docstring for the contract."""

    def read(self, key: str) -> bytes | str | None:
        """The value under ``key``, or None."""

    def close(self) -> None:
        """Close the connections this transport opened itself (not the client's); it reconnects
        when used again."""

    def read_bytes(self, key: str) -> bytes | None:
        """The value as bytes even on a decoding client, or None: for a value that is not UTF-8."""

    def read_and_touch(self, key: str) -> bytes | str | None:
        """The value, and its expiry restarted in the same round trip (a plain read without expiry)."""

    def read_sliding(self, key: str, touch_below_ms: int) -> SlidingReply:
        """``(value, remaining ms, slid)``: the expiry restarts only when fewer than
        ``touch_below_ms`` remain, and never on a missing key (``(None, -2, False)``).
        Only for a namespace with an expiry."""

    def compare_and_set(
        self, key: str, expected: bytes, payload: bytes, expire_s: int | None = None
    ) -> int | bytes | str:
        """COMPARE_AND_SET's reply: 1 written (empty ``payload``: deleted), 0 no key (never
        recreated), else the value another writer left, which is not ``expected``. A write
        sent again after a lost reply that finds exactly ``payload`` is written (``settled``).
        ``expire_s``, when given, is this write's expiry instead of the namespace's (a
        session's remaining ``max_lifetime``); the same on ``create`` and ``create_replacing``."""

    def create(self, key: str, payload: bytes, expire_s: int | None = None) -> bool:
        """SET NX with the expiry: False when the key exists (nothing written)."""

    def create_replacing(
        self, key: str, payload: bytes, old_key: str, expire_s: int | None = None
    ) -> tuple[bool, bool]:
        """``create`` and DEL ``old_key`` pipelined without MULTI: (created, old key deleted)."""

    def write(self, key: str, payload: bytes) -> None:
        """Store ``payload`` with the namespace's expiry."""

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        """Write ``key`` and delete ``old_key`` in one round trip, without MULTI."""

    def delete(self, key: str) -> bool:
        """True when a key was deleted."""

    def exists(self, key: str) -> bool: ...

    def touch(self, key: str, expire_ms: int | None = None) -> bool:
        """EXPIRE with the namespace's expiry (EXISTS when it has none), or PEXPIRE ``expire_ms``
        when given; False when there is no key. Expiry-only: no ``WAIT``, and never a key created."""

    def ttl(self, key: str) -> int:
        """TTL's reply: seconds left, -1 for a key that never expires, -2 for no key."""

    def scan(self, pattern: bytes, batch_size: int) -> Iterator[bytes]:
        """Every Redis key matching ``pattern`` (SCAN MATCH), step by step on every primary
        (a cluster node only sees its own slots); a key may repeat if it moves mid-walk."""

    def unlink(self, full_keys: Sequence[bytes]) -> int:
        """UNLINK each of ``full_keys`` (Redis keys, as ``scan`` gives them), single-key commands
        pipelined without MULTI in one round trip; how many existed."""

    def index_set(
        self,
        key: bytes,
        fields: Mapping[bytes, bytes],
        expire_s: int | None,
        expiring: Sequence[bytes] = (),
        fields_expire_s: int | None = None,
    ) -> None:
        """HSET ``fields`` (if any) on the hash at ``key`` (a Redis key outside every namespace:
        the per-user index), EXPIRE it after ``expire_s`` unless None, and HEXPIRE the fields
        ``expiring`` after ``fields_expire_s`` (servers with hash-field expiry), in one round
        trip. HSET drops a field's expiry, so a field written here is listed in ``expiring``."""

    def index_delete(self, key: bytes, fields: Sequence[bytes]) -> None:
        """HDEL ``fields`` from the hash at ``key``."""

    def index_drop_unchanged(self, key: bytes, entries: Sequence[tuple[str, bytes | str]]) -> None:
        """DROP_UNCHANGED for ``(handle, entry as read)`` pairs: each entry's fields go only if
        it still holds what was read. A server refusing scripts gets a plain HDEL of them."""

    def capabilities(self) -> ServerCapabilities:
        """What the server can do, as this transport detected it (``native.Detected``): asked
        at first use, kept until a sign that the node changed (a failover, a restart as another
        version), then asked again. One detection per store, shared by every layer above it."""

    def capabilities_known(self) -> ServerCapabilities | None:
        """``capabilities`` as last detected, asking nothing (None before the first): a new
        object once the transport asked again."""

    def capabilities_changed(self) -> None:
        """A command the detection promised was refused as unknown: the node is another one,
        so the next ``capabilities`` asks again."""


def sliding_reply(reply: Any) -> SlidingReply:
    """READ_AND_TOUCH's reply (nil, or ``[value, ms, 0|1]``) as ``read_sliding`` returns it."""
    if reply is None:
        return None, -2, False
    payload, remaining, slid = reply
    return payload, int(remaining), slid == 1


def get_bytes(target: Any, full_key: bytes) -> bytes | None:
    """GET on a client or a WATCHing pipeline, the reply as bytes even from a decoding client.

    ``NEVER_DECODE`` is redis-py's (and valkey-py's) own switch for a reply the parser must
    not decode (DUMP's): a value that is not UTF-8 arrives as its bytes, not as an error.
    """
    return target.execute_command("GET", full_key, NEVER_DECODE=True)  # type: ignore[no-any-return]


def shown_key(full_key: bytes) -> str:
    """A Redis key as text for ``NotReplicatedError`` (which shows 8 characters of it): bytes
    that are not UTF-8 escaped, since ``scan`` meets keys no store wrote."""
    return full_key.decode("utf-8", "backslashreplace")


def index_set_frames(
    key: bytes,
    fields: Mapping[bytes, bytes],
    expire_s: int | None,
    expiring: Sequence[bytes],
    fields_expire_s: int | None,
) -> list[tuple[bytes | str | int, ...]]:
    """The commands of ``Transport.index_set``, for both transports: HSET, EXPIRE, HEXPIRE
    (the form Redis >= 7.4 and Valkey >= 9.0 share), each only when it has work. Names as
    ``str``: a RedisCluster pipeline looks them up as text."""
    frames: list[tuple[bytes | str | int, ...]] = []
    if fields:
        frames.append(("HSET", key, *(part for field in fields.items() for part in field)))
    if expire_s is not None:
        frames.append(("EXPIRE", key, expire_s))
    if expiring and fields_expire_s is not None:
        frames.append(("HEXPIRE", key, fields_expire_s, "FIELDS", len(expiring), *expiring))
    return frames


def is_unknown_command(error: Exception) -> bool:
    """True for a server too old for the command (GETEX before Redis 6.2)."""
    return "unknown command" in str(error).lower()


class Resends:
    """Whether a write went to the server more than once: a retry after a lost reply (a
    timeout, a dropped connection), so its first send may have run and left its bytes.

    ``happened`` is a class attribute until a resend sets it on the instance: made once per
    session write, an ``__init__`` cost more than the rest of it."""

    happened = False

    def counting(self, send: Callable[[], T]) -> Callable[[], T]:
        """``send``, noting every call after its first."""
        calls = 0

        def counted() -> T:
            nonlocal calls
            calls += 1
            if calls > 1:
                self.happened = True
            return send()

        return counted


def settled(reply: Any, payload: bytes, resends: Resends) -> Any:
    """COMPARE_AND_SET's reply, with a resent write that finds exactly its own ``payload`` written.

    Its first send ran and only the reply was lost: merging its change into the value again
    would apply it twice (one apple added, two counted). Byte-identical bytes another request
    wrote in that same window would be taken for this write's: the value is then what this
    write wanted, and only a merge hook that adds up identical changes counts one too few.
    Without a resend a conflict is always another writer's, merged as usual.
    """
    if not (resends.happened and payload) or isinstance(reply, int):
        return reply
    return 1 if as_bytes(reply) == payload else reply
