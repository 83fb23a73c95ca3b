"""``instrument``: the stores' counts as OpenTelemetry observable instruments, read at collection time.

OpenTelemetry has no asynchronous histogram: a synchronous one would cost every write a call.
The two distributions are published as the observable counters a Prometheus histogram is made of
(``..._bucket`` with an ``le`` attribute, cumulative; ``..._sum``; ``..._count``), so they stay free.
"""

from collections.abc import Callable, Iterable, Iterator

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Instrument, MeterProvider, Observation

from .series import (
    CACHE_COUNTERS,
    COUNTERS,
    HISTOGRAMS,
    PREFIX,
    SERVING,
    Counted,
    Series,
    counters_of,
    cumulative,
    serving_of,
    stores_of,
)

Callback = Callable[[CallbackOptions], Iterable[Observation]]


def instrument(
    store: "Counted | Iterable[Counted]", meter_provider: MeterProvider | None = None
) -> list[Instrument]:
    """Publish every ``hug_store_redis_*`` series of ``store`` (or of each store in a list) on
    ``meter_provider`` (the global one when None), with a ``namespace`` attribute.

    The instruments' callbacks read ``store.stats()`` when a reader collects; requests pay
    nothing. The returned instruments are for reference: they live as long as the provider.
    """
    stores = stores_of(store if isinstance(store, Iterable) else [store])
    meter = metrics.get_meter("hug_store_redis", meter_provider=meter_provider)
    made: list[Instrument] = [
        meter.create_observable_counter(
            PREFIX + series.name, [_counter(stores, series)], description=series.help
        )
        for series in COUNTERS + CACHE_COUNTERS
    ]
    made.append(
        meter.create_observable_gauge(PREFIX + SERVING.name, [_serving(stores)], description=SERVING.help)
    )
    for name, help_ in HISTOGRAMS.items():
        for part, read in (("bucket", _buckets), ("sum", _sum), ("count", _count)):
            made.append(
                meter.create_observable_counter(
                    f"{PREFIX}{name}_{part}", [_histogram(stores, name, read)], description=help_
                )
            )
    return made


def _counter(stores: tuple[Counted, ...], series: Series) -> Callback:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        for store in stores:
            for found, value in counters_of(store):
                if found is series:
                    yield Observation(value, {"namespace": store.namespace})

    return observe


def _serving(stores: tuple[Counted, ...]) -> Callback:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        for store in stores:
            serving = serving_of(store)
            if serving is not None:
                yield Observation(serving, {"namespace": store.namespace})

    return observe


Reading = Callable[[Counted, str], Iterator[Observation]]


def _histogram(stores: tuple[Counted, ...], name: str, read: Reading) -> Callback:
    def observe(options: CallbackOptions) -> Iterator[Observation]:
        for store in stores:
            yield from read(store, name)

    return observe


def _buckets(store: Counted, name: str) -> Iterator[Observation]:
    for bound, count in cumulative(store.histograms()[name]):
        yield Observation(count, {"namespace": store.namespace, "le": bound})


def _sum(store: Counted, name: str) -> Iterator[Observation]:
    yield Observation(store.histograms()[name].sum, {"namespace": store.namespace})


def _count(store: Counted, name: str) -> Iterator[Observation]:
    yield Observation(store.histograms()[name].total, {"namespace": store.namespace})
