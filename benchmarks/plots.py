"""Charts of BENCHMARKS.md's tables, from the same pytest-benchmark JSON that report.py reads.

``python benchmarks/plots.py build/benchmarks.json docs`` writes ``bench-*.png`` into docs/,
where the docs site (docs/performance.md) and GitHub both show them. A chart whose groups the
run does not hold is not written. Ratios of medians from one run, as in the tables: the bars
say how much slower or faster than a baseline, never an absolute time.
"""

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: make bench runs in a terminal or CI

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import ScalarFormatter
from report import STORE_VARIANTS, TARGETS, statistic

Table = dict[str, dict[str, float]]
Draw = Callable[[Axes], None]
Chart = tuple[int, Draw] | None  # how many bars (for the height), and what draws them
# The same colour for a variant in every chart.
COLOURS = {
    "cython": "#1f77b4",
    "python": "#ff7f0e",
    "generic": "#2ca02c",
    "1.0.0": "#7f7f7f",
    "stock+1.0.0": "#7f7f7f",
    "stock+ours": "#9467bd",
    "ours": "#1f77b4",
    "redis-round-trip": "#d62728",
}
MIDDLEWARE_VARIANTS = ("stock+1.0.0", "stock+ours", "ours", "redis-round-trip")


def ratio(group: dict[str, float], numerator: str, denominator: str) -> float | None:
    if numerator not in group or denominator not in group or not group[denominator]:
        return None
    return group[numerator] / group[denominator]


def grouped_bars(
    axes: Axes, table: Table, groups: list[str], variants: tuple[str, ...], baseline: str
) -> None:
    """One row per group, one bar per variant, each relative to the group's ``baseline``."""
    height = 0.8 / len(variants)
    for index, variant in enumerate(variants):
        values = [ratio(table[group], variant, baseline) for group in groups]
        rows = [row for row, value in enumerate(values) if value is not None]
        axes.barh(
            [row + index * height for row in rows],
            [values[row] or 0.0 for row in rows],
            height=height,
            label=variant,
            color=COLOURS.get(variant),
        )
    axes.set_yticks([row + height * (len(variants) - 1) / 2 for row in range(len(groups))], groups)
    axes.invert_yaxis()
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel(f"median time relative to {baseline} (1.0), lower is faster")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")  # beside, not over, the bars


def store_chart(table: Table) -> Chart:
    groups = sorted(g for g in table if g.split("-")[0] in ("get", "set", "exists", "delete"))
    if not groups:
        return None

    def draw(axes: Axes) -> None:
        grouped_bars(axes, table, groups, STORE_VARIANTS, "redis-py")
        axes.set_title("Store operations, relative to the raw redis-py call + ujson")

    return len(groups) * len(STORE_VARIANTS), draw


def codec_chart(table: Table) -> Chart:
    groups = sorted(g for g in table if g.startswith("codec-"))
    if not groups:
        return None

    def draw(axes: Axes) -> None:
        grouped_bars(axes, table, groups, ("cython",), "python")
        axes.set_title("Codec only (no I/O): the compiled twin relative to the pure twin")

    return len(groups), draw


def middleware_chart(table: Table) -> Chart:
    groups = sorted(g for g in table if g.startswith("middleware-") and g != "middleware-own-cost")
    if not groups:
        return None

    def draw(axes: Axes) -> None:
        grouped_bars(axes, table, groups, MIDDLEWARE_VARIANTS, "no-sessions")
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(ScalarFormatter())  # 2, 10, not 10^0
        axes.set_title("One hug request, relative to the same app without sessions (log scale)")

    return len(groups) * len(MIDDLEWARE_VARIANTS), draw


def targets_chart(table: Table) -> Chart:
    rows = [
        (what, value / limit)
        for group, numerator, denominator, limit, what in TARGETS
        if (value := ratio(table.get(group, {}), numerator, denominator)) is not None
    ]
    if not rows:
        return None

    def draw(axes: Axes) -> None:
        labels, shares = zip(*rows, strict=True)
        colours = ["#2ca02c" if share <= 1.0 else "#d62728" for share in shares]
        axes.barh(range(len(rows)), shares, color=colours)
        axes.set_yticks(range(len(rows)), labels, fontsize="small")
        axes.invert_yaxis()
        axes.axvline(1.0, color="black", linewidth=0.8)
        for row, share in enumerate(shares):
            axes.annotate(
                f"{share:.2f}", (share, row), xytext=(3, 0), textcoords="offset points", va="center"
            )
        axes.set_xlabel("median ratio / its limit (at most 1.0 meets the target)")
        axes.set_title("Targets: green met, red missed")

    return len(rows), draw


CHARTS: dict[str, Callable[[Table], Chart]] = {
    "bench-targets.png": targets_chart,
    "bench-store.png": store_chart,
    "bench-codec.png": codec_chart,
    "bench-middleware.png": middleware_chart,
}


def instructions_chart(figures: dict[str, dict[str, float]]) -> Chart:
    """Instructions per call (request_instructions.py), store calls and requests, on one axis."""
    if not figures:
        return None
    names = list(figures)

    def draw(axes: Axes) -> None:
        counts = [figures[name]["instructions"] / 1000 for name in names]
        colours = [COLOURS["python"] if name.endswith("python") else COLOURS["cython"] for name in names]
        axes.barh(range(len(names)), counts, color=colours)
        axes.set_yticks(range(len(names)), names, fontsize="small")
        axes.invert_yaxis()
        for row, count in enumerate(counts):
            axes.annotate(
                f"{count:.1f}k", (count, row), xytext=(3, 0), textcoords="offset points", va="center"
            )
        axes.set_xlabel("thousand instructions per call (valgrind), lower is cheaper")
        axes.set_title("Instructions per store call and per hug request")

    return len(names), draw


def write_charts(
    run: dict[str, Any], directory: Path, instructions: dict[str, Any] | None = None
) -> list[Path]:
    """Every chart the run has data for, as PNG in ``directory``; returns the files written."""
    table = statistic(run, "median")
    charts: dict[str, Callable[[], Chart]] = {
        name: functools.partial(chart, table) for name, chart in CHARTS.items()
    }
    if instructions is not None:
        charts["bench-instructions.png"] = functools.partial(instructions_chart, instructions["per_call"])
    written = []
    for name, chart in charts.items():
        drawn = chart()
        if drawn is None:
            continue
        bars, draw = drawn
        figure, axes = plt.subplots(figsize=(10, 1.5 + 0.16 * max(8, bars)))
        draw(axes)
        figure.tight_layout()
        path = directory / name
        # No software version or date in the file: a rerun with the same figures changes nothing.
        figure.savefig(path, dpi=100, metadata={"Software": None})
        plt.close(figure)
        written.append(path)
    return written


if __name__ == "__main__":
    results, directory = Path(sys.argv[1]), Path(sys.argv[2])
    counted = (
        json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else None
    )  # request_instructions.py
    for path in write_charts(json.loads(results.read_text()), directory, counted):
        print(f"wrote {path}")
