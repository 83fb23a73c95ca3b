"""Every command a server ran while a block ran, as MONITOR prints it: to show what a dump of
the traffic would reveal (``key_secrets``: no session id in any line)."""

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

STOP = "STOP-MONITOR"


@contextlib.contextmanager
def monitored(client: Any) -> Iterator[list[str]]:
    """The lines MONITOR printed from before the block's first command to after its last."""
    lines: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        with client.monitor() as monitor:
            ready.set()
            for command in monitor.listen():
                if STOP in command["command"]:
                    return
                lines.append(command["command"])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10)
    try:
        yield lines
    finally:
        client.echo(STOP)
        watcher.join(10)
        assert not watcher.is_alive()
