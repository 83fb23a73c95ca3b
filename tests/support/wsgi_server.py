"""A real threaded HTTP server (waitress) serving a hug API on a free loopback port.

Stopping it is done in waitress's own order, without racing its loop: closing its sockets
from the test's thread while the loop thread sat in ``select()`` on them raised
``OSError: [Errno 9] Bad file descriptor`` there, a worker finishing a request could write
to the already-closed trigger (logged as "Exception when servicing"), a keep-alive connection
left open kept the loop running, and the worker threads were never ended.
"""

import threading

import waitress.server
from waitress import wasyncore
from waitress.task import ThreadedTaskDispatcher

STOP_S = 10.0
#: How long a stop waits for the workers to finish their requests (a test may shorten it).
WORKERS_S = STOP_S


class _Workers(ThreadedTaskDispatcher):
    """waitress's dispatcher, keeping its worker threads so that a stop can join them: its own
    shutdown waits only for its set of worker numbers to empty, which each worker leaves just
    before it returns."""

    def __init__(self):
        super().__init__()
        self.started = []

    def start_new_thread(self, target, thread_no):
        thread = threading.Thread(target=target, name=f"waitress-{thread_no}", args=(thread_no,), daemon=True)
        thread.start()
        self.started.append(thread)


class Served:
    """``api`` served by waitress in a thread of its own; ``base`` is its URL."""

    def __init__(self, api, threads=2):
        workers = _Workers()
        workers.set_thread_count(threads)
        self.server = waitress.server.create_server(
            api.http.server(), host="127.0.0.1", port=0, threads=threads, _dispatcher=workers
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="waitress-loop")
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.server.effective_port}"

    def stop(self):
        """End the workers first (each finishes its request, and may still wake the loop), then
        close every socket from inside the loop, between two polls (the trigger runs the
        closing there): the map empties, the loop returns, nothing is closed under it.

        A worker still in its handler (a gated test failed before releasing its gate) is
        reported, after the sockets are closed and the loop ended all the same: otherwise the
        loop thread, the listening socket and the connections would live on."""
        server = self.server
        try:
            server.task_dispatcher.shutdown(timeout=WORKERS_S)
            assert not server.task_dispatcher.threads, "a waitress worker did not end"
            for worker in server.task_dispatcher.started:  # out of the set is not yet exited
                worker.join(timeout=STOP_S)
                assert not worker.is_alive(), "a waitress worker did not exit"
        finally:
            _pull_closing(server.trigger, lambda: wasyncore.close_all(server._map))
            self.thread.join(timeout=STOP_S)
        assert not self.thread.is_alive(), "waitress's loop did not end"


def _pull_closing(trigger, thunk):
    """``trigger.pull_trigger(thunk)`` for a ``thunk`` that closes the trigger itself.

    ``pull_trigger`` queues the thunk, then writes to the trigger's pipe: a loop already woken
    (by a worker's own pull) could run the thunk between the two, closing the pipe before the
    write, which then raised ``OSError: [Errno 9] Bad file descriptor`` (or could have written
    to whatever reused the descriptor). The loop runs thunks under ``trigger.lock``: held over
    both steps, the write comes first.
    """
    with trigger.lock:
        trigger.thunks.append(thunk)
        trigger._physical_pull()


def stop_all(servers):
    """Stop every server, then raise the first error: one server's failure leaves none running."""
    errors = []
    for server in servers:
        try:
            server.stop()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]
