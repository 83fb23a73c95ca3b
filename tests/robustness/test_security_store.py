"""Security at the store level: namespaces stay apart, and nothing is ever unpickled.

A namespace is a literal prefix, never a pattern: the store only issues single-key
commands, so glob characters in a namespace or a key match nothing else. The one
way two stores meet is by design and as in 1.0.0: the Redis key is
``namespace + ":" + key``, so ``("a", "b:c")`` and ``("a:b", "c")`` name the same key.
"""

import ast
import importlib.util
import pickle
from pathlib import Path

import pytest
from hug.exceptions import StoreKeyNotFound
from hypothesis import given
from hypothesis import strategies as st
from support.hypothesis_profiles import scaled

import hug_store_redis
from hug_store_redis import CorruptSessionError, RedisStore

GLOBBY = ["*", "?", "[", "]", "\\", ":", "^", "-", "a", "b", "\x00", "\ud800", "\U0001f600"]
NAMESPACE_PAIRS = [
    ("a", "a*"),
    ("a*", "ab"),
    ("a?", "ab"),
    ("[ab]", "a"),
    ("[ab]", "b"),
    ("a", "a\\"),
    ("a\\*", "a*"),
    ("*", ""),
    ("", ":"),
    ("a:b", "a"),
    ("ns", "NS"),
    ("café", "cafe\u0301"),
    ("\ud800", "\udc00"),
]


def assert_unseen(store: RedisStore, key: str) -> None:
    with pytest.raises(StoreKeyNotFound):
        store.get(key)
    assert store.exists(key) is False
    assert store.read_payload(key) is None


@pytest.mark.parametrize(("first_namespace", "second_namespace"), NAMESPACE_PAIRS)
@pytest.mark.parametrize("key", ["k", "*", "[k]:?"])
def test_stores_with_different_namespaces_never_see_each_other(
    redis_client, first_namespace, second_namespace, key
):
    first = RedisStore(redis_client, namespace=first_namespace)
    second = RedisStore(redis_client, namespace=second_namespace)
    first.set(key, {"owner": "first"})
    assert_unseen(second, key)
    assert second.delete(key) is False
    assert first.get(key) == {"owner": "first"}
    second.set(key, {"owner": "second"})
    assert first.get(key) == {"owner": "first"}
    assert first.delete(key) is True
    assert second.get(key) == {"owner": "second"}
    assert len(redis_client.keys("*")) == 1


def test_glob_keys_match_only_themselves(redis_client):
    store = RedisStore(redis_client, namespace="s")
    for key in ("a", "ab", "b"):
        store.set(key, key)
    for pattern in ("*", "a*", "?", "[ab]", "a?"):
        assert_unseen(store, pattern)
        assert store.delete(pattern) is False
    assert sorted(redis_client.keys("*")) == [b"s:a", b"s:ab", b"s:b"]


def test_colon_in_a_namespace_shares_keys_by_design(redis_client):
    """``("a", "b:c")`` and ``("a:b", "c")`` are the Redis key ``a:b:c``, exactly as in 1.0.0."""
    outer = RedisStore(redis_client, namespace="a")
    inner = RedisStore(redis_client, namespace="a:b")
    assert outer.namespaced_key("b:c") == inner.namespaced_key("c") == b"a:b:c"
    outer.set("b:c", "from outer")
    assert inner.get("c") == "from outer"
    assert redis_client.keys("*") == [b"a:b:c"]


@scaled(100)
@given(
    st.text(alphabet=st.sampled_from(GLOBBY), max_size=4),
    st.text(alphabet=st.sampled_from(GLOBBY), max_size=4),
    st.text(alphabet=st.sampled_from(GLOBBY), max_size=4),
    st.text(alphabet=st.sampled_from(GLOBBY), max_size=4),
)
def test_two_stores_meet_only_where_namespace_and_key_spell_the_same_key(
    redis_client, first_namespace, first_key, second_namespace, second_key
):
    first = RedisStore(redis_client, namespace=first_namespace)
    second = RedisStore(redis_client, namespace=second_namespace)
    same_key = f"{first_namespace}:{first_key}" == f"{second_namespace}:{second_key}"
    try:
        first.set(first_key, "first")
        assert second.exists(second_key) is same_key
        second.set(second_key, "second")
        assert first.get(first_key) == ("second" if same_key else "first")
    finally:
        first.delete(first_key)
        second.delete(second_key)
    assert redis_client.keys("*") == []


class LeavesATrace:
    """Unpickling this opens (and so creates) a file: proof that pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_pickled_values_in_redis_are_never_unpickled(redis_client, tmp_path, protocol):
    trace = tmp_path / "unpickled"
    payload = pickle.dumps(LeavesATrace(str(trace)), protocol=protocol)
    redis_client.set(b"store:evil", payload)
    store = RedisStore(redis_client)
    with pytest.raises(CorruptSessionError):
        store.get("evil")
    assert store.read_payload("evil", touch=True) == payload
    with pytest.raises(CorruptSessionError):
        store.decode(payload, "evil")
    assert not trace.exists()
    assert redis_client.get(b"store:evil") == payload


SERIALIZERS = {"pickle", "_pickle", "cPickle", "marshal", "shelve", "dill", "cloudpickle", "jsonpickle"}


def installed_sources() -> list[Path]:
    package = Path(hug_store_redis.__file__).parent
    return sorted(package.rglob("*.py"))


@pytest.mark.one_twin
def test_no_module_of_the_installed_package_imports_a_pickle_serializer():
    sources = installed_sources()
    assert any(path.name == "redis_store.py" for path in sources)
    found = []
    for path in sources:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Name):
                names = [node.id]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]  # importlib.import_module("pickle") and the like
            else:
                continue
            found += [
                f"{path.name}:{node.lineno} {name}" for name in names if name.split(".")[0] in SERIALIZERS
            ]
    assert found == []


@pytest.mark.one_twin
def test_compiled_module_has_no_pickle_support(request):
    if request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled module")
    spec = importlib.util.find_spec("hug_store_redis.codec._speedups")
    assert spec is not None and spec.origin is not None
    assert b"pickle" not in Path(spec.origin).read_bytes()
