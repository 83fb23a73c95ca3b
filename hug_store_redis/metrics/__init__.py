"""Exporting the stores' counts: ``PrometheusCollector`` (extra ``[prometheus]``) and ``instrument``
(OpenTelemetry, extra ``[otel]``). Both read ``store.stats()`` when collected: free per request.

Each is imported on first use, so one exporter works without the other's package installed.
"""

import importlib
from typing import TYPE_CHECKING, Any

from .series import COUNTERS, PREFIX

if TYPE_CHECKING:
    from .otel import instrument
    from .prometheus import PrometheusCollector

__all__ = ["COUNTERS", "PREFIX", "PrometheusCollector", "instrument"]

_HOMES = {
    "PrometheusCollector": ("prometheus", "prometheus_client", "prometheus"),
    "instrument": ("otel", "opentelemetry", "otel"),
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, needs, extra = _HOMES[name]
    try:
        return getattr(importlib.import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as error:
        if error.name is None or not error.name.startswith(needs):
            raise
        raise ImportError(
            f"hug_store_redis.metrics.{name} needs {needs}: pip install 'hug_store_redis[{extra}]'"
        ) from error
