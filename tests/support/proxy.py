"""A TCP relay on 127.0.0.1 that can move its clients to another server without dropping them.

What a proxy or load balancer in front of Redis may do after a restart or a failover: the
client's connection stays up, but the server behind it (and its per-connection state, such
as CLIENT TRACKING) is new.
"""

import contextlib
import socket
import threading

from support.servers import HOST


class _Link:
    def __init__(self, client: socket.socket, backend: socket.socket) -> None:
        self.client = client
        self.backend = backend


class SwitchingProxy:
    def __init__(self, backend_port: int) -> None:
        self.backend_port = backend_port
        self._listener = socket.create_server((HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._links: list[_Link] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def switch(self, backend_port: int) -> None:
        """Send every client's next bytes to ``backend_port``; the clients stay connected."""
        with self._lock:
            self.backend_port = backend_port
            for link in self._links:
                old, link.backend = link.backend, socket.create_connection((HOST, backend_port))
                self._pump(link.backend, link, to_client=True)
                old.close()

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for link in self._links:
                link.client.close()
                link.backend.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                link = _Link(client, socket.create_connection((HOST, self.backend_port)))
                self._links.append(link)
                self._pump(client, link, to_client=False)
                self._pump(link.backend, link, to_client=True)

    def _pump(self, source: socket.socket, link: _Link, to_client: bool) -> None:
        def relay() -> None:
            with contextlib.suppress(OSError):
                while data := source.recv(65536):
                    (link.client if to_client else link.backend).sendall(data)
            if source is link.client or source is link.backend:  # not a backend switched away
                link.client.close()
                link.backend.close()

        threading.Thread(target=relay, daemon=True).start()
