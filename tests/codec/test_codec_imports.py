"""What the codec gets from its imports, in fresh interpreters: the compiled twin or a loud
error, never a silent fallback."""

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import hug_store_redis

pytestmark = pytest.mark.one_twin


def run_python(script: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter outside the source tree, so it imports the installed package."""
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("HUG_STORE_REDIS")
    }
    return subprocess.run(
        [sys.executable, "-c", script, *arguments],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def package_copy(request, tmp_path):
    """A copy of the installed package whose compiled module a test may break or remove."""
    if request.config.getoption("--no-extensions"):
        pytest.skip("--no-extensions: there is no compiled module to break")
    installed = Path(hug_store_redis.__file__).parent
    copy = tmp_path / "site" / "hug_store_redis"
    shutil.copytree(installed, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (compiled,) = copy.glob("_speedups.*.so")
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
    (package_copy / f"_speedups{EXTENSION_SUFFIXES[0]}").write_bytes(b"not a shared object")
    result = implementation(package_copy)
    assert result.returncode != 0, f"imported as {result.stdout.strip()!r}"
    assert "ImportError" in result.stderr and "_speedups" in result.stderr


def test_a_compiled_module_missing_a_dependency_is_an_error(package_copy):
    (package_copy / "_speedups.py").write_text("import hug_store_redis_absent_dependency\n")
    result = implementation(package_copy)
    assert result.returncode != 0, f"imported as {result.stdout.strip()!r}"
    assert "ModuleNotFoundError: No module named 'hug_store_redis_absent_dependency'" in result.stderr
