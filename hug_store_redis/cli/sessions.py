"""``hug-store-redis sessions count|ls|show ID|rm ID|clear|user USER_ID``: operate one namespace by hand.

Exit status: 0 done, 1 no such session (``show``, ``rm``) or ``clear`` declined, 2 a bad
URL, an unreachable server or an error reply such as WRONGTYPE (one line on stderr from
``main``, never a traceback).
"""

import argparse
import datetime
import json
import sys
from typing import Any

from hug.exceptions import StoreKeyNotFound

from ..errors import CorruptSessionError
from ..store import RedisStore
from ..user_sessions import UserSessionIndex
from .support import URL_VARIABLE, UserError, given_url, verified_client

#: Namespaces at least this big get a progress line per deleted batch during ``clear``.
PROGRESS_THRESHOLD = 1000


def _run(args: argparse.Namespace) -> int:
    url = given_url(args.url)
    if not url:
        raise UserError(f"no server: pass --url URL or set {URL_VARIABLE}")
    client = verified_client(url)
    try:
        status: int = args.action(RedisStore(client, namespace=args.namespace), args)
        return status
    finally:
        client.close()


def _count(store: RedisStore, args: argparse.Namespace) -> int:
    print(store.count())
    return 0


def _ls(store: RedisStore, args: argparse.Namespace) -> int:
    for key in store.ids():
        print(key)
    return 0


def _show(store: RedisStore, args: argparse.Namespace) -> int:
    try:
        data: Any = store.get(args.id)
    except StoreKeyNotFound:
        print(f"no session {args.id!r} in namespace {store.namespace!r}", file=sys.stderr)
        return 1
    except CorruptSessionError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def _rm(store: RedisStore, args: argparse.Namespace) -> int:
    if store.delete(args.id):
        print(f"deleted session {args.id!r}")
        return 0
    print(f"no session {args.id!r} in namespace {store.namespace!r}", file=sys.stderr)
    return 1


def _clear(store: RedisStore, args: argparse.Namespace) -> int:
    total = store.count()
    if total == 0:
        print(f"namespace {store.namespace!r} holds no sessions")
        return 0
    if not args.yes:
        question = f"delete {total} sessions in namespace {store.namespace!r}? [y/N] "
        print(question, end="", file=sys.stderr, flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted", file=sys.stderr)
            return 1

    def progress(done: int) -> None:
        print(f"deleted {done}/{total}", file=sys.stderr, flush=True)

    removed = store.clear(on_batch=progress if total >= PROGRESS_THRESHOLD else None)
    print(f"deleted {removed} sessions")
    return 0


def _user(store: RedisStore, args: argparse.Namespace) -> int:
    """A user's sessions, one per line: handle, created, last seen, User-Agent; ``--rm`` ends them."""
    index = UserSessionIndex(store)
    if args.rm:
        ended = index.end_all(args.user_id)
        print(f"ended {ended} sessions of user {args.user_id!r}")
        return 0
    entries = index.sessions(args.user_id)
    if not entries:  # on stderr: stdout stays the listing, empty, for scripts
        print(f"no sessions for user {args.user_id!r} in namespace {store.namespace!r}", file=sys.stderr)
    for entry in entries:
        print(
            "\t".join((entry.handle, _when(entry.created), _when(entry.last_seen), entry.user_agent or "-"))
        )
    return 0


def _when(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def register_sessions(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help=f"redis://, rediss://, unix:// or redis+cluster:// (default ${URL_VARIABLE})"
    )
    common.add_argument("--namespace", default="store", help="the store's namespace (default: store)")
    parser = commands.add_parser("sessions", help="count, list, show, delete or clear sessions")
    actions = parser.add_subparsers(dest="action_name", required=True, metavar="ACTION")
    for name, action, help_text in (
        ("count", _count, "how many sessions the namespace holds"),
        ("ls", _ls, "every session id, one per line"),
        ("show", _show, "one session's data as indented JSON"),
        ("rm", _rm, "delete one session"),
        ("clear", _clear, "delete every session in the namespace"),
        ("user", _user, "a user's signed-in sessions (handle, created, last seen, User-Agent)"),
    ):
        sub = actions.add_parser(name, parents=[common], help=help_text)
        if name in ("show", "rm"):
            sub.add_argument("id", help="the session id (the key given to the store)")
        if name == "user":
            sub.add_argument("user_id", help="the id given to bind_user")
            sub.add_argument("--rm", action="store_true", help="end every session of the user")
        if name == "clear":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        sub.set_defaults(handler=_run, action=action)
