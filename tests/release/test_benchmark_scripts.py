"""The local cache's cost scripts run as documented (BENCHMARKS.md, "Local cache costs"), short."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.one_twin


@pytest.mark.parametrize("server", ["inprocess", "gunicorn"])
def test_write_to_hit_counts_the_reads_after_each_write(server, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "cache_write_to_hit.py"),
            "--server",
            server,
            "--writes",
            "5",
        ],
        cwd=tmp_path,  # the installed package, not the source tree
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"5 writes through the middleware, {server}:" in result.stdout
    reads = re.search(
        r"reads sent to Redis before the first hit: median (\S+), p90 \S+, max (\S+)", result.stdout
    )
    assert reads is not None, result.stdout
    assert "ms from the write's response to the hit's: median" in result.stdout
