"""``hug-store-redis demo`` as a subprocess on a free port, for the demo's HTTP and browser tests."""

import os
import queue
import re
import signal
import subprocess
import sys
import threading

import pytest

STARTUP_DEADLINE = 30.0


class Demo:
    """The demo process; its stdout and stderr are read in threads, so waits have a deadline."""

    def __init__(self, *arguments, cwd, env_url=None, ignore_sigint=False):
        env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
        if env_url is not None:
            env["REDIS_URL"] = env_url
        # Run from an empty directory so the installed package is imported, not the source tree.
        # ignore_sigint: what a non-interactive shell does to the jobs it starts with `&`.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hug_store_redis", "demo", *arguments],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None,
        )
        self.lines = queue.Queue()
        self.errors = []
        threading.Thread(target=self._read, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_errors, daemon=True)
        self._stderr_reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def _read_errors(self):
        for line in self.process.stderr:
            self.errors.append(line.rstrip("\n"))

    def line(self):
        line = self.lines.get(timeout=STARTUP_DEADLINE)
        if line is None:
            self.process.wait(10)
            self._stderr_reader.join(10)
        assert line is not None, f"demo exited: {self.process.returncode} {self.errors}"
        return line

    def started(self):
        """(base URL, Redis line): the first lines printed once it is listening."""
        address = re.fullmatch(r"hug_store_redis demo: open (http://127\.0\.0\.1:\d+/)", self.line())
        assert address, "the demo must print the address to open"
        return address.group(1), self.line()

    def stop(self, signum=signal.SIGINT):
        """Send the signal and return the exit status; stderr is complete afterwards."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._stderr_reader.join(10)


@pytest.fixture
def start_demo(tmp_path):
    demos = []

    def start(*arguments, env_url=None, ignore_sigint=False):
        demo = Demo(*arguments, cwd=tmp_path, env_url=env_url, ignore_sigint=ignore_sigint)
        demos.append(demo)
        return demo

    yield start
    for demo in demos:
        demo.stop(signal.SIGTERM)
