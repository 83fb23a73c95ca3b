"""The transport over the client's own methods: RedisCluster, Sentinel masters, look-alikes,
and any store built with ``fast_path=False``."""

from typing import Any

from .client_errors import RESPONSE_ERRORS
from .transport import RedisClient, is_unknown_command


class ClientTransport:
    """Each operation is one redis-py call (or one pipeline without MULTI) on ``client``.

    The client keeps its own routing, retries and response callbacks; this class only
    namespaces keys and normalises replies to what ``Transport`` promises.
    """

    __slots__ = ("_client", "_codec", "_expiration", "_getex_supported")

    def __init__(self, client: RedisClient, codec: Any, expiration: int | None) -> None:
        self._client = client
        self._codec = codec
        self._expiration = expiration
        self._getex_supported = True

    def read(self, key: str) -> bytes | str | None:
        return self._client.get(self._codec.namespaced_key(key))

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

    def write(self, key: str, payload: bytes) -> None:
        self._client.set(self._codec.namespaced_key(key), payload, ex=self._expiration)

    def replace(self, key: str, payload: bytes, old_key: str) -> None:
        pipeline = self._client.pipeline(transaction=False)
        pipeline.set(self._codec.namespaced_key(key), payload, ex=self._expiration)
        pipeline.delete(self._codec.namespaced_key(old_key))
        pipeline.execute()

    def delete(self, key: str) -> bool:
        return bool(self._client.delete(self._codec.namespaced_key(key)) == 1)

    def exists(self, key: str) -> bool:
        return bool(self._client.exists(self._codec.namespaced_key(key)))
