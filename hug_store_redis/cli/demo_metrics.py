"""The demo's ``/metrics``: its stores in Prometheus' text format, as a scraper would read them.

prometheus_client comes with the ``[prometheus]`` extra, which the demo's venv installs
(``make demo``). Installed without it, the demo still runs and ``/metrics`` says what to
install (501) instead of failing at start.
"""

from collections.abc import Callable

from .. import metrics
from ..store import RedisStore

MISSING = "/metrics needs prometheus_client: pip install 'hug_store_redis[prometheus]'\n"

Exposition = Callable[[], tuple[str, str, str]]
"""``() -> (status, content type, body)``."""


def exposition_of(*stores: RedisStore) -> Exposition:
    """What ``/metrics`` answers: read at each request, as every scrape reads the counts anew."""
    try:  # imported here: the demo must start without the extra
        collector = metrics.PrometheusCollector
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    except ImportError:  # either import, whichever of prometheus_client's modules are loaded
        missing = MISSING
        return lambda: ("501 Not Implemented", "text/plain; charset=utf-8", missing)
    registry = CollectorRegistry()
    registry.register(collector(*stores))
    return lambda: ("200 OK", CONTENT_TYPE_LATEST, generate_latest(registry).decode())
