"""Real Redis Cluster and Sentinel deployments, started as plain processes for the tests.

No docker: every node is a ``redis-server`` child on a free 127.0.0.1 port, in a temp dir,
joined from Python (CLUSTER ADDSLOTSRANGE / MEET / REPLICATE; ``sentinel monitor``).
The fixtures are session-scoped and reusable by any suite:

- ``redis_cluster``: a :class:`Cluster` of 3 primaries, each with one replica in sync.
- ``cluster_client``: a fresh ``RedisCluster`` on it, flushed before and after the test.
- ``redis_sentinel``: a :class:`SentinelDeployment` of 1 primary, 1 replica, 3 sentinels.
- ``sentinel_master``: ``Sentinel(...).master_for(...)``, flushed before and after the test.
- ``redis_tls``: a redis-server with TLS on ``tls_port`` and a throwaway certificate.

Tests that fail over leave the topology healthy (all slots served, every primary with a
replica in sync), so later tests do not depend on the order they run in.
"""

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from support.server_kinds import selected_server
from support.servers import wait_for
from support.topology_cluster import Cluster
from support.topology_sentinel import SentinelDeployment, TLSServer

__all__ = ["Cluster", "SentinelDeployment", "TLSServer", "wait_for"]


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
    """A fresh client on a healthy, empty cluster.

    The flush after the test goes through a new client too: a test that failed over leaves
    its client's map of primaries stale, and a flush sent to a demoted node is refused.
    """
    redis_cluster.wait_healthy()
    client = redis_cluster.client()
    client.flushall()
    yield client
    client.close()
    redis_cluster.wait_healthy()
    with contextlib.closing(redis_cluster.client()) as cleaner:
        cleaner.flushall()


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
    """A fresh ``master_for`` client on a healthy, empty deployment (flushed as the cluster's is)."""
    redis_sentinel.wait_healthy()
    client = redis_sentinel.master_for(socket_timeout=5)
    client.flushall()
    yield client
    client.close()
    redis_sentinel.wait_healthy()
    with contextlib.closing(redis_sentinel.master_for(socket_timeout=5)) as cleaner:
        cleaner.flushall()


@pytest.fixture(scope="session")
def redis_tls() -> Iterator[TLSServer]:
    if not selected_server().tls:
        pytest.skip(f"this run's {selected_server().name}-server is built without TLS")
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
