"""A real threaded HTTP server for the middleware tests."""

import pytest
from support.server_kinds import scripting_denied
from support.wsgi_server import Served, stop_all

from hug_store_redis.transport import COMPARE_AND_SET, READ_AND_TOUCH


@pytest.fixture
def serve():
    """Serve a hug API with waitress on a free loopback port; yields a function returning the base URL."""
    served = []

    def start(api, threads=2):
        served.append(Served(api, threads))
        return served[-1].base

    yield start
    stop_all(served)  # every server stopped, even after one fails to


@pytest.fixture(autouse=True)
def scripts_loaded(request):
    """The store's scripts already on the server, so command counts never include a first NOSCRIPT."""
    if "redis_client" in request.fixturenames and not scripting_denied():
        client = request.getfixturevalue("redis_client")
        for script in (READ_AND_TOUCH, COMPARE_AND_SET):
            client.script_load(script.text)
