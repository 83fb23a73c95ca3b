"""BENCHMARKS.md's instruction tables: request_instructions.py's figures beside the timed medians.

The counts do not move with the machine's load or the loopback latency; the medians beside
them (from the same ``make bench`` run's pytest-benchmark groups, where one measures the same
call) do, so read the two columns together: the count says what the code costs, the time
what this machine made of it.
"""

from typing import Any

from request_instructions import RATIOS

# instruction variant -> (pytest-benchmark group, variant) timing the same call.
TIMED = {
    "redis-py-get": ("get-small", "redis-py"),
    "store-get-cython": ("get-small", "cython"),
    "store-get-python": ("get-small", "python"),
    "redis-py-set": ("set-small", "redis-py"),
    "store-set-cython": ("set-small", "cython"),
    "store-set-python": ("set-small", "python"),
    "no-sessions": ("middleware-read-only", "no-sessions"),
    "read-cython": ("middleware-read-only", "ours"),
    "read-python": ("middleware-read-only", "ours-python"),
    "modify-cython": ("middleware-modify", "ours"),
    "modify-python": ("middleware-modify", "ours-python"),
    "cached-read-cython": ("cache-request-hit", "cached-session"),
    "own-cost-cython": ("middleware-own-cost", "cython"),
    "own-cost-python": ("middleware-own-cost", "python"),
}


def instruction_lines(instructions: dict[str, Any], medians: dict[str, dict[str, float]]) -> list[str]:
    """The section: the ratios the issue set goals for, then every variant's count and median."""
    figures = instructions["per_call"]
    lines = [
        "",
        "## Instructions per call (valgrind), beside the timed medians",
        "",
        "Counted by `valgrind --tool=cachegrind --cache-sim=no`: each call made 500 and 2,500",
        "times in a fresh process, the difference divided by 2,000 (start-up excluded); compiled",
        "twin unless the name says `python`; a plain `redis.Redis` with hiredis; the redis-server",
        "runs outside the traced process. `socket-*` is the same command's frame sent and its",
        "reply read on a bare socket: the floor of any client. Variants: the docstring of",
        "`benchmarks/request_instructions.py`.",
        "",
        "```",
        instructions["command"],
        "```",
        "",
        "| ratio | instructions | goal | met |",
        "| --- | --- | --- | --- |",
    ]
    for what, numerator, denominator, floor, goal in RATIOS:
        if not all(variant in figures for variant in (numerator, denominator, *([floor] if floor else []))):
            continue
        base = figures[floor]["instructions"] if floor else 0.0
        value = (figures[numerator]["instructions"] - base) / (figures[denominator]["instructions"] - base)
        lines.append(f"| {what} | {value:.3f} | {goal} | {'yes' if value <= goal else 'no'} |")
    lines += ["", "| call | instructions | median time (µs) |", "| --- | --- | --- |"]
    for variant, figure in figures.items():
        group, timed = TIMED.get(variant, ("", ""))
        median = medians.get(group, {}).get(timed)
        shown = "n/a" if median is None else f"{median * 1e6:.1f}"
        missed = f" ({figure['cache_misses']:.0f} cache misses)" if variant.startswith("cached") else ""
        lines.append(f"| {variant}{missed} | {figure['instructions']:,.0f} | {shown} |")
    return lines
