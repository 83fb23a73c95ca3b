"""Requests per second through a real WSGI server under a load generator: what sessions cost.

    make bench-throughput          # or, with the options below:
    .venv/bin/python benchmarks/throughput.py [--rounds 3] [--threads 4 8] [--duration 10] [--warmup 3]
        [--connections 16] [--sessions 64] [--json build/throughput.json]
        [--server waitress|gunicorn] [--runs no-sessions:/read cache-on:/read ...]

    # the local cache's cost as a user sees it (issue 24): gunicorn gthread, one connection,
    # the cached read-only request against no sessions, many short alternating rounds
    .venv/bin/python benchmarks/throughput.py --server gunicorn --threads 4 --connections 1 \
        --runs no-sessions:/read cache-on:/read --rounds 15 --duration 4 --warmup 1

An embedded redis-server, then for each waitress thread count and each variant: the app of
benchmarks/throughput_app.py in a process of its own (waitress), driven by ``wrk`` (one
thread, ``--connections`` connections) in another, over fresh sessions written just before,
each request carrying one of their cookies in turn (benchmarks/throughput.lua). A warm-up
run, then one measured run of ``--duration`` seconds; ``--rounds`` times, each round in
another order, and the table shows medians (the machine's load moves within minutes).
Variants: no sessions, sessions with the cache off, sessions with the cache on (a hit,
inside ``touch_after``), and a request that modifies its session (a write on every
request) with the cache off and on.

The figures are checked, not just printed: wrk saw no socket error and no status >= 400 (the
handler answers 500 when a session variant did not read the session); the store read a
session for every request and found no id missing; the cached read variant had no cache
miss and Redis ran no read command during the measured run (INFO commandstats, the
listener's PING/INFO left out); the modifying variants lost no update (the counters in
Redis add up to the handler's calls; the app's merge hook adds up overlapping increments).
A failed check fails the run (exit status 1).
Ratios to no-sessions are from the same run and thread count.
``--server gunicorn`` serves the app through gunicorn's ``gthread`` worker instead of waitress
(``waitress threads`` in the table are then gunicorn's ``--threads``).
"""

import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from statistics import median
from typing import Any

import psutil
import redis
from throughput_app import NAMESPACE, USER

from hug_store_redis import RedisStore
from hug_store_redis.cli.embedded import EmbeddedRedis, free_port
from hug_store_redis.sessions import new_session_id

HERE = Path(__file__).resolve().parent
RUNS = (  # (variant, path)
    ("no-sessions", "/read"),
    ("cache-off", "/read"),
    ("cache-on", "/read"),
    ("cache-off", "/modify"),
    ("cache-on", "/modify"),
)
LISTENER_COMMANDS = {"ping", "info", "hello", "client", "config"}
"""The invalidation listener's heartbeats and handshakes, and this driver's own calls."""
SESSION = {"user": USER, "counter": 0, "cart": [1, 2, 3], "csrf": "0123456789abcdef"}


def main() -> int:
    arguments = parse_arguments()
    results = []
    runs = arguments.runs
    with EmbeddedRedis() as server:
        client = redis.Redis(host=server.host, port=server.port)
        for round_ in range(arguments.rounds):
            for threads in arguments.threads:
                shift = round_ % len(runs)  # each round starts elsewhere: drift is not one variant's
                for variant, path in runs[shift:] + runs[:shift]:
                    result = measure(client, server.port, variant, path, threads, arguments)
                    result["round"] = round_
                    results.append(result)
                    print(progress(result), flush=True)
        client.close()
    print("\n" + table(results, runs))
    if arguments.json:
        Path(arguments.json).parent.mkdir(parents=True, exist_ok=True)
        Path(arguments.json).write_text(json.dumps(results, indent=2))
    failed = [
        f"round {r['round']}, {r['variant']} {r['path']} x{r['threads']}: {c}"
        for r in results
        for c in r["failed"]
    ]
    print("\nchecks: " + ("all passed" if not failed else "FAILED\n  " + "\n  ".join(failed)))
    return 1 if failed else 0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[4, 8], help="waitress threads")
    parser.add_argument("--rounds", type=int, default=3, help="times every variant is measured")
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per variant")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of load before measuring")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--sessions", type=int, default=64, help="distinct session cookies")
    parser.add_argument("--json", default="build/throughput.json", help="raw results ('' for none)")
    parser.add_argument("--server", choices=("waitress", "gunicorn"), default="waitress")
    parser.add_argument(
        "--runs", nargs="+", type=run_of, default=list(RUNS), help="variant:path pairs (no-sessions first)"
    )
    arguments = parser.parse_args()
    if arguments.runs[0] != ("no-sessions", "/read"):
        parser.error("--runs must start with no-sessions:/read, the baseline of every ratio")
    return arguments


def run_of(text: str) -> tuple[str, str]:
    variant, _, path = text.partition(":")
    if (variant, path) not in RUNS:
        raise argparse.ArgumentTypeError(f"not one of {', '.join(f'{v}:{p}' for v, p in RUNS)}")
    return variant, path


def measure(
    client: redis.Redis, redis_port: int, variant: str, path: str, threads: int, arguments: argparse.Namespace
) -> dict[str, Any]:
    store = RedisStore(client, NAMESPACE)
    ids = [new_session_id() for _ in range(arguments.sessions)]
    for session_id in ids:  # fresh sessions: well inside touch_after and the cache's max_age
        store.set(session_id, SESSION)
    port = free_port()
    command = [sys.executable, str(HERE / "throughput_app.py"), "--variant", variant]
    command += ["--threads", str(threads), "--port", str(port), "--redis-port", str(redis_port)]
    command += ["--server", arguments.server]
    app = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(app, port)
        wrk(port, path, ids, arguments.warmup, arguments.connections)
        before = server_stats(port)
        client.config_resetstat()
        cpu_before = app_cpu(app.pid)
        load = wrk(port, path, ids, arguments.duration, arguments.connections)
        cpu_after = app_cpu(app.pid)
        commands = sent_commands(client)
        after = settled_stats(port)  # requests wrk gave up on when it stopped have finished
        counters = sum(store.get(session_id)["counter"] for session_id in ids)
    finally:
        app.terminate()
        _, errors = app.communicate(timeout=30)
    cpu = cpu_after - cpu_before
    result = {
        "variant": variant,
        "path": path,
        "threads": threads,
        "server": arguments.server,
        "connections": arguments.connections,
        "requests_per_second": load["requests"] / (load["duration_us"] / 1e6),
        "app_cpu_us_per_request": cpu * 1e6 / max(load["requests"], 1),
        "commands_per_request": sum(commands.values()) / max(load["requests"], 1),
        "wrk": load,
        "redis_commands": commands,
        "stats_delta": {name: after[name] - before[name] for name in after if type(after[name]) is int},
        "cache_serving": after.get("cache_serving"),
        "counters_in_redis": counters,
        "conflicts": after.get("conflicts", 0),  # warm-up included
        "modify_calls": after["modify_calls"],  # warm-up included, as the counters
        "server_errors": errors.strip().splitlines()[-5:],
    }
    result["failed"] = failed_checks(result, variant, path)
    return result


def app_cpu(pid: int) -> float:
    """User + system seconds of the app's process and its children (gunicorn's worker)."""
    process = psutil.Process(pid)
    times = [p.cpu_times() for p in (process, *process.children(recursive=True))]
    return sum(t.user + t.system for t in times)


def failed_checks(result: dict[str, Any], variant: str, path: str) -> list[str]:
    load, delta, commands = result["wrk"], result["stats_delta"], result["redis_commands"]
    failed = []
    socket_errors = sum(load[name] for name in ("connect", "read", "write", "timeout"))
    if load["non_2xx"] or socket_errors:
        failed.append(f"wrk: {load['non_2xx']} status >= 400, {socket_errors} socket errors")
    if variant != "no-sessions":
        # The server may finish a few requests wrk stopped counting: at most one per connection.
        if delta["hits"] < load["requests"]:
            failed.append(f"{delta['hits']} sessions read for {load['requests']} requests")
        if delta["misses"]:
            failed.append(f"{delta['misses']} session ids not found")
    if variant == "cache-on" and path == "/read":
        if delta["cache_misses"] or not result["cache_serving"]:
            failed.append(f"{delta['cache_misses']} cache misses (serving: {result['cache_serving']})")
        if commands:
            failed.append(f"Redis ran {commands} for cached reads")
    lost = result["modify_calls"] - result["counters_in_redis"]
    if path == "/modify" and variant != "no-sessions" and lost:
        failed.append(f"counters add up to {result['counters_in_redis']}, not {result['modify_calls']}")
    return failed


def wait_ready(app: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise RuntimeError(f"the app exited: {app.communicate()[1]}")
        try:
            server_stats(port)
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the app did not answer on port {port} within 30 s")


def server_stats(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5) as response:
        return dict(json.load(response))


def settled_stats(port: int) -> dict[str, Any]:
    """The app's counters once two reads 0.2 s apart agree: no request is still in flight."""
    deadline = time.monotonic() + 10
    previous = server_stats(port)
    while time.monotonic() < deadline:
        time.sleep(0.2)
        current = server_stats(port)
        if current == previous:
            return current
        previous = current
    raise RuntimeError("the app's counters still move 10 s after wrk stopped")


def wrk(port: int, path: str, ids: list[str], seconds: int, connections: int) -> dict[str, int]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(HERE / "throughput.lua"), f"http://127.0.0.1:{port}/", "--", path, *ids]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"^WRK (\{.*\})$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no result line from wrk: {output}")
    return dict(json.loads(found[1]))


def sent_commands(client: redis.Redis) -> dict[str, int]:
    """Calls per command since CONFIG RESETSTAT, without the listener's and this driver's own."""
    calls: dict[str, int] = {}
    for name, value in client.info("commandstats").items():
        command = name.removeprefix("cmdstat_").split("|")[0]
        if command not in LISTENER_COMMANDS:
            calls[command] = calls.get(command, 0) + value["calls"]
    return calls


HEADER = (
    "| variant | request | waitress threads | req/s | p50 ms | p99 ms | req/s / no sessions (rounds) "
    "| app CPU µs/req | Redis cmds/req |\n| --- |" + " --- |" * 8
)
FOOTNOTE = (
    "Medians over the rounds; the ratio is of the median req/s, with the lowest and highest of the "
    "rounds' own ratios (each against no sessions in the same round). req/s and latency from wrk; "
    "app CPU: the waitress process's user + system time per request; Redis cmds: INFO commandstats "
    "per request, a script counted with the commands it runs (the uncached read is EVALSHA + GET + "
    "PTTL, one round trip)."
)


def progress(result: dict[str, Any]) -> str:
    load = result["wrk"]
    return (
        f"round {result['round']}: {result['variant']:11} {result['path']:7} x{result['threads']}: "
        f"{result['requests_per_second']:6.0f} req/s, p50 {load['p50_us'] / 1000:.2f} ms, "
        f"p99 {load['p99_us'] / 1000:.2f} ms, {result['conflicts']} conflicts merged, "
        f"{'ok' if not result['failed'] else 'FAILED'}"
    )


def table(results: list[dict[str, Any]], runs: list[tuple[str, str]]) -> str:
    rows = [HEADER]
    for threads in sorted({result["threads"] for result in results}):
        baseline = [r for r in results if r["threads"] == threads and r["variant"] == "no-sessions"]
        baseline_rps = {r["round"]: r["requests_per_second"] for r in baseline}
        for variant, path in runs:
            same = [r for r in results if (r["variant"], r["path"], r["threads"]) == (variant, path, threads)]
            rps = median(r["requests_per_second"] for r in same)
            ratios = [r["requests_per_second"] / baseline_rps[r["round"]] for r in same]
            ratio = rps / median(baseline_rps.values())
            rows.append(
                f"| {variant} | {path} | {threads} | {rps:.0f} "
                f"| {median(r['wrk']['p50_us'] for r in same) / 1000:.2f} "
                f"| {median(r['wrk']['p99_us'] for r in same) / 1000:.2f} "
                f"| {ratio:.2f} ({min(ratios):.2f}-{max(ratios):.2f}) "
                f"| {median(r['app_cpu_us_per_request'] for r in same):.0f} "
                f"| {median(r['commands_per_request'] for r in same):.2f} |"
            )
    return "\n".join([*rows, "", FOOTNOTE])


if __name__ == "__main__":
    sys.exit(main())
