"""The transport over ``fast_path.FastPath``: commands framed by the codec, replies as parsed."""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ..clients.families import NO_SCRIPT_ERRORS, RESPONSE_ERRORS
from ..codec import compiled_twin_of
from ..codec.wire import bulk, command
from . import native, without_scripts
from .base import (
    RedisClient,
    Resends,
    SlidingReply,
    index_set_frames,
    is_unknown_command,
    settled,
    shown_key,
    sliding_reply,
)
from .capabilities import ServerCapabilities
from .client_transport import ClientTransport
from .direct_io import exchanging
from .fast_path import FastPath
from .replica_wait import ReplicaWait
from .scripts import (
    COMPARE_AND_SET,
    DROP_UNCHANGED,
    READ_AND_TOUCH,
    FramedScript,
    ScriptSupport,
    digest,
    entry_fields,
)


class FastTransport:
    """Each operation is one pre-framed command (or one pipelined batch) on a fast-path connection.

    Only chosen for clients ``fast_path_for`` accepts, whose replies to these commands
    need no response callback: the parser's value is already what redis-py returns.
    """

    __slots__ = (
        "_client",
        "_codec",
        "_compare_and_set",
        "_create_head",
        "_create_tail",
        "_detected",
        "_exchange",
        "_expiration",
        "_expiry_ms",
        "_expiry_ms_bulk",
        "_expiry_s_bulk",
        "_expiry_s_text",
        "_fast",
        "_getex_supported",
        "_on_client",
        "_read_and_touch",
        "_round_trip",
        "_scripts",
        "_sliding_tail",
        "_twin",
        "_wait",
    )

    def __init__(
        self,
        fast: FastPath,
        client: RedisClient,
        codec: Any,
        expiration: int | None,
        *,
        wait: ReplicaWait | None = None,
    ) -> None:
        self._fast = fast
        self._client = client
        self._codec = codec
        self._twin = compiled_twin_of(codec)  # its exchange reads simple replies in C
        self._round_trip = None if self._twin is None else exchanging(self._twin)
        self._exchange = fast.exchanger(self._twin, self._round_trip)
        self._expiration = expiration
        self._expiry_ms = (expiration or 0) * 1000
        self._expiry_ms_bulk = bulk(b"%d" % self._expiry_ms)
        self._getex_supported = True
        self._wait = wait
        self._on_client = ClientTransport(client, codec, expiration)  # Redis < 6.2
        self._scripts = ScriptSupport(client)
        self._detected = native.Detected(client)
        self._read_and_touch = FramedScript(READ_AND_TOUCH, 2)
        self._compare_and_set = FramedScript(COMPARE_AND_SET, 3)
        self._expiry_s_text = b"%d" % (expiration or 0)
        self._expiry_s_bulk = bulk(self._expiry_s_text)
        self._sliding_tail = (-1, b"")  # (touch_below_ms, its framed ARGV) of the last sliding read
        # SET key payload NX [EX seconds]
        self._create_head = b"*%d\r\n" % (4 if expiration is None else 6) + bulk(b"SET")
        self._create_tail = bulk(b"NX") + (b"" if expiration is None else bulk(b"EX") + self._expiry_s_bulk)

    def close(self) -> None:
        """The fast path's own connections are not the pool's: ``client.close()`` cannot close them."""
        self._fast.disconnect()

    def read(self, key: str) -> bytes | str | None:
        return self._exchange(self._codec.frame_get(key), None)  # type: ignore[no-any-return]

    def read_bytes(self, key: str) -> bytes | None:
        return self._on_client.read_bytes(key)  # rare (a value that is not UTF-8): the client's way

    def read_and_touch(self, key: str) -> bytes | str | None:
        if self._expiration is None:
            return self.read(key)
        if self._getex_supported:
            try:
                return self._exchange(  # type: ignore[no-any-return]
                    self._codec.frame_getex(key), None
                )
            except RESPONSE_ERRORS as error:
                if not is_unknown_command(error):
                    raise
                self._getex_supported = False
        return self._on_client.get_then_expire(self._codec.namespaced_key(key))

    def read_sliding(self, key: str, touch_below_ms: int) -> SlidingReply:
        below, tail = self._sliding_tail  # a caller reads with one touch_below_ms: framed once
        if below != touch_below_ms:
            tail = self._expiry_ms_bulk + bulk(b"%d" % touch_below_ms)
            self._sliding_tail = touch_below_ms, tail
        if self._scripts.available:  # the common turn inline: no closures, no sliding_reply call
            try:
                frame = self._codec.frame_keyed(self._read_and_touch.by_sha, key, tail)
                reply = self._exchange(frame, None)
            except RESPONSE_ERRORS as error:
                return self._read_sliding_after(error, key, tail, touch_below_ms)
            if reply is None:
                return None, -2, False
            payload, remaining, slid = reply  # integers from either parser: no int() needed
            return payload, remaining, slid == 1
        full_key = self._codec.namespaced_key(key)
        return without_scripts.read_sliding(self._client, full_key, self._expiry_ms, touch_below_ms)

    def _read_sliding_after(
        self, error: Exception, key: str, tail: bytes, touch_below_ms: int
    ) -> SlidingReply:
        """The rare turns of a sliding read whose EVALSHA failed with ``error``, as
        ``_run_script`` and ``run_or_fallback`` take them: NOSCRIPT runs (and loads) it by EVAL;
        a server refusing scripts switches to the fallback for good; other errors raise."""
        full_key = self._codec.namespaced_key(key)

        def evaluated() -> SlidingReply:
            if not isinstance(error, NO_SCRIPT_ERRORS):
                raise error
            self._detected.script_missing(self._read_and_touch.by_sha)
            frame = self._codec.frame_keyed(self._read_and_touch.by_text, key, tail)
            return sliding_reply(self._send_script(frame, None, None))

        return self._scripts.run_or_fallback(
            evaluated,
            lambda: without_scripts.read_sliding(self._client, full_key, self._expiry_ms, touch_below_ms),
        )

    def compare_and_set(
        self, key: str, expected: bytes, payload: bytes, expire_s: int | None = None
    ) -> int | bytes | str:
        found = self._detected.fresh
        if (
            found is not None
            and not found.set_ifeq
            and payload
            and self._wait is None
            and self._scripts.available
        ):
            # The script's common turn inline, as native.compare_and_set and scripted() below
            # would take it on a server without SET IFEQ: EVALSHA, one round trip, settled.
            resends = Resends()
            expiry = self._expiry_s_text if expire_s is None else b"%d" % expire_s
            script_arguments = (digest(expected).encode(), expiry, payload)
            try:
                frame = self._codec.frame_keyed(self._compare_and_set.by_sha, key, b"", script_arguments)
                reply = self._exchange(frame, resends)
            except RESPONSE_ERRORS as error:
                return self._compare_and_set_after(
                    error, key, expected, payload, expire_s, script_arguments, resends
                )
            return settled(reply, payload, resends) if resends.happened else reply  # type: ignore[no-any-return]
        full_key = self._codec.namespaced_key(key)
        expiration = self._expiration if expire_s is None else expire_s
        expiry = self._expiry_s_bulk if expire_s is None else bulk(b"%d" % expire_s)
        arguments = bulk(full_key) + bulk(digest(expected).encode()) + expiry + bulk(payload)
        resends = Resends()

        def scripted() -> int | bytes | str:
            return self._scripts.run_or_fallback(  # type: ignore[no-any-return]
                lambda: settled(
                    self._run_script(self._compare_and_set, arguments, writing=key, resends=resends),
                    payload,
                    resends,
                ),
                lambda: without_scripts.compare_and_set(
                    self._client,
                    full_key,
                    expected,
                    payload,
                    expiration,
                    waiting=self._wait is not None,
                ),
            )

        def send(commands: tuple[native.Command, ...], resends: Resends) -> list[Any]:
            return self._run_write(key, tuple(command(*parts) for parts in commands), resends)

        return native.compare_and_set(self._detected, send, full_key, expected, payload, expiration, scripted)

    def _compare_and_set_after(
        self,
        error: Exception,
        key: str,
        expected: bytes,
        payload: bytes,
        expire_s: int | None,
        arguments: tuple[bytes, ...],
        resends: Resends,
    ) -> int | bytes | str:
        """The rare turns of an inline compare-and-set whose EVALSHA failed with ``error``, as
        ``_run_script`` and ``run_or_fallback`` take them: NOSCRIPT runs (and loads) it by EVAL;
        a server refusing scripts switches to the fallback for good; other errors raise."""

        def evaluated() -> int | bytes | str:
            if not isinstance(error, NO_SCRIPT_ERRORS):
                raise error
            self._detected.script_missing(self._compare_and_set.by_sha)
            frame = self._codec.frame_keyed(self._compare_and_set.by_text, key, b"", arguments)
            return settled(self._send_script(frame, key, resends), payload, resends)  # type: ignore[no-any-return]

        expiration = self._expiration if expire_s is None else expire_s
        full_key = self._codec.namespaced_key(key)
        return self._scripts.run_or_fallback(
            evaluated,
            lambda: without_scripts.compare_and_set(self._client, full_key, expected, payload, expiration),
        )

    def create(self, key: str, payload: bytes, expire_s: int | None = None) -> bool:
        (created,) = self._run_write(key, (self._frame_create(key, payload, expire_s),))
        return created is not None

    def create_replacing(
        self, key: str, payload: bytes, old_key: str, expire_s: int | None = None
    ) -> tuple[bool, bool]:
        created, deleted = self._run_write(
            key, (self._frame_create(key, payload, expire_s), self._codec.frame_delete(old_key))
        )
        return created is not None, deleted == 1

    def _frame_create(self, key: str, payload: bytes, expire_s: int | None) -> bytes:
        full_key = self._codec.namespaced_key(key)
        if expire_s is not None:
            return command(b"SET", full_key, payload, b"NX", b"EX", expire_s)
        return self._create_head + bulk(full_key) + bulk(payload) + self._create_tail

    def _run_script(
        self,
        script: FramedScript,
        arguments: bytes,
        writing: str | None = None,
        resends: Resends | None = None,
    ) -> Any:
        """EVALSHA; on NOSCRIPT (restart, failover, SCRIPT FLUSH), one EVAL, which also loads it.

        ``writing``: the key of a data write, which then goes through ``_run_write`` (``WAIT``).
        """
        try:
            if writing is None:  # a read: no WAIT, no resends
                return self._exchange(script.by_sha + arguments, None)
            return self._send_script(script.by_sha + arguments, writing, resends)
        except NO_SCRIPT_ERRORS:
            self._detected.script_missing(script.by_sha)  # after a restart or failover: ask again
            return self._send_script(script.by_text + arguments, writing, resends)

    def _send_script(self, frame: bytes, writing: str | None, resends: Resends | None) -> Any:
        if writing is None:
            return self._exchange(frame, None)
        (reply,) = self._run_write(writing, (frame,), resends)
        return reply

    def write(self, key: str, payload: bytes) -> None:
        self._run_write(key, (self._codec.frame_set(key, payload),))

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        self._run_write(key, (self._codec.frame_set(key, payload), self._codec.frame_delete(old_key)))

    def delete(self, key: str) -> bool:
        (deleted,) = self._run_write(key, (self._codec.frame_delete(key),))
        return bool(deleted == 1)

    def _run_write(self, key: str, frames: tuple[bytes, ...], resends: Resends | None = None) -> list[Any]:
        """The replies to ``frames``, sent in one round trip with a ``WAIT`` after them when asked."""
        if self._wait is None:
            if len(frames) == 1:
                return [self._exchange(frames[0], resends)]
            return self._fast.execute_pipelined(frames, resends)
        replies = self._fast.execute_pipelined((*frames, self._wait.frame), resends)
        self._wait.check(replies.pop(), key)
        return replies

    def exists(self, key: str) -> bool:
        return bool(self._exchange(self._codec.frame_exists(key), None))

    def touch(self, key: str, expire_ms: int | None = None) -> bool:
        if expire_ms is not None:
            return bool(self._fast.execute(command(b"PEXPIRE", self._codec.namespaced_key(key), expire_ms)))
        if self._expiration is None:
            return self.exists(key)
        return bool(self._fast.execute(command(b"EXPIRE", self._codec.namespaced_key(key), self._expiration)))

    def ttl(self, key: str) -> int:
        return int(self._fast.execute(command(b"TTL", self._codec.namespaced_key(key))))

    def scan(self, pattern: bytes, batch_size: int) -> Iterator[bytes]:
        """The client's own SCAN walk: many round trips, where framing saves nothing that counts."""
        return self._on_client.scan(pattern, batch_size)

    def unlink(self, full_keys: Sequence[bytes]) -> int:
        if not full_keys:
            return 0
        frames = tuple(command(b"UNLINK", full_key) for full_key in full_keys)
        return sum(int(reply) for reply in self._run_write(shown_key(full_keys[0]), frames))

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
        self._run_write(shown_key(key), tuple(command(*frame) for frame in frames))

    def index_delete(self, key: bytes, fields: Sequence[bytes]) -> None:
        self._run_write(shown_key(key), (command(b"HDEL", key, *fields),))

    def index_drop_unchanged(self, key: bytes, entries: Sequence[tuple[str, bytes | str]]) -> None:
        arguments = [part for entry in entries for part in entry]

        def run() -> None:
            try:
                self._run_write(
                    shown_key(key), (command(b"EVALSHA", DROP_UNCHANGED.sha, 1, key, *arguments),)
                )
            except NO_SCRIPT_ERRORS:  # restart, failover, SCRIPT FLUSH: EVAL loads it
                self._detected.script_missing(DROP_UNCHANGED.sha)
                self._run_write(shown_key(key), (command(b"EVAL", DROP_UNCHANGED.text, 1, key, *arguments),))

        self._scripts.run_or_fallback(
            run,
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
