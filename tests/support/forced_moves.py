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


class Moves:
    """Other servers' moves of one session, run one at a time in order, each right after a look
    of this store's that found no key (wherever that look was made)."""

    def __init__(self, *moves):
        self._moves = list(moves)

    def after(self, missed):
        if missed and self._moves:
            self._moves.pop(0)()

    @property
    def left(self):
        return len(self._moves)


class MovesBetweenPipelinedCommands:
    """A client whose pipelines send their commands one at a time, running the next of
    ``moves`` after each EXISTS that found no key: a move landing between two commands of one
    pipeline, as the server may run other clients' commands between them (a pipeline read in
    several parts, one split across Cluster nodes)."""

    def __init__(self, client, moves):
        self._client, self._moves = client, moves

    def pipeline(self, transaction=True):
        return _SteppedPipeline(self._client, self._moves)

    def __getattr__(self, name):
        return getattr(self._client, name)


class _SteppedPipeline:
    def __init__(self, client, moves):
        self._client, self._moves, self._queued = client, moves, []

    def execute(self):
        replies = []
        for name, args, kwargs in self._queued:
            replies.append(getattr(self._client, name)(*args, **kwargs))
            if name == "exists":
                self._moves.after(replies[-1] == 0)
        self._queued = []
        return replies

    def __getattr__(self, name):
        def queue(*args, **kwargs):
            self._queued.append((name, args, kwargs))
            return self

        return queue


class MovesAfterMissedExists:
    """The store's transport, running the next of ``moves`` right after each EXISTS of its that
    found no key."""

    def __init__(self, transport, moves):
        self._transport, self._moves = transport, moves

    def exists(self, key):
        found = self._transport.exists(key)
        self._moves.after(not found)
        return found

    def __getattr__(self, name):
        return getattr(self._transport, name)
