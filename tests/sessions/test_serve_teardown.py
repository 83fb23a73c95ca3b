"""The ``serve`` fixture's teardown (``support.wsgi_server.Served.stop``) is clean.

Closing waitress's sockets from the test's thread while its loop thread sat in ``select()``
on them raised ``OSError: [Errno 9] Bad file descriptor`` in that thread (a pytest warning
about an unhandled thread exception), and a worker finishing a request could pull the
already-closed trigger (waitress logging "Exception when servicing"). Many start/stop cycles,
with no request, a finished one, and a keep-alive connection still open at the stop: nothing
raised in any thread, nothing logged, no thread left behind.
"""

import logging
import threading

import hug
import pytest
import requests
from support.wsgi_server import Served

pytestmark = pytest.mark.one_twin

CYCLES = 300


@pytest.fixture(scope="module")
def api():
    api = hug.API(f"{__name__}.teardown")

    @hug.get("/hello", api=api)
    def hello():
        return "hello"

    return api


def test_many_starts_and_stops_leave_nothing_behind(api, monkeypatch, caplog):
    raised = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    before = set(threading.enumerate())
    with caplog.at_level(logging.DEBUG, logger="waitress"):
        for cycle in range(CYCLES):
            served = Served(api, threads=2)
            if cycle % 3 == 0:
                served.stop()
                continue
            browser = requests.Session()
            assert browser.get(served.base + "/hello", timeout=10).json() == "hello"
            if cycle % 3 == 1:
                browser.close()
                served.stop()
            else:  # the connection still open when the server stops
                served.stop()
                browser.close()
    assert raised == []
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    assert set(threading.enumerate()) - before == set()
