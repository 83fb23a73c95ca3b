"""Installing the package as users do: with a compiler, without one, and from the sdist."""

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
IGNORED = shutil.ignore_patterns(
    ".venv*", "build", "dist", ".git", "__pycache__", "*.so", "*.c", ".hypothesis", ".*_cache", "*.egg-info"
)


@pytest.fixture
def source_tree(tmp_path):
    """A pristine copy, so no build artefact of this checkout can leak into the install."""
    tree = tmp_path / "src"
    shutil.copytree(ROOT, tree, ignore=IGNORED)
    return tree


def pip_install(tree, target, **env):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--verbose",
            "--no-deps",
            "--disable-pip-version-check",
            "--no-build-isolation",
            "--target",
            str(target),
            str(tree),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def implementation_in(target, **env):
    result = subprocess.run(
        [sys.executable, "-c", "import hug_store_redis as h; print(h.IMPLEMENTATION, h.__file__)"],
        env={**os.environ, "PYTHONPATH": str(target), **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=target,
    )
    implementation, location = result.stdout.split()
    assert location.startswith(str(target))
    return implementation


def compiled_modules(target):
    return list((target / "hug_store_redis" / "codec").glob("_speedups*.so"))


def test_without_a_compiler_install_succeeds_with_a_warning_and_runs_pure(source_tree, tmp_path):
    target = tmp_path / "site"
    result = pip_install(source_tree, target, CC="false", HUG_STORE_REDIS_REQUIRE_EXTENSIONS="")
    assert result.returncode == 0, result.stderr
    assert "could not compile its Cython speedups" in result.stdout + result.stderr
    assert compiled_modules(target) == []
    assert implementation_in(target) == "python"


def test_required_extension_makes_a_compile_failure_fatal(source_tree, tmp_path):
    result = pip_install(source_tree, tmp_path / "site", CC="false", HUG_STORE_REDIS_REQUIRE_EXTENSIONS="1")
    assert result.returncode != 0


def test_no_extensions_at_build_time_skips_the_compiler(source_tree, tmp_path):
    target = tmp_path / "site"
    result = pip_install(source_tree, target, HUG_STORE_REDIS_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert compiled_modules(target) == []
    assert implementation_in(target) == "python"


def test_default_build_compiles_and_no_extensions_at_import_time_wins(source_tree, tmp_path):
    target = tmp_path / "site"
    result = pip_install(
        source_tree, target, HUG_STORE_REDIS_NO_EXTENSIONS="", HUG_STORE_REDIS_REQUIRE_EXTENSIONS="1"
    )
    assert result.returncode == 0, result.stderr
    assert len(compiled_modules(target)) == 1
    assert implementation_in(target, HUG_STORE_REDIS_NO_EXTENSIONS="") == "cython"
    assert implementation_in(target, HUG_STORE_REDIS_NO_EXTENSIONS="1") == "python"


def test_sdist_carries_the_pyx_and_no_generated_c(source_tree, tmp_path):
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)],
        cwd=source_tree,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (archive,) = tmp_path.glob("hug_store_redis-*.tar.gz")
    with tarfile.open(archive) as sdist:
        names = sdist.getnames()
    assert any(name.endswith("_speedups/_speedups.pyx") for name in names)
    assert not any(name.endswith(".c") for name in names)
    assert any(name.endswith("hug_store_redis/py.typed") for name in names)
