"""A read-only session middleware: the read half of ``RedisSessionMiddleware`` with lazy expiry.

It reads the session named by the ``sid`` cookie through ``store.read_payload_sliding``
(the read the session middleware makes with ``touch_after``) and decodes it into
``request.context["session"]``; it never writes. The local-cache request test and benchmark
use it to measure a read-only request whose session read is a cache hit.
"""

import re
from typing import Any

from hug_store_redis import RedisStore

_SID = re.compile(r"sid=([^;]+)")


class SlidingSessionReader:
    def __init__(self, store: RedisStore, touch_after: float = 60.0) -> None:
        self.store = store
        self.touch_after = touch_after

    def process_request(self, request: Any, response: Any) -> None:
        cookie = request.get_header("Cookie")  # as the session middleware does: no full cookie parse
        found = _SID.match(cookie) if cookie else None
        session = {}
        if found:
            sid = found.group(1)
            payload = self.store.read_payload_sliding(sid, self.touch_after).payload
            if payload is not None:
                session = self.store.decode(payload, sid)
        request.context["session"] = session

    def process_response(self, request: Any, response: Any, resource: Any, req_succeeded: bool) -> None:
        pass
