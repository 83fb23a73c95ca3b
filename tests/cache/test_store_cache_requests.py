"""Read-only hug requests on a cached session send nothing to Redis."""

import json
import uuid

import falcon.testing
import hug
from support.commands import Commands
from support.store_cache import sent_by_the_store, wait_cached

from hug_store_redis import RedisSessionMiddleware, RedisStore
from hug_store_redis.sessions import new_session_id


def read_only_app(store: RedisStore):
    api = hug.API(f"cached_requests_{uuid.uuid4().hex}")
    api.http.add_middleware(RedisSessionMiddleware(store, cookie_secure=False))

    @hug.get("/read", api=api)
    def read(request):
        return {"counter": request.context["session"].get("counter", 0)}

    return api.http.server()


def test_a_thousand_read_only_requests_send_no_command(redis_client):
    store = RedisStore(redis_client, f"cached-{uuid.uuid4().hex[:8]}", local_cache=True)
    try:
        sid = new_session_id()
        store.set(sid, {"counter": 7})
        wait_cached(store, sid)
        app = read_only_app(store)
        environ = falcon.testing.create_environ(path="/read", headers={"Cookie": f"sid={sid}"})
        statuses = []
        commands = Commands(redis_client)
        for _ in range(1000):
            body = b"".join(app(dict(environ), lambda status, headers: statuses.append(status)))
            assert json.loads(body) == {"counter": 7}
        assert sent_by_the_store(commands) == {}
        assert set(statuses) == {"200 OK"}
        assert store.stats()["cache_hits"] >= 1000
    finally:
        store.close()
