"""``PrometheusCollector``: the stores' counts in Prometheus' format, read at scrape time."""

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .series import (
    CACHE_COUNTERS,
    COUNTERS,
    HISTOGRAMS,
    PREFIX,
    SERVING,
    Counted,
    counters_of,
    cumulative,
    serving_of,
    stores_of,
)

LABELS = ["namespace"]


class PrometheusCollector(Collector):
    """Every ``hug_store_redis_*`` series of one or more stores, labelled by namespace.

    ``PrometheusCollector(store)``, ``PrometheusCollector(store1, store2)`` or
    ``PrometheusCollector([store1, store2])``, then ``prometheus_client.REGISTRY.register(...)``.
    A scrape reads ``store.stats()`` and ``store.histograms()``: requests pay nothing for it.
    The local cache's series appear only for stores that have a cache.
    """

    def __init__(self, *stores: "Counted | Iterable[Counted]") -> None:
        flat: list[Counted] = []
        for given in stores:
            flat.extend(given if isinstance(given, Iterable) else [given])
        self.stores = stores_of(flat)

    def describe(self) -> Iterator[Metric]:
        """The families without samples: registering checks names without reading any store."""
        return iter(_Families().all())

    def collect(self) -> Iterator[Metric]:
        families = _Families()
        for store in self.stores:
            labels = [store.namespace]
            for series, value in counters_of(store):
                families.counters[series.name].add_metric(labels, value)
            serving = serving_of(store)
            if serving is not None:
                families.serving.add_metric(labels, serving)
            for name, histogram in store.histograms().items():
                families.histograms[name].add_metric(labels, cumulative(histogram), histogram.sum)
        # the cache's series, when no store has a cache, are left out
        return (family for family in families.all() if family.samples)


class _Families:
    """One scrape's metric families, to fill."""

    def __init__(self) -> None:
        self.counters = {
            series.name: CounterMetricFamily(PREFIX + series.name, series.help, labels=LABELS)
            for series in COUNTERS + CACHE_COUNTERS
        }
        self.serving = GaugeMetricFamily(PREFIX + SERVING.name, SERVING.help, labels=LABELS)
        self.histograms = {
            name: HistogramMetricFamily(PREFIX + name, help_, labels=LABELS)
            for name, help_ in HISTOGRAMS.items()
        }

    def all(self) -> list[Metric]:
        return [*self.counters.values(), self.serving, *self.histograms.values()]
