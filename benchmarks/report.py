"""Turn one pytest-benchmark JSON run into BENCHMARKS.md: ratios of medians, machine, versions;
with request_instructions.py's JSON as a third argument, instruction counts beside them."""

import json
import platform
import subprocess
import sys
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

from instruction_report import instruction_lines

STORE_VARIANTS = ("cython", "python", "generic", "1.0.0")
TARGETS = [  # (group, numerator, denominator, limit, what)
    ("get-small", "cython", "redis-py", 0.60, "store.get / (r.get + ujson.loads), small session"),
    ("set-small", "cython", "redis-py", 0.60, "store.set / (r.set(ex=) + ujson.dumps), small session"),
    ("codec-get-small", "cython", "python", 0.60, "cython / python, store CPU work per get, small"),
    ("codec-set-small", "cython", "python", 0.60, "cython / python, store CPU work per set, small"),
    ("middleware-read-only", "ours", "no-sessions", 2.5, "RedisSessionMiddleware read-only / no sessions"),
    ("middleware-read-only", "ours", "stock+1.0.0", 0.25, "RedisSessionMiddleware / stock + 1.0.0 store"),
    ("middleware-read-only", "ours", "stock+ours", 0.25, "RedisSessionMiddleware / stock + this store"),
    ("middleware-own-cost", "cython", "no-sessions", 1.25, "middleware own cost (no Redis), cython twin"),
    ("middleware-own-cost", "python", "no-sessions", 1.25, "middleware own cost (no Redis), python twin"),
    (
        "cache-store-get-hit",
        "cached-store",
        "redis-get+loads",
        0.1,
        "store.get on a local-cache hit / (r.get + ujson.loads)",
    ),
    (
        "cache-request-hit",
        "cached-session",
        "no-sessions",
        1.3,
        "read-only request, session a cache hit / no sessions",
    ),
]
NOTES = Path(__file__).with_name("NOTES.md")


# Groups shown relative to one of their own variants: (group prefix, baseline, what it shows).
RELATIVE_GROUPS = [
    (
        "conditional-",
        "get",
        "Lazy expiry and conditional writes, relative to a plain GET on the same path and size",
    ),
    (
        "cas-valkey",
        "script",
        "Compare-and-set on Valkey 8.1 and 9.1: native `SET ... IFEQ ... GET` relative to the script",
    ),
    ("devices-", "unbound", "A read-only request on a session bound to a user, relative to an unbound one"),
    ("cache-hit", "redis-get", "Local cache, relative to `r.get` over loopback"),
]


def variant_of(benchmark: dict[str, Any]) -> str:
    if benchmark["group"].startswith("conditional-"):  # one path per group: the operations differ
        return str(benchmark["extra_info"]["operation"])
    return str(
        benchmark["extra_info"].get("variant")
        or (benchmark.get("params") or {}).get("variant")
        or benchmark["name"].removeprefix("test_").replace("_", "-")
    )


def statistic(run: dict[str, Any], name: str) -> dict[str, dict[str, float]]:
    """``name`` (median, min, ...) per group and variant."""
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for benchmark in run["benchmarks"]:
        table[benchmark["group"]][variant_of(benchmark)] = benchmark["stats"][name]
    return table


def ratio(group: dict[str, float], numerator: str, denominator: str) -> str:
    if numerator not in group or denominator not in group:
        return "n/a"
    value = group[numerator] / group[denominator]
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def distribution_version(package: str) -> str:
    """The distribution that installed ``package`` and its version: on Python 3.12+ ``hug``
    comes from the ``hug-upgraded`` fork, and no distribution is named ``hug``."""
    name = metadata.packages_distributions().get(package, [package])[0]
    return f"{name} {metadata.version(name)}"


def machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    server = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
    versions = ", ".join(
        distribution_version(name) for name in ("redis", "hiredis", "ujson", "Cython", "hug")
    )
    return [
        f"- CPU: {cpu}, {len(__import__('os').sched_getaffinity(0))} cores (shared, noisy)",
        f"- Python: {platform.python_implementation()} {platform.python_version()} on {platform.platform()}",
        f"- Redis: {' '.join(server[:3])} on 127.0.0.1 (TCP loopback), started by the benchmark",
        f"- Packages: {versions}",
    ]


def render(run: dict[str, Any], command: str, instructions: dict[str, Any] | None = None) -> str:
    table = statistic(run, "median")
    fastest = statistic(run, "min")
    lines = [
        "# Benchmarks",
        "",
        "Ratios of medians from one run (lower is faster). This machine is shared and noisy, so",
        "only ratios within the same run are meaningful; rerun the command below to compare on yours.",
        "",
        "```",
        command,
        "```",
        "",
        *machine(),
        "",
        "## Targets",
        "",
        "Targets are judged on medians. The ratio of the fastest rounds is shown beside it: it",
        "moves less when other work on the machine slows one variant's stretch of the run.",
        "",
        "| target | median ratio | limit | met | fastest-round ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for group, numerator, denominator, limit, what in TARGETS:
        value = ratio(table.get(group, {}), numerator, denominator)
        met = (
            "n/a"
            if value == "n/a"
            else ("yes" if float(value) <= limit else f"no, by {float(value) / limit - 1:.0%}")
        )
        best = ratio(fastest.get(group, {}), numerator, denominator)
        lines.append(f"| {what} | {value} | {limit} | {met} | {best} |")
    lines += [
        "",
        "## Store operations, relative to the raw redis-py call + ujson",
        "",
        "`cython`/`python`: RedisStore on that codec twin (fast path). `generic`: `fast_path=False`,",
        "the path RedisCluster and Sentinel clients take. `1.0.0`: the original release.",
        "",
        "| group | " + " | ".join(STORE_VARIANTS) + " |",
        "| --- |" + " --- |" * len(STORE_VARIANTS),
    ]
    for group in sorted(g for g in table if g.split("-")[0] in ("get", "set", "exists", "delete")):
        cells = [ratio(table[group], variant, "redis-py") for variant in STORE_VARIANTS]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    valkey_groups = sorted(g for g in table if "valkey" in table[g])
    if valkey_groups:
        lines += [
            "",
            "## Valkey 8.1 beside Redis: the cython store, relative to it on redis-server",
            "",
            "`valkey`: on valkey-server through redis-py; `valkey+valkey-py`: through valkey-py.",
            "",
            "| group | valkey / cython | valkey+valkey-py / cython |",
            "| --- | --- | --- |",
        ]
        for group in valkey_groups:
            cells = [ratio(table[group], variant, "cython") for variant in ("valkey", "valkey+valkey-py")]
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Codec only (no I/O): compiled twin relative to the pure twin",
        "",
        "| group | cython / python |",
        "| --- | --- |",
    ]
    for group in sorted(g for g in table if g.startswith("codec-")):
        lines.append(f"| {group} | {ratio(table[group], 'cython', 'python')} |")
    middleware_groups = sorted(g for g in table if g.startswith("middleware-") and g != "middleware-own-cost")
    if middleware_groups:
        variants = ["stock+1.0.0", "stock+ours", "ours", "redis-round-trip"]
        lines += [
            "",
            "## One hug request, relative to the same app without sessions",
            "",
            "| group | " + " | ".join(variants) + " |",
            "| --- |" + " --- |" * len(variants),
        ]
        for group in middleware_groups:
            cells = [ratio(table[group], variant, "no-sessions") for variant in variants]
            lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines += own_cost(table)
    if instructions is not None:
        lines += instruction_lines(instructions, table)
    lines += relative_groups(table)
    lines += ["", NOTES.read_text().strip()]
    return "\n".join(lines) + "\n"


def relative_groups(table: dict[str, dict[str, float]]) -> list[str]:
    lines: list[str] = []
    for prefix, baseline, what in RELATIVE_GROUPS:
        groups = sorted(group for group in table if group.startswith(prefix))
        if not groups:
            continue
        variants = sorted({variant for group in groups for variant in table[group]} - {baseline})
        lines += ["", f"## {what}", "", "| group | " + " | ".join(variants) + " |"]
        lines.append("| --- |" + " --- |" * len(variants))
        for group in groups:
            lines.append(
                f"| {group} | " + " | ".join(ratio(table[group], v, baseline) for v in variants) + " |"
            )
    return lines


def own_cost(table: dict[str, dict[str, float]]) -> list[str]:
    """A read-only request with RedisSessionMiddleware, Redis stubbed out and real, per twin."""
    stubbed, real = table.get("middleware-own-cost", {}), table.get("middleware-read-only", {})
    if not stubbed:
        return []
    return [
        "",
        "## Middleware own cost: a read-only request, relative to the same app without sessions",
        "",
        "`stubbed`: the store's read returns the bytes without Redis, so the excess over 1.00 is the",
        "middleware's own work. `do-nothing`: a middleware with empty hooks. `bare GETEX`: the round",
        "trip alone through redis-py, no app, for scale (it moves with the load on the machine).",
        "",
        "| Redis | do-nothing | cython | python | bare GETEX |",
        "| --- | --- | --- | --- | --- |",
        "| stubbed | "
        + " | ".join(ratio(stubbed, variant, "no-sessions") for variant in ("do-nothing", "cython", "python"))
        + " | n/a |",
        "| one real round trip | n/a | "
        + " | ".join(
            ratio(real, variant, "no-sessions") for variant in ("ours", "ours-python", "redis-round-trip")
        )
        + " |",
    ]


if __name__ == "__main__":
    results, command = sys.argv[1], sys.argv[2]
    counted = (
        json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else None
    )  # request_instructions.py
    sys.stdout.write(render(json.loads(Path(results).read_text()), command, counted))
