"""The transport over ``fast_path.FastPath``: commands framed by the codec, replies as parsed."""

from typing import Any

from redis.exceptions import ResponseError

from .client_transport import ClientTransport
from .fast_path import FastPath
from .replica_wait import ReplicaWait
from .transport import RedisClient, is_unknown_command


class FastTransport:
    """Each operation is one pre-framed command (or one pipelined pair) on a borrowed connection.

    Only chosen for clients ``fast_path_for`` accepts, whose replies to these commands
    need no response callback: the parser's value is already what redis-py returns.
    """

    __slots__ = ("_codec", "_expiration", "_fast", "_getex_supported", "_on_client", "_wait")

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
        self._codec = codec
        self._expiration = expiration
        self._getex_supported = True
        self._wait = wait
        self._on_client = ClientTransport(client, codec, expiration)  # the Redis < 6.2 fallback

    def read(self, key: str) -> bytes | str | None:
        return self._fast.execute(self._codec.frame_get(key))  # type: ignore[no-any-return]

    def read_and_touch(self, key: str) -> bytes | str | None:
        if self._expiration is None:
            return self.read(key)
        if self._getex_supported:
            try:
                return self._fast.execute(self._codec.frame_getex(key))  # type: ignore[no-any-return]
            except ResponseError as error:
                if not is_unknown_command(error):
                    raise
                self._getex_supported = False
        return self._on_client.get_then_expire(self._codec.namespaced_key(key))

    def write(self, key: str, payload: bytes) -> None:
        self._run_write(key, (self._codec.frame_set(key, payload),))

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        self._run_write(key, (self._codec.frame_set(key, payload), self._codec.frame_delete(old_key)))

    def delete(self, key: str) -> bool:
        (deleted,) = self._run_write(key, (self._codec.frame_delete(key),))
        return bool(deleted == 1)

    def _run_write(self, key: str, frames: tuple[bytes, ...]) -> list[Any]:
        """The replies to ``frames``, sent in one round trip with a ``WAIT`` after them when asked."""
        if self._wait is None:
            if len(frames) == 1:
                return [self._fast.execute(frames[0])]
            return self._fast.execute_pipelined(frames)
        replies = self._fast.execute_pipelined((*frames, self._wait.frame))
        self._wait.check(replies.pop(), key)
        return replies

    def exists(self, key: str) -> bool:
        return bool(self._fast.execute(self._codec.frame_exists(key)))
