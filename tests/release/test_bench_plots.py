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


# request_instructions.py's JSON from a real run (store calls and requests, both twins).
INSTRUCTIONS = Path(__file__).with_name("data") / "instructions-run.json"


def test_instruction_counts_get_their_chart_and_table(tmp_path):
    done = subprocess.run(
        [sys.executable, "benchmarks/plots.py", str(RUN), str(tmp_path), str(INSTRUCTIONS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert {path.name for path in tmp_path.iterdir()} == CHARTS | {"bench-instructions.png"}
    assert png_size(tmp_path / "bench-instructions.png")[1] >= 200
    report = subprocess.run(
        [sys.executable, "benchmarks/report.py", str(RUN), "make bench", str(INSTRUCTIONS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    counted = json.loads(INSTRUCTIONS.read_text())
    assert counted["command"] in report.stdout
    assert "| store.get / redis-py get+loads, above a bare socket GET |" in report.stdout
    for variant, figure in counted["per_call"].items():  # every count, beside its median where timed
        assert f"| {variant}" in report.stdout and f"{figure['instructions']:,.0f}" in report.stdout
    assert "| store-get-cython | " in report.stdout and "| store-get-cython | n/a" not in report.stdout
