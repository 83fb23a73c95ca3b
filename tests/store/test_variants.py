"""Every store test runs on the twin and the store path its id names, not only the compiled fast one.

A test that asks for neither ``twin`` nor ``store_path`` is still parametrized on both by
``conftest.py``; these check that the variant is applied to what the test builds.
"""

from hug_store_redis import RedisStore


def test_the_store_fixture_is_built_on_the_variant_in_the_test_id(store, request):
    params = request.node.callspec.params
    assert type(store._codec).__module__.endswith("_codec_py" if params["twin"] == "python" else "_speedups")
    assert store.uses_fast_path == (params["store_path"] == "fast")


def test_a_store_the_test_builds_itself_is_on_the_variant_too(redis_client, request):
    params = request.node.callspec.params
    built = RedisStore(redis_client)
    assert type(built._codec).__module__.endswith("_codec_py" if params["twin"] == "python" else "_speedups")
    assert built.uses_fast_path == (params["store_path"] == "fast")
