"""Transport wrappers that force another request's step into the middle of a key move."""


class LogoutBeforeCreate:
    """The store's transport, with a logout (every copy deleted) landing after the move read
    the old key and before its SET NX of the new one."""

    def __init__(self, transport, client, keys):
        self._transport, self._client, self._keys = transport, client, keys

    def create(self, key, payload, expire_s=None):
        self._client.delete(*self._keys)
        return self._transport.create(key, payload, expire_s)

    def __getattr__(self, name):
        return getattr(self._transport, name)
