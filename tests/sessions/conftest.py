"""A real threaded HTTP server for the middleware tests."""

import threading

import pytest
import waitress.server
from support.server_kinds import scripting_denied

from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH


@pytest.fixture
def serve():
    """Serve a hug API with waitress on a free loopback port; yields a function returning the base URL."""
    servers = []

    def start(api, threads=2):
        server = waitress.server.create_server(api.http.server(), host="127.0.0.1", port=0, threads=threads)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.effective_port}"

    yield start
    for server, thread in servers:
        server.close()
        thread.join(timeout=10)
        assert not thread.is_alive()


@pytest.fixture(autouse=True)
def scripts_loaded(request):
    """The store's scripts already on the server, so command counts never include a first NOSCRIPT."""
    if "redis_client" in request.fixturenames and not scripting_denied():
        client = request.getfixturevalue("redis_client")
        for script in (READ_AND_TOUCH, COMPARE_AND_SET):
            client.script_load(script.text)
