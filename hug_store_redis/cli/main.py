"""``hug-store-redis`` / ``python -m hug_store_redis``: info, demo, bench and session admin.

Every subcommand lives in a ``register_*`` function below; errors a user can fix end as
one line on stderr and exit status 2, never a traceback.
"""

import argparse
import contextlib
import io
import os
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

import redis

from .. import IMPLEMENTATION, __version__
from ..clients import InvalidURLError, ServerUnreachableError, mask_url, redact, server_info
from .sessions import register_sessions
from .support import URL_VARIABLE, UserError, client_or_embedded, given_url

Handler = Callable[[argparse.Namespace], int]
#: Plain text for --help (the module docstring is reStructuredText).
DESCRIPTION = "Redis sessions for hug: versions (info), the demo, a benchmark and session admin."
#: What a shell reports for a process that SIGPIPE ended (128 + 13).
EXIT_BROKEN_PIPE = 141


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_info(args: argparse.Namespace) -> int:
    server = server_info(args.url) if args.url else None
    print(f"hug_store_redis {__version__}")
    print(f"implementation  {IMPLEMENTATION}")
    print(f"python          {platform.python_implementation()} {platform.python_version()}")
    print(f"json            ujson {_version_of('ujson')}")
    print(f"redis-py        {_version_of('redis')}")
    print(f"hiredis         {_version_of('hiredis')}")
    if server is not None:
        print(f"server          {server['name']} {server['version']}")
        print(f"mode            {server['mode']}")
    return 0


def register_info(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("info", help="versions, the codec in use and (with --url) the server")
    parser.add_argument("--url", help="also show this server's version and mode")
    parser.set_defaults(handler=run_info)


def run_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(args.url, args.host, args.port)


def register_demo(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "demo", help="serve the demo app (a visit counter, login and cart in Redis sessions)"
    )
    parser.add_argument(
        "--url", help=f"Redis URL (default: ${URL_VARIABLE}, else an embedded redis-server on a free port)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to serve on, 0 for any free port (default: %(default)s)"
    )
    parser.set_defaults(handler=run_demo)


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < seconds < 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, got {text}")
    return seconds


def run_bench(args: argparse.Namespace) -> int:
    from . import bench

    with contextlib.ExitStack() as stack:
        client, _, where = client_or_embedded(stack, args.url)
        print(f"benchmarking {args.size} sessions for about {args.seconds:g} s on {where}", file=sys.stderr)
        print(f"codec: {IMPLEMENTATION}", file=sys.stderr)
        rows = bench.run(client, args.size, args.seconds, report=lambda line: print(line, file=sys.stderr))
    print(bench.table(rows))
    return 0


def register_bench(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    from .bench import PAYLOADS

    parser = commands.add_parser(
        "bench", help="time store operations against your Redis (or an embedded one)"
    )
    parser.add_argument("--url", help=f"Redis URL (default: ${URL_VARIABLE}, else an embedded redis-server)")
    parser.add_argument(
        "--size", choices=list(PAYLOADS), default="small", help="session size (default: small)"
    )
    parser.add_argument(
        "--seconds", type=positive_seconds, default=6.0, help="total time budget (default: 6)"
    )
    parser.set_defaults(handler=run_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hug-store-redis", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (register_info, register_demo, register_bench, register_sessions):
        register(commands)
    return parser


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Every error a user can act on is handled here, once: one line
    on stderr (the URL's password masked), exit status 2; a reader that went away
    (``| head -1``) ends the run quietly, as SIGPIPE ends other Unix tools."""
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    url = given_url(getattr(args, "url", None)) or ""
    try:
        status = handler(args)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return 130
    except (UserError, InvalidURLError, ServerUnreachableError) as error:
        message = str(error)
    except redis.RedisError as error:
        unreachable = isinstance(error, (redis.ConnectionError, redis.TimeoutError))
        where = f"{'cannot reach Redis at ' if unreachable else ''}{mask_url(url)}: " if url else ""
        message = f"{where}{redact(str(error), url)}"
    print(f"hug-store-redis {args.command}: {message}", file=sys.stderr)
    return 2
