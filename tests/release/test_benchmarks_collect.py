"""The benchmark suites still import: a broken import must not wait for `make bench` to show up."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.one_twin, pytest.mark.packaging]


def test_every_benchmark_module_collects():
    result = subprocess.run(
        # The venv's own pytest script: ``python -m pytest`` would put the source tree first on sys.path.
        [
            str(Path(sys.executable).parent / "pytest"),
            "benchmarks",
            "-q",
            "-p",
            "no:cacheprovider",
            "--collect-only",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
