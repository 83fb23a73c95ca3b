"""The store's own CPU work per operation, no I/O: compiled twin against pure twin.

``set`` is encode plus framing the SET command; ``get`` is framing the GET command plus
decoding the reply; ``encode`` is the strict-JSON encoding alone. hug is imported first
(benchmarks/conftest.py), as in an app. This is the work the Cython extension exists for.
"""

import pytest
from support.twins import TWIN_MODULES, twin_module

from hug_store_redis.cli.bench import PAYLOADS


@pytest.mark.parametrize("twin", TWIN_MODULES)
@pytest.mark.parametrize("size", PAYLOADS)
@pytest.mark.parametrize("operation", ["set", "get", "encode"])
def test_codec(benchmark, operation, size, twin):
    codec = twin_module(twin).Codec("bench", 86400)
    data = PAYLOADS[size]()
    payload = codec.encode(data)
    key = "3f9c0a1b7e2d4c5f0a1b3f9c0a1b7e2d4c5f0a1b7e2"
    benchmark.group = f"codec-{operation}-{size}"
    benchmark.extra_info.update(operation=f"codec-{operation}", size=size, variant=twin)
    if operation == "set":
        benchmark(lambda: codec.frame_set(key, codec.encode(data)))
    elif operation == "encode":
        benchmark(lambda: codec.encode(data))
    else:
        benchmark(lambda: (codec.frame_get(key), codec.decode(payload, key)))
