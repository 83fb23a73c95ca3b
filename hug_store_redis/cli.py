"""``hug-store-redis`` / ``python -m hug_store_redis``: info, demo, bench and session admin.

Every subcommand lives in a ``register_*`` function below; errors a user can fix end as
one line on stderr and exit status 2, never a traceback.
"""

import argparse
import platform
import sys
from collections.abc import Callable, Sequence
from importlib import metadata

from . import IMPLEMENTATION, __version__
from .cli_sessions import SessionsError, register_sessions
from .connect import InvalidURLError, ServerUnreachableError, server_info

Handler = Callable[[argparse.Namespace], int]


class UserError(Exception):
    """A problem the user can fix (bad URL, unreachable server): printed as one line."""


def _version_of(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def run_info(args: argparse.Namespace) -> int:
    server = None
    if args.url:
        try:
            server = server_info(args.url)
        except (InvalidURLError, ServerUnreachableError) as error:
            raise UserError(str(error)) from None
    print(f"hug_store_redis {__version__}")
    print(f"implementation  {IMPLEMENTATION}")
    print(f"python          {platform.python_implementation()} {platform.python_version()}")
    print(f"json            ujson {_version_of('ujson')}")
    print(f"redis-py        {_version_of('redis')}")
    print(f"hiredis         {_version_of('hiredis')}")
    if server is not None:
        print(f"server          redis {server['version']}")
        print(f"mode            {server['mode']}")
    return 0


def register_info(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("info", help="versions, the codec in use and (with --url) the server")
    parser.add_argument("--url", help="also show this server's version and mode")
    parser.set_defaults(handler=run_info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hug-store-redis", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (register_info, register_sessions):
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (UserError, SessionsError) as error:
        print(f"hug-store-redis {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
