"""The transport over ``fast_path.FastPath``: commands framed by the codec, replies as parsed."""

from typing import Any

from .client_errors import RESPONSE_ERRORS
from .client_transport import ClientTransport
from .fast_path import FastPath
from .transport import RedisClient, is_unknown_command


class FastTransport:
    """Each operation is one pre-framed command (or one pipelined pair) on a borrowed connection.

    Only chosen for clients ``fast_path_for`` accepts, whose replies to these commands
    need no response callback: the parser's value is already what redis-py returns.
    """

    __slots__ = ("_codec", "_expiration", "_fast", "_getex_supported", "_on_client")

    def __init__(self, fast: FastPath, client: RedisClient, codec: Any, expiration: int | None) -> None:
        self._fast = fast
        self._codec = codec
        self._expiration = expiration
        self._getex_supported = True
        self._on_client = ClientTransport(client, codec, expiration)  # the Redis < 6.2 fallback

    def read(self, key: str) -> bytes | str | None:
        return self._fast.execute(self._codec.frame_get(key))  # type: ignore[no-any-return]

    def read_and_touch(self, key: str) -> bytes | str | None:
        if self._expiration is None:
            return self.read(key)
        if self._getex_supported:
            try:
                return self._fast.execute(self._codec.frame_getex(key))  # type: ignore[no-any-return]
            except RESPONSE_ERRORS as error:
                if not is_unknown_command(error):
                    raise
                self._getex_supported = False
        return self._on_client.get_then_expire(self._codec.namespaced_key(key))

    def write(self, key: str, payload: bytes) -> None:
        self._fast.execute(self._codec.frame_set(key, payload))

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        self._fast.execute_pipelined((self._codec.frame_set(key, payload), self._codec.frame_delete(old_key)))

    def delete(self, key: str) -> bool:
        return bool(self._fast.execute(self._codec.frame_delete(key)) == 1)

    def exists(self, key: str) -> bool:
        return bool(self._fast.execute(self._codec.frame_exists(key)))
