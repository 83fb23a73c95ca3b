"""What the codec gets from its imports, in fresh interpreters: ujson's C encoder whatever
hug did to ``ujson.dumps``, and the compiled twin or a loud error, never a silent fallback."""

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import hug_store_redis

pytestmark = pytest.mark.one_twin

TWINS = {"cython": "hug_store_redis.codec._speedups", "python": "hug_store_redis.codec._codec_py"}

# Counts calls to hug's dumps proxy while both twins' Codec.encode run, after importing
# hug and the codec in the order given on the command line.
COUNT_PROXY_CALLS = """
import importlib, sys
first, module_name = sys.argv[1:]
if first == "hug":
    import hug
twin = importlib.import_module(module_name)
if first == "codec":
    import hug
import ujson
proxy = type(ujson.dumps)
assert proxy.__module__ == "hug.json_module", "hug no longer replaces ujson.dumps: " + repr(proxy)
calls = []
forward = proxy.__call__
proxy.__call__ = lambda self, *args, **kwargs: calls.append(args) or forward(self, *args, **kwargs)
ujson.dumps([1])
assert calls, "the count does not see calls to the proxy"
calls.clear()
assert twin.Codec("ns", 60).encode({"user": "a/b", "n": [1, 2.5]}) == b'{"user": "a/b", "n": [1, 2.5]}'
print(len(calls))
"""


def run_python(script: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter outside the source tree, so it imports the installed package."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("HUG_STORE_REDIS")
    }
    # "true" turns hug's ujson proxy on in hug 2.6.1 (on by default) and in hug-upgraded
    # forks that made it opt-in, so the proxy is there to be avoided on every leg.
    environment["HUG_USE_UJSON"] = "true"
    return subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("first", ["hug", "codec"])
def test_encode_calls_ujson_itself_whichever_is_imported_first(request, tmp_path, twin, first):
    """hug's proxy costs about a microsecond per call and rewrites exceptions."""
    if twin == "cython" and request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled twin")
    result = run_python(COUNT_PROXY_CALLS, first, TWINS[twin], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0", "Codec.encode went through hug's ujson.dumps proxy"


@pytest.fixture
def package_copy(request, tmp_path):
    """A copy of the installed package whose compiled module a test may break or remove."""
    if request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled module to break")
    installed = Path(hug_store_redis.__file__).parent
    copy = tmp_path / "site" / "hug_store_redis"
    shutil.copytree(installed, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (compiled,) = copy.glob("codec/_speedups.*.so")
    compiled.unlink()
    return copy


IMPLEMENTATION = """
import sys
sys.path.insert(0, sys.argv[1])
import hug_store_redis
print(hug_store_redis.IMPLEMENTATION)
"""


def implementation(package: Path) -> subprocess.CompletedProcess[str]:
    return run_python(IMPLEMENTATION, str(package.parent), cwd=package.parent.parent)


def test_a_build_without_the_compiled_module_uses_the_pure_twin(package_copy):
    result = implementation(package_copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "python"


def test_a_compiled_module_that_cannot_load_is_an_error(package_copy):
    (package_copy / "codec" / f"_speedups{EXTENSION_SUFFIXES[0]}").write_bytes(b"not a shared object")
    result = implementation(package_copy)
    assert result.returncode != 0, f"imported as {result.stdout.strip()!r}"
    assert "ImportError" in result.stderr and "_speedups" in result.stderr


def test_a_compiled_module_missing_a_dependency_is_an_error(package_copy):
    (package_copy / "codec" / "_speedups.py").write_text("import hug_store_redis_absent_dependency\n")
    result = implementation(package_copy)
    assert result.returncode != 0, f"imported as {result.stdout.strip()!r}"
    assert "ModuleNotFoundError: No module named 'hug_store_redis_absent_dependency'" in result.stderr
