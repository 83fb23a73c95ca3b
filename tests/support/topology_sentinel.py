"""Sentinel (1 primary, 1 replica, 3 sentinels) and a TLS server, as loopback processes."""

import subprocess
import time
from pathlib import Path
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from support.servers import HOST, Node, free_port, wait_for

SERVICE = "mymaster"


def sentinel_for(addresses: list[tuple[str, int]], **kwargs: Any) -> Sentinel:
    """A ``Sentinel`` on ``addresses`` whose clients retry through a failover (any process may build one)."""
    options: dict[str, Any] = {
        "socket_timeout": 2,
        "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=20),
    }
    options.update(kwargs)
    return Sentinel(addresses, sentinel_kwargs={"socket_timeout": 2}, **options)


class SentinelDeployment:
    """1 primary, 1 replica and 3 sentinels watching them as ``mymaster`` (quorum 2)."""

    down_after_ms = 1000
    #: The data nodes' servers (None: the run's): a replica of another version than its primary
    #: is how a rolling upgrade fails over.
    primary_executable: str | None = None
    replica_executable: str | None = None

    def __init__(self, workdir: Path) -> None:
        self.data_nodes: list[Node] = []
        self.sentinels: list[Node] = []
        try:
            self._start(workdir)
        except BaseException:
            self.stop()
            raise

    def _start(self, workdir: Path) -> None:
        self.primary = Node(workdir, "primary", executable=self.primary_executable)
        self.data_nodes.append(self.primary)
        self.replica = Node(
            workdir,
            "replica",
            "--replicaof",
            HOST,
            str(self.primary.port),
            executable=self.replica_executable,
        )
        self.data_nodes.append(self.replica)
        for index in range(3):
            conf = workdir / f"sentinel-{index}.conf"
            conf.write_text(
                f"sentinel monitor {SERVICE} {HOST} {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            self.sentinels.append(Node(workdir, f"sentinel-{index}", "--sentinel", config_file=conf))
        self.wait_healthy()

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(HOST, node.port) for node in self.sentinels]

    def sentinel(self, **kwargs: Any) -> Sentinel:
        return sentinel_for(self.sentinel_addresses, **kwargs)

    def master_for(self, **kwargs: Any) -> redis.Redis:
        return self.sentinel(**kwargs).master_for(SERVICE)

    def current_primary_port(self) -> int:
        _, port = self.sentinels[0].client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def wait_healthy(self, timeout: float = 40.0) -> None:
        """Every sentinel agrees on the primary, sees the replica and the two other sentinels."""

        def healthy() -> bool:
            ports = {self.current_primary_port()}
            for node in self.sentinels:
                _, port = node.client.execute_command("SENTINEL GET-MASTER-ADDR-BY-NAME", SERVICE)
                ports.add(int(port))
                master = node.client.sentinel_master(SERVICE)
                if master["flags"] != "master" or master["num-other-sentinels"] != 2:
                    return False
                replicas = node.client.sentinel_slaves(SERVICE)
                if [replica["flags"] for replica in replicas] != ["slave"]:
                    return False
            if len(ports) != 1:
                return False
            (port,) = ports
            primary = next(n for n in self.data_nodes if n.port == port)
            info = primary.client.info("replication")
            return bool(
                info["role"] == "master"
                and info["connected_slaves"] == 1
                and info["slave0"]["state"] == "online"
            )

        wait_for("the sentinels to agree on a healthy primary", healthy, timeout)

    def failover(self) -> float:
        """``SENTINEL FAILOVER``; seconds until the sentinels name a new primary.

        A forced failover that Sentinel aborts (no replica it finds suitable at that instant:
        ``-failover-abort-no-good-slave``) is not tried again by Sentinel itself, which left a
        run waiting 30 s for a primary that never came: the command is sent again until one is
        named (``INPROG`` while one is under way)."""
        old = self.current_primary_port()
        started = time.monotonic()
        for attempt in range(4):
            try:
                self.sentinels[0].client.execute_command("SENTINEL FAILOVER", SERVICE)
            except redis.ResponseError as error:
                if attempt == 0 or "INPROG" not in str(error):
                    raise
            try:
                wait_for("a new primary", lambda: self.current_primary_port() != old, timeout=15)
                break
            except TimeoutError:
                if attempt == 3:
                    raise
        return time.monotonic() - started

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data_nodes]:
            node.stop()


class TLSServer:
    """A redis-server that speaks TLS on ``tls_port``, with a throwaway self-signed certificate."""

    def __init__(self, workdir: Path) -> None:
        self.ca_cert = workdir / "cert.pem"
        key = workdir / "key.pem"
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-keyout", str(key), "-out", str(self.ca_cert), "-subj", f"/CN={HOST}"),
                *("-addext", f"subjectAltName=IP:{HOST}"),
            ],
            check=True,
            capture_output=True,
        )
        self.tls_port = free_port()
        self.node = Node(
            workdir,
            "tls",
            *("--tls-port", str(self.tls_port), "--tls-cert-file", str(self.ca_cert)),
            *("--tls-key-file", str(key), "--tls-ca-cert-file", str(self.ca_cert)),
            *("--tls-auth-clients", "no"),
        )

    @property
    def url(self) -> str:
        return f"rediss://{HOST}:{self.tls_port}/0"
