"""The demo's cost panel: which Redis commands a browser's previous request cost."""

import threading
from typing import Any

import redis

from ..sessions import RedisSessionMiddleware


class RequestCosts:
    """Which Redis commands each browser's previous request cost, from INFO commandstats.

    Counted by the server around the request (its own INFO calls left out), so requests
    running at the same moment add up; the demo says so. Not on a Cluster (many servers).
    """

    _REMEMBERED = 1000

    def __init__(self, client: Any, sessions: RedisSessionMiddleware) -> None:
        self._client = client
        self._sessions = sessions
        self._enabled = not hasattr(client, "get_primaries")
        self._last: dict[str, tuple[str, dict[str, int]]] = {}
        self._lock = threading.Lock()

    def last(self, session_id: str) -> tuple[str, dict[str, int]] | None:
        with self._lock:
            return self._last.get(session_id)

    def _calls(self) -> dict[str, int] | None:
        """None when Redis does not answer: the request itself then says so (a 503 page)."""
        try:
            stats = self._client.info("commandstats")
        except redis.RedisError:
            return None
        return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}

    def process_request(self, request: Any, response: Any) -> None:
        if self._enabled and request.path != "/favicon.ico":
            request.context["demo.commands_before"] = self._calls()

    def process_response(self, request: Any, response: Any, resource: Any, req_succeeded: bool) -> None:
        before = request.context.get("demo.commands_before")
        if before is None:
            return
        try:
            session_id = self._sessions._current_id(request)
        except RuntimeError:  # the session middleware never loaded this request (Redis down)
            return
        if session_id is None:
            return
        after = self._calls()
        if after is None:
            return
        spent = {
            name: calls - before.get(name, 0)
            for name, calls in sorted(after.items())
            if name != "info" and calls > before.get(name, 0)
        }
        with self._lock:
            self._last.pop(session_id, None)
            self._last[session_id] = (f"{request.method} {request.path}", spent)
            if len(self._last) > self._REMEMBERED:
                del self._last[next(iter(self._last))]
