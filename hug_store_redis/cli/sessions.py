"""``hug-store-redis sessions count|ls|show ID|rm ID|clear|user USER_ID``: operate one namespace by hand.

Ids are printed one per line, unambiguously: a non-printable character, a lone surrogate (a
key the README allows), a character stdout cannot encode and the backslash itself as a
backslash escape (``\\n``, ``\\x1b``, ``\\ud800``, ``\\\\``). ``show`` and ``rm`` read their id the
same way, so an id ``ls`` printed can be given back, also one beginning with ``-``.

A namespace written with ``key_secrets`` or ``encryption_keys`` needs them here too, from the
environment (never the command line, which ``ps`` shows): ``HUG_STORE_REDIS_KEY_SECRETS`` and
``HUG_STORE_REDIS_ENCRYPTION_KEYS``, each a comma-separated list of hex strings, newest first.
``ls`` then prints handles; ``show`` and ``rm`` hash what they are given as an id and, when no
session has that id, take it as a handle ``ls`` printed (the Redis key ``namespace:handle``
as it is). ``rm`` removes that copy; ``show`` prints it unless it is sealed: a sealed value
opens only with the session's id (its associated data), which a handle does not give back.

Exit status: 0 done, 1 no such session (``show``, ``rm``) or ``clear`` declined, 2 a bad
URL, an unreachable server or an error reply such as WRONGTYPE (one line on stderr from
``main``, never a traceback).
"""

import argparse
import datetime
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from hug.exceptions import StoreKeyNotFound

from ..errors import CorruptSessionError
from ..sessions import UserSessionIndex
from ..store import RedisStore
from .support import (
    URL_VARIABLE,
    UserError,
    given_url,
    protected_store,
    protection_from_environment,
    verified_client,
)

#: Namespaces at least this big get a progress line per deleted batch during ``clear``.
PROGRESS_THRESHOLD = 1000


def _run(args: argparse.Namespace) -> int:
    url = given_url(args.url)
    if not url:
        raise UserError(f"no server: pass --url URL or set {URL_VARIABLE}")
    protection = protection_from_environment()
    client = verified_client(url)
    try:
        store = protected_store(client, args.namespace, protection)
        status: int = args.action(store, args)
        return status
    finally:
        client.close()


def _count(store: RedisStore, args: argparse.Namespace) -> int:
    print(store.count())
    return 0


def _ls(store: RedisStore, args: argparse.Namespace) -> int:
    encoding = sys.stdout.encoding or "utf-8"
    for key in store.ids():
        print(escaped(key, encoding))
    return 0


def escaped(session_id: str, encoding: str) -> str:
    """``session_id`` as one line ``unescaped`` reads back: what a terminal or a line-based
    reader would mangle (or ``encoding`` cannot carry) becomes a backslash escape."""
    return "".join(
        char if char != "\\" and char.isprintable() and _encodable(char, encoding) else _escape(char)
        for char in session_id
    )


def _escape(char: str) -> str:
    return char.encode("unicode_escape").decode("ascii")  # \n \t \r \\ \xNN \uNNNN \UNNNNNNNN


def _encodable(char: str, encoding: str) -> bool:
    try:
        char.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.?)", re.DOTALL)
_NAMED_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


def unescaped(text: str) -> str:
    """The id ``escaped`` printed as ``text``; UserError for a backslash that starts no escape."""

    def one(match: "re.Match[str]") -> str:
        code = match.group(1)
        if code in _NAMED_ESCAPES:
            return _NAMED_ESCAPES[code]
        if len(code) > 2 and int(code[1:], 16) <= sys.maxunicode:
            return chr(int(code[1:], 16))
        raise UserError(
            f"bad escape {match.group(0)!r} in the id: ids are given as ls prints them, "
            "a backslash starts \\\\, \\n, \\r, \\t, \\xNN, \\uNNNN or \\UNNNNNNNN"
        )

    return _ESCAPE.sub(one, text)


_HANDLE = re.compile(r"[A-Za-z0-9_-]{43}")


def _by_handle(store: RedisStore, given: str) -> RedisStore | None:
    """Under ``key_secrets``, a store whose key for ``given`` is ``namespace:given`` as it is:
    for a handle ``ls`` printed, which hashing as an id would miss."""
    if not store.hashed_keys or not _HANDLE.fullmatch(given):
        return None
    return RedisStore(store.connection, namespace=store.namespace)


def _show(store: RedisStore, args: argparse.Namespace) -> int:
    given = unescaped(args.id)
    try:
        data: Any = store.get(given)
    except StoreKeyNotFound:
        plain = _by_handle(store, given)
        stored = None if plain is None else plain.read_payload(given)
        if stored is None:
            print(f"no session {args.id!r} in namespace {store.namespace!r}", file=sys.stderr)
            return 1
        if store.encrypted:
            print(
                f"session {args.id!r} is sealed (encryption_keys): it opens only with the session id, "
                "which a handle does not give back; rm takes the handle",
                file=sys.stderr,
            )
            return 1
        assert plain is not None
        return _show(plain, args)
    except CorruptSessionError as error:
        print(error, file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))
    return 0


def _rm(store: RedisStore, args: argparse.Namespace) -> int:
    given = unescaped(args.id)
    plain = _by_handle(store, given)
    if store.delete(given) or (plain is not None and plain.delete(given)):
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


class _SessionsParser(argparse.ArgumentParser):
    """Takes an id beginning with ``-`` (about one in 64) where argparse sees an unknown option.

    ``show``/``rm`` declare the id optional; a lone argument no option claimed is the id, so
    ``rm -Xy...`` works as ``rm -- -Xy...`` does. Anything else left over is an error as before.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if "id" in vars(parsed) and parsed.id is None:
            if not extras:
                self.error("the following arguments are required: id")
            if len(extras) > 1:
                self.error(f"unrecognized arguments: {' '.join(extras)} (an id beginning with - goes alone)")
            parsed.id = extras.pop()
        return parsed, extras


def register_sessions(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    common = _SessionsParser(add_help=False)
    common.add_argument(
        "--url", help=f"redis://, rediss://, unix:// or redis+cluster:// (default ${URL_VARIABLE})"
    )
    common.add_argument("--namespace", default="store", help="the store's namespace (default: store)")
    parser = commands.add_parser("sessions", help="count, list, show, delete or clear sessions")
    actions = parser.add_subparsers(
        dest="action_name", required=True, metavar="ACTION", parser_class=_SessionsParser
    )
    for name, action, help_text in (
        ("count", _count, "how many sessions the namespace holds"),
        ("ls", _ls, "every session id (handle under key_secrets), one per line, odd characters escaped"),
        ("show", _show, "one session's data as indented JSON (by id, or a handle ls printed)"),
        ("rm", _rm, "delete one session (by id, or a handle ls printed)"),
        ("clear", _clear, "delete every session in the namespace"),
        ("user", _user, "a user's signed-in sessions (handle, created, last seen, User-Agent)"),
    ):
        sub = actions.add_parser(name, parents=[common], help=help_text)
        if name in ("show", "rm"):
            sub.add_argument(
                "id", nargs="?", help="the session id as ls prints it (backslash escapes; may begin with -)"
            )
        if name == "user":
            sub.add_argument("user_id", help="the id given to bind_user")
            sub.add_argument("--rm", action="store_true", help="end every session of the user")
        if name == "clear":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        sub.set_defaults(handler=_run, action=action)
