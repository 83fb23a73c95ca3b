"""instrument(): the same series as OpenTelemetry observable instruments, read by the SDK's reader."""

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from hug_store_redis import RedisStore
from hug_store_redis.metrics import instrument


def collected(reader):
    """``{(name, namespace, le): value}`` of one collection."""
    points = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attributes = dict(point.attributes)
                    points[(metric.name, attributes["namespace"], attributes.get("le"))] = point.value
    return points


def test_the_series_follow_the_store(store):
    reader = InMemoryMetricReader()
    instrument(store, MeterProvider(metric_readers=[reader]))
    store.set("a", {"x": 1})  # 8 bytes
    store.get("a")
    store.read_payload("missing")
    points = collected(reader)
    ns = store.namespace
    assert points[("hug_store_redis_writes", ns, None)] == 1
    assert points[("hug_store_redis_reads", ns, None)] == 2
    assert points[("hug_store_redis_hits", ns, None)] == 1
    assert points[("hug_store_redis_bytes_out", ns, None)] == 8
    assert points[("hug_store_redis_write_bytes_bucket", ns, "256")] == 1
    assert points[("hug_store_redis_write_bytes_bucket", ns, "+Inf")] == 1
    assert points[("hug_store_redis_write_bytes_sum", ns, None)] == 8
    assert points[("hug_store_redis_write_attempts_count", ns, None)] == 0
    assert not [name for name, *_ in points if "cache" in name]  # no cache, none of its series
    store.set("a", {"x": 2})
    assert collected(reader)[("hug_store_redis_writes", ns, None)] == 2


def test_a_list_of_stores_is_labelled_by_namespace(redis_client):
    reader = InMemoryMetricReader()
    first, second = RedisStore(redis_client, "first"), RedisStore(redis_client, "second")
    instrument([first, second], MeterProvider(metric_readers=[reader]))
    second.set("a", 1)
    points = collected(reader)
    assert (
        points[("hug_store_redis_writes", "first", None)],
        points[("hug_store_redis_writes", "second", None)],
    ) == (0, 1)


@pytest.mark.one_twin
def test_without_a_provider_the_global_one_is_used(redis_client):
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    store = RedisStore(redis_client, "global")
    instrument(store)
    store.set("a", 1)
    assert collected(reader)[("hug_store_redis_writes", "global", None)] == 1
