"""Real Redis Cluster and Sentinel deployments, started as plain processes for the tests.

No docker: every node is a ``redis-server`` child on a free 127.0.0.1 port, in a temp dir,
joined from Python (CLUSTER ADDSLOTSRANGE / MEET / REPLICATE; ``sentinel monitor``).
The fixtures are session-scoped and reusable by any suite:

- ``redis_cluster``: a :class:`Cluster` of 3 primaries, each with one replica in sync.
- ``cluster_client``: a fresh ``RedisCluster`` on it, flushed before and after the test.
- ``redis_sentinel``: a :class:`SentinelDeployment` of 1 primary, 1 replica, 3 sentinels.
- ``sentinel_master``: ``Sentinel(...).master_for(...)``, flushed before and after the test.

Tests that fail over leave the topology healthy (all slots served, every primary with a
replica in sync), so later tests do not depend on the order they run in.
"""

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

HOST = "127.0.0.1"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
SERVICE = "mymaster"
SLOT_RANGES = ((0, 5460), (5461, 10922), (10923, 16383))


def free_port() -> int:
    """A port nobody listens on right now (never 6379, which a developer may be using)."""
    while True:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in (6379, 26379):
            return int(port)


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (redis.RedisError, OSError) as error:
            last_error = error
        else:
            if result:
                return result
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


class Node:
    """One redis-server process; ``client`` talks to this process only."""

    def __init__(self, workdir: Path, name: str, args: list[str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir()
        self.log = self.dir / "server.log"
        self.process = subprocess.Popen(
            [
                *args,
                *("--port", str(self.port), "--bind", HOST, "--dir", str(self.dir)),
                *("--logfile", str(self.log), "--save", "", "--appendonly", "no"),
                *("--repl-diskless-sync-delay", "0"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(host=HOST, port=self.port, socket_timeout=5, decode_responses=True)

    def wait_ready(self) -> None:
        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            return bool(self.client.ping())

        wait_for(f"{self.name} on port {self.port}", answers, timeout=15)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Cluster:
    """3 primaries + 3 replicas with ``--cluster-enabled yes``, joined from Python."""

    def __init__(self, workdir: Path) -> None:
        self.nodes: list[Node] = []
        try:
            self._start(workdir)
        except BaseException:
            self.stop()
            raise

    def _start(self, workdir: Path) -> None:
        for index in range(6):
            bus_port = free_port()
            args = [REDIS_SERVER, "--cluster-enabled", "yes", "--cluster-port", str(bus_port)]
            args += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]
            node = Node(workdir, f"cluster-{index}", args)
            node.bus_port = bus_port  # type: ignore[attr-defined]
            self.nodes.append(node)
        for node in self.nodes:
            node.wait_ready()
        primaries, replicas = self.nodes[:3], self.nodes[3:]
        for node, (first, last) in zip(primaries, SLOT_RANGES, strict=True):
            node.client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        for node in self.nodes[1:]:
            self.nodes[0].client.execute_command("CLUSTER MEET", HOST, node.port, node.bus_port)  # type: ignore[attr-defined]
        for node in self.nodes:
            wait_for("every node to know all six", lambda n=node: len(self._known(n)) == 6)
        for replica, primary in zip(replicas, primaries, strict=True):
            primary_id = primary.client.execute_command("CLUSTER MYID")
            replica.client.execute_command("CLUSTER REPLICATE", primary_id)
        self.wait_healthy()

    @staticmethod
    def _known(node: Node) -> dict[str, Any]:
        nodes: dict[str, Any] = node.client.execute_command("CLUSTER NODES")  # parsed by redis-py
        return nodes

    @classmethod
    def _roles(cls, node: Node) -> tuple[tuple[str, str, str], ...]:
        """This node's view of who is primary or replica of whom; failed nodes count as unknown."""
        view = []
        for address, state in cls._known(node).items():
            flags = set(state["flags"].replace("myself,", "").split(","))
            role = "master" if flags == {"master"} else "slave" if flags == {"slave"} else "unknown"
            view.append((address.split("@")[0], role, state["master_id"]))
        return tuple(sorted(view))

    @staticmethod
    def _slots(node: Node) -> list[Any]:
        slots: list[Any] = node.client.execute_command("CLUSTER SLOTS")
        return slots

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [(HOST, node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL of one node (the client discovers the rest)."""
        return f"redis+cluster://{HOST}:{self.nodes[0].port}/0"

    def client(self, **kwargs: Any) -> RedisCluster:
        """A RedisCluster that rides out a failover: it retries and re-reads the slot map."""
        options: dict[str, Any] = {
            "socket_timeout": 5,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=10),
        }
        options.update(kwargs)
        return RedisCluster(host=HOST, port=self.nodes[0].port, **options)

    def node_at(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def primaries(self) -> list[Node]:
        return [node for node in self.nodes if node.client.info("replication")["role"] == "master"]

    def primary_for_slot(self, slot: int) -> Node:
        for first, last, *owners in self._slots(self.nodes[0]):
            if first <= slot <= last:
                return self.node_at(int(owners[0][1]))
        raise LookupError(f"slot {slot} is not served")

    def replica_of(self, primary: Node) -> Node:
        primary_id = primary.client.execute_command("CLUSTER MYID")
        for node in self.nodes:
            info = node.client.info("replication")
            if info["role"] == "slave" and info.get("master_port") == primary.port:
                return node
        raise LookupError(f"no replica of {primary.name} ({primary_id})")

    def failover(self, slot: int, wait: bool = True) -> tuple[Node, Node]:
        """``CLUSTER FAILOVER`` on the replica of ``slot``'s primary; (old, new) primaries.

        With ``wait=False`` it returns as soon as the replica accepted the request, so a
        test can hit the cluster mid-failover; call ``await_takeover`` afterwards.
        """
        old = self.primary_for_slot(slot)
        new = self.replica_of(old)
        new.client.execute_command("CLUSTER FAILOVER")
        if wait:
            self.await_takeover(slot, new)
        return old, new

    def await_takeover(self, slot: int, new: Node, timeout: float = 40.0) -> None:
        """Wait until ``new`` serves ``slot`` and the cluster is healthy again.

        A primary votes for the replicas of one shard at most once per 2 x node timeout,
        so back-to-back failovers of one shard can time out (Redis gives up after 5 s);
        the request is then repeated, as an operator would.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                wait_for(
                    f"{new.name} to take over slot {slot}", lambda: self.primary_for_slot(slot) is new, 6
                )
                break
            except TimeoutError:
                if time.monotonic() > deadline:
                    raise
                new.client.execute_command("CLUSTER FAILOVER")
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """All slots served, every node says ok and agrees who serves which, replicas in sync."""

        def healthy() -> bool:
            for node in self.nodes:
                if node.client.execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            maps = {
                tuple(sorted((first, last, owner[1]) for first, last, owner, *_ in self._slots(n)))
                for n in self.nodes
            }
            if len(maps) != 1:
                return False
            views = {self._roles(node) for node in self.nodes}
            if len(views) != 1 or sum(1 for _, role, _ in views.pop() if role == "master") != 3:
                return False
            roles = [node.client.info("replication") for node in self.nodes]
            primaries = [info for info in roles if info["role"] == "master"]
            replicas = [info for info in roles if info["role"] == "slave"]
            return (
                len(primaries) == 3
                and all(info["connected_slaves"] == 1 for info in primaries)
                and all(info["slave0"]["state"] == "online" for info in primaries)
                and all(info["master_link_status"] == "up" for info in replicas)
                and all(info["master_sync_in_progress"] == 0 for info in replicas)
            )

        wait_for("the cluster to be healthy", healthy, timeout)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelDeployment:
    """1 primary, 1 replica and 3 sentinels watching them as ``mymaster`` (quorum 2)."""

    down_after_ms = 1000

    def __init__(self, workdir: Path) -> None:
        self.data_nodes: list[Node] = []
        self.sentinels: list[Node] = []
        try:
            self._start(workdir)
        except BaseException:
            self.stop()
            raise

    def _start(self, workdir: Path) -> None:
        self.primary = Node(workdir, "primary", [REDIS_SERVER])
        self.data_nodes.append(self.primary)
        self.primary.wait_ready()
        self.replica = Node(workdir, "replica", [REDIS_SERVER, "--replicaof", HOST, str(self.primary.port)])
        self.data_nodes.append(self.replica)
        self.replica.wait_ready()
        for index in range(3):
            port = free_port()
            conf = workdir / f"sentinel-{index}.conf"
            conf.write_text(
                f"sentinel monitor {SERVICE} {HOST} {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} 10000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            node = Node(workdir, f"sentinel-{index}", [REDIS_SERVER, str(conf), "--sentinel"], port=port)
            self.sentinels.append(node)
        for node in self.sentinels:
            node.wait_ready()
        self.wait_healthy()

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [(HOST, node.port) for node in self.sentinels]

    def sentinel(self, **kwargs: Any) -> Sentinel:
        options: dict[str, Any] = {
            "socket_timeout": 2,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=20),
        }
        options.update(kwargs)
        return Sentinel(self.sentinel_addresses, sentinel_kwargs={"socket_timeout": 2}, **options)

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
        """``SENTINEL FAILOVER``; seconds until a master_for client writes to the new primary."""
        old = self.current_primary_port()
        started = time.monotonic()
        self.sentinels[0].client.execute_command("SENTINEL FAILOVER", SERVICE)
        wait_for("a new primary", lambda: self.current_primary_port() != old)
        return time.monotonic() - started

    def stop(self) -> None:
        for node in [*self.sentinels, *self.data_nodes]:
            node.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-cluster-"))
    cluster = None
    try:
        cluster = Cluster(workdir)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def cluster_client(redis_cluster: Cluster) -> Iterator[RedisCluster]:
    client = redis_cluster.client()
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[SentinelDeployment]:
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-sentinel-"))
    deployment = None
    try:
        deployment = SentinelDeployment(workdir)
        yield deployment
    finally:
        if deployment is not None:
            deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def sentinel_master(redis_sentinel: SentinelDeployment) -> Iterator[redis.Redis]:
    client = redis_sentinel.master_for(socket_timeout=5)
    client.flushall()
    yield client
    client.flushall()
    client.close()


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
            [
                *(REDIS_SERVER, "--tls-port", str(self.tls_port), "--tls-cert-file", str(self.ca_cert)),
                *("--tls-key-file", str(key), "--tls-ca-cert-file", str(self.ca_cert)),
                *("--tls-auth-clients", "no"),
            ],
        )
        try:
            self.node.wait_ready()
        except BaseException:
            self.node.stop()
            raise

    @property
    def url(self) -> str:
        return f"rediss://{HOST}:{self.tls_port}/0"


@pytest.fixture(scope="session")
def redis_tls() -> Iterator[TLSServer]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate for the TLS server")
    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-tls-"))
    server = None
    try:
        server = TLSServer(workdir)
        yield server
    finally:
        if server is not None:
            server.node.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def measure_failovers(rounds: int = 3) -> None:
    """Print failover figures for the docs: ``.venv/bin/python tests/topology.py``."""
    from hug_store_redis import RedisStore

    workdir = Path(tempfile.mkdtemp(prefix="hug-store-redis-measure-"))
    (workdir / "c").mkdir()
    (workdir / "s").mkdir()
    cluster = Cluster(workdir / "c")
    try:
        store = RedisStore(cluster.client(), namespace="sessions")
        for round_ in range(rounds):
            store.set("alice", {"round": round_})
            slot = cluster.client().keyslot(store.namespaced_key("alice"))
            started = time.monotonic()
            _, new = cluster.failover(slot, wait=False)
            assert store.get("alice") == {"round": round_}
            store.set("alice", {"round": round_, "after": True})
            first_ops = time.monotonic() - started
            cluster.await_takeover(slot, new)
            print(f"cluster  round {round_}: get+set done {first_ops:.2f}s after CLUSTER FAILOVER")
            time.sleep(4.5)  # 2 x node timeout: the primaries' vote for this shard is free again
    finally:
        cluster.stop()
    deployment = SentinelDeployment(workdir / "s")
    try:
        client = deployment.master_for(retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=20))
        store = RedisStore(client, namespace="sessions")
        for round_ in range(rounds):
            store.set("alice", round_)  # the client holds a connection to the old primary
            old = deployment.current_primary_port()
            new = next(n for n in deployment.data_nodes if n.port != old)
            started = time.monotonic()
            promoted = deployment.failover()
            attempts = iter(range(1_000_000))

            def landed(new: Node = new, attempts: Iterator[int] = attempts) -> bool:
                attempt = next(attempts)
                store.set("bob", attempt)
                return bool(new.client.get("sessions:bob") == str(attempt))

            wait_for("writes on the new primary", landed)
            resumed = time.monotonic() - started
            print(f"sentinel round {round_}: promoted {promoted:.2f}s, writes on new primary {resumed:.2f}s")
            deployment.wait_healthy()
    finally:
        deployment.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    measure_failovers()
