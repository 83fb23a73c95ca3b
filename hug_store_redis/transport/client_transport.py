"""The transport over the client's own methods: RedisCluster, Sentinel masters, look-alikes,
and any store built with ``fast_path=False``."""

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..clients.families import RESPONSE_ERRORS
from ..codec.wire import as_bytes
from ..topology.cluster import primary_clients
from ..topology.sentinel_follow import Following
from . import native, without_scripts
from .base import (
    RedisClient,
    Resends,
    SlidingReply,
    get_bytes,
    index_set_frames,
    is_unknown_command,
    settled,
    shown_key,
    sliding_reply,
)
from .capabilities import ServerCapabilities
from .replica_wait import ReplicaWait
from .scripts import (
    COMPARE_AND_SET,
    DROP_UNCHANGED,
    READ_AND_TOUCH,
    ScriptSupport,
    digest,
    entry_fields,
)


class ClientTransport:
    """Each operation is one redis-py call (or one pipeline without MULTI) on ``client``.

    The client keeps its own routing, retries and response callbacks; this class only
    namespaces keys and normalises replies to what ``Transport`` promises. Every write goes
    through ``_run_write``: ``WAIT`` in the same round trip when asked, and on a
    Sentinel-managed client held and retried across failovers (``sentinel_follow.py``).
    """

    __slots__ = (
        "_client",
        "_codec",
        "_detected",
        "_expiration",
        "_expiry_ms",
        "_following",
        "_getex_supported",
        "_scripts",
        "_wait",
    )

    def __init__(
        self,
        client: RedisClient,
        codec: Any,
        expiration: int | None,
        *,
        wait: ReplicaWait | None = None,
        following: Following | None = None,
    ) -> None:
        self._client = client
        self._codec = codec
        self._expiration = expiration
        self._expiry_ms = (expiration or 0) * 1000
        self._getex_supported = True
        self._wait = wait
        self._following = following
        self._scripts = ScriptSupport(client)
        self._detected = native.Detected(
            client, None if following is None else lambda: following.follower.switched
        )
        self._scripts.on_reload = self._detected.script_missing  # NOSCRIPT: the node may be another

    def close(self) -> None:
        """Nothing of its own to close: every connection is the client's."""

    def read(self, key: str) -> bytes | str | None:
        return self._client.get(self._codec.namespaced_key(key))

    def read_bytes(self, key: str) -> bytes | None:
        return get_bytes(self._client, self._codec.namespaced_key(key))

    def read_and_touch(self, key: str) -> bytes | str | None:
        if self._expiration is None:
            return self.read(key)
        full_key = self._codec.namespaced_key(key)
        if self._getex_supported:
            try:
                return self._client.getex(full_key, ex=self._expiration)
            except RESPONSE_ERRORS as error:
                if not is_unknown_command(error):
                    raise
                self._getex_supported = False
        return self.get_then_expire(full_key)

    def get_then_expire(self, full_key: bytes) -> bytes | str | None:
        """GETEX for Redis < 6.2: GET and EXPIRE pipelined without MULTI, still one round trip."""
        pipeline = self._client.pipeline(transaction=False)
        pipeline.get(full_key)
        pipeline.expire(full_key, self._expiration)
        payload, _ = pipeline.execute()
        return payload  # type: ignore[no-any-return]

    def read_sliding(self, key: str, touch_below_ms: int) -> SlidingReply:
        full_key = self._codec.namespaced_key(key)
        return self._scripts.run_or_fallback(
            lambda: sliding_reply(
                self._scripts.run(READ_AND_TOUCH, full_key, self._expiry_ms, touch_below_ms)
            ),
            lambda: without_scripts.read_sliding(self._client, full_key, self._expiry_ms, touch_below_ms),
        )

    def compare_and_set(
        self, key: str, expected: bytes, payload: bytes, expire_s: int | None = None
    ) -> int | bytes | str:
        full_key = self._codec.namespaced_key(key)
        expiration = self._expiration if expire_s is None else expire_s
        arguments = (digest(expected), expiration or 0, payload)
        resends = (
            Resends()
        )  # the store's own resends (a Sentinel switch); the client's own retries it cannot see

        def run() -> int | bytes | str:
            (reply,) = self._run_write(
                key,
                lambda target: self._scripts.run(COMPARE_AND_SET, full_key, *arguments, on=target),
                resends=resends,
            )
            return settled(reply, payload, resends)  # type: ignore[no-any-return]

        def scripted() -> int | bytes | str:
            return self._scripts.run_or_fallback(
                run,
                lambda: without_scripts.compare_and_set(
                    self._client,
                    full_key,
                    expected,
                    payload,
                    expiration,
                    waiting=self._wait is not None,
                ),
            )

        return native.compare_and_set(
            self._detected, self._native_sender(key), full_key, expected, payload, expiration, scripted
        )

    def _native_sender(self, key: str) -> native.Send:
        """``native.Send`` over ``_run_write``: SET's reply raw (``get=True``: redis-py's and
        valkey-py's SET callback then hands back what GET found instead of a bool)."""

        def send(commands: tuple[native.Command, ...], resends: Resends) -> list[Any]:
            def queue(target: Any) -> Any:
                reply = None
                for parts in commands:
                    reply = target.execute_command(*parts, **({"get": True} if parts[0] == "SET" else {}))
                return reply

            return self._run_write(key, queue, pipelined=len(commands) > 1, resends=resends)

        return send

    def create(self, key: str, payload: bytes, expire_s: int | None = None) -> bool:
        full_key = self._codec.namespaced_key(key)
        expiration = self._expiration if expire_s is None else expire_s
        (created,) = self._run_write(
            key, lambda target: target.set(full_key, payload, ex=expiration, nx=True)
        )
        return bool(created)

    def create_replacing(
        self, key: str, payload: bytes, old_key: str, expire_s: int | None = None
    ) -> tuple[bool, bool]:
        full_key, full_old_key = self._codec.namespaced_key(key), self._codec.namespaced_key(old_key)
        expiration = self._expiration if expire_s is None else expire_s

        def queue(pipeline: Any) -> None:
            pipeline.set(full_key, payload, ex=expiration, nx=True)
            pipeline.delete(full_old_key)

        created, deleted = self._run_write(key, queue, pipelined=True)
        return bool(created), deleted == 1

    def write(self, key: str, payload: bytes) -> None:
        full_key = self._codec.namespaced_key(key)
        self._run_write(key, lambda target: target.set(full_key, payload, ex=self._expiration))

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        full_key, full_old_key = self._codec.namespaced_key(key), self._codec.namespaced_key(old_key)

        def queue(pipeline: Any) -> None:
            pipeline.set(full_key, payload, ex=self._expiration)
            pipeline.delete(full_old_key)

        self._run_write(key, queue, pipelined=True)

    def delete(self, key: str) -> bool:
        full_key = self._codec.namespaced_key(key)
        (deleted,) = self._run_write(key, lambda target: target.delete(full_key))
        return bool(deleted == 1)

    def _run_write(
        self,
        key: str,
        queue: Callable[[Any], Any],
        *,
        pipelined: bool = False,
        resends: Resends | None = None,
    ) -> list[Any]:
        """The replies of the commands ``queue`` puts on the client (or on a pipeline, when
        there are several or a ``WAIT`` follows), in one round trip; ``resends`` notes a resend."""

        def send() -> list[Any]:
            if not pipelined and self._wait is None:
                return [queue(self._client)]
            pipeline = self._client.pipeline(transaction=False)
            queue(pipeline)
            if self._wait is not None:
                self._wait.queue(pipeline)
            replies: list[Any] = pipeline.execute()
            if self._wait is not None:
                self._wait.check(replies.pop(), key)
            return replies

        if resends is not None:
            send = resends.counting(send)
        return send() if self._following is None else self._following.call(send)

    def exists(self, key: str) -> bool:
        return bool(self._client.exists(self._codec.namespaced_key(key)))

    def touch(self, key: str, expire_ms: int | None = None) -> bool:
        full_key = self._codec.namespaced_key(key)
        if expire_ms is not None:
            return bool(self._client.pexpire(full_key, expire_ms))
        if self._expiration is None:
            return bool(self._client.exists(full_key))
        return bool(self._client.expire(full_key, self._expiration))

    def ttl(self, key: str) -> int:
        return int(self._client.ttl(self._codec.namespaced_key(key)))

    def scan(self, pattern: bytes, batch_size: int) -> Iterator[bytes]:
        """Replies read as bytes (``NEVER_DECODE``, as ``get_bytes`` reads a value): a decoding
        client would raise on a key that is not UTF-8, and end the walk at a key no store wrote."""
        for node in primary_clients(self._client):
            for full_key in node.scan_iter(match=pattern, count=batch_size, NEVER_DECODE=True):
                yield as_bytes(full_key)

    def unlink(self, full_keys: Sequence[bytes]) -> int:
        if not full_keys:
            return 0

        def queue(pipeline: Any) -> None:
            for full_key in full_keys:
                pipeline.unlink(full_key)

        return sum(int(reply) for reply in self._run_write(shown_key(full_keys[0]), queue, pipelined=True))

    def index_set(
        self,
        key: bytes,
        fields: Mapping[bytes, bytes],
        expire_s: int | None,
        expiring: Sequence[bytes] = (),
        fields_expire_s: int | None = None,
    ) -> None:
        frames = index_set_frames(key, fields, expire_s, expiring, fields_expire_s)
        if not frames:
            return

        def queue(target: Any) -> Any:
            for frame in frames:  # HEXPIRE has no method in redis-py 5.3
                reply = target.execute_command(*frame)
            return reply

        self._run_write(shown_key(key), queue, pipelined=len(frames) > 1)

    def index_delete(self, key: bytes, fields: Sequence[bytes]) -> None:
        self._run_write(shown_key(key), lambda target: target.hdel(key, *fields))

    def index_drop_unchanged(self, key: bytes, entries: Sequence[tuple[str, bytes | str]]) -> None:
        arguments = [part for entry in entries for part in entry]
        self._scripts.run_or_fallback(
            lambda: self._run_write(
                shown_key(key), lambda target: self._scripts.run(DROP_UNCHANGED, key, *arguments, on=target)
            ),
            lambda: self.index_delete(
                key, [field for handle, _ in entries for field in entry_fields(handle)]
            ),
        )

    def capabilities(self) -> ServerCapabilities:
        return self._detected.get()

    def capabilities_known(self) -> ServerCapabilities | None:
        return self._detected.known()

    def capabilities_changed(self) -> None:
        self._detected.forget()
