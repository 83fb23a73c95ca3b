"""The ``serve`` fixture's teardown (``support.wsgi_server.Served.stop``) is clean.

Closing waitress's sockets from the test's thread while its loop thread sat in ``select()``
on them raised ``OSError: [Errno 9] Bad file descriptor`` in that thread (a pytest warning
about an unhandled thread exception), and a worker finishing a request could pull the
already-closed trigger (waitress logging "Exception when servicing"). Many start/stop cycles,
with no request, a finished one, and a keep-alive connection still open at the stop: nothing
raised in any thread, nothing logged, no thread left behind.
"""

import contextlib
import logging
import os
import threading
import time

import hug
import pytest
import requests
import waitress.trigger
from support import wsgi_server
from support.wsgi_server import Served, stop_all
from waitress.task import ThreadedTaskDispatcher

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


def test_a_worker_still_held_at_the_stop_fails_it_and_still_closes_the_server(api, monkeypatch):
    """A gated test that fails before releasing its gate leaves a worker in its handler: the
    stop reports it, and still closes the sockets and ends the loop. The fixture's teardown
    (``stop_all``) stops every server, then raises the first error."""
    monkeypatch.setattr(wsgi_server, "WORKERS_S", 0.5)  # how long the stop waits for the worker
    gate, entered = threading.Event(), threading.Event()
    held_api = hug.API(f"{__name__}.held")

    @hug.get("/held", api=held_api)
    def held():
        entered.set()
        gate.wait(60)
        return "released"

    stuck, idle = Served(held_api, threads=1), Served(api, threads=1)

    def ask():
        with contextlib.suppress(requests.RequestException):  # its connection closed by the stop
            requests.get(stuck.base + "/held", timeout=60)

    request = threading.Thread(target=ask)
    request.start()
    try:
        assert entered.wait(10)
        with pytest.raises(AssertionError, match="did not end"):
            stop_all([stuck, idle])
        assert not stuck.thread.is_alive() and not idle.thread.is_alive()
        for served in (stuck, idle):
            with pytest.raises(requests.ConnectionError):
                requests.get(served.base + "/hello", timeout=10)
    finally:
        gate.set()
        request.join(10)


def test_the_stop_returns_once_the_workers_have_exited(api, monkeypatch):
    """waitress's shutdown waits for its set of worker numbers to empty, which each worker
    leaves just before it returns: a worker slow to exit after that (widened here, without
    which it is a rare race) must still be gone when ``stop`` returns."""
    leave = ThreadedTaskDispatcher.handler_thread

    def slow_to_exit(self, thread_no):
        leave(self, thread_no)
        time.sleep(0.3)  # out of the set, not yet exited: the window the stop must cover

    monkeypatch.setattr(ThreadedTaskDispatcher, "handler_thread", slow_to_exit)
    before = set(threading.enumerate())
    served = Served(api, threads=2)
    assert requests.get(served.base + "/hello", timeout=10).json() == "hello"
    served.stop()
    assert set(threading.enumerate()) - before == set()


def test_the_stop_survives_a_loop_woken_while_it_pulls(api, monkeypatch):
    """The stop queues its closing and then writes to the trigger; a loop woken in between (a
    worker's own pull, widened here) ran the closing first, and the write then raised
    ``OSError: [Errno 9] Bad file descriptor`` (1 stop in a few hundred with a keep-alive
    connection open)."""
    pull = waitress.trigger.trigger._physical_pull

    def woken_meanwhile(self):
        os.write(self.trigger, b"x")  # another thread's pull, just before this one's write
        time.sleep(0.2)  # the loop wakes and runs the queued thunks unless something holds them
        pull(self)

    served = Served(api, threads=1)
    monkeypatch.setattr(waitress.trigger.trigger, "_physical_pull", woken_meanwhile)
    served.stop()
    assert not served.thread.is_alive()
