"""make bench's charts: benchmarks/plots.py on the JSON of a short real benchmark run
(tests/release/data/benchmarks-short-run.json: the small store, codec and read-only
middleware groups at --benchmark-max-time=0.02, stats trimmed to what the report reads)."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = Path(__file__).with_name("data") / "benchmarks-short-run.json"
CHARTS = {"bench-targets.png", "bench-store.png", "bench-codec.png", "bench-middleware.png"}

pytestmark = pytest.mark.one_twin


def plot(run: Path, directory: Path) -> subprocess.CompletedProcess:
    """As make bench runs it: the script, with benchmarks/report.py beside it."""
    return subprocess.run(
        [sys.executable, "benchmarks/plots.py", str(run), str(directory)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header, which must be one."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert data[12:16] == b"IHDR" and data.endswith(b"IEND\xaeB`\x82"), path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_every_chart_is_a_png_image(tmp_path):
    done = plot(RUN, tmp_path)
    assert done.returncode == 0, done.stderr
    assert {path.name for path in tmp_path.iterdir()} == CHARTS
    for name in CHARTS:
        width, height = png_size(tmp_path / name)
        assert width >= 600 and height >= 200, (name, width, height)
        assert f"wrote {tmp_path / name}" in done.stdout


def test_a_chart_without_its_groups_is_not_written(tmp_path):
    run = json.loads(RUN.read_text())
    run["benchmarks"] = [b for b in run["benchmarks"] if not b["group"].startswith("middleware-")]
    (tmp_path / "run.json").write_text(json.dumps(run))
    (tmp_path / "charts").mkdir()
    done = plot(tmp_path / "run.json", tmp_path / "charts")
    assert done.returncode == 0, done.stderr
    assert {path.name for path in (tmp_path / "charts").iterdir()} == CHARTS - {"bench-middleware.png"}
