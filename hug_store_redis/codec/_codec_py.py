"""The reference codec: namespaced keys and strict JSON, in plain Python.

This module is the specification. ``_speedups.pyx`` is its compiled twin and must
return the same values and raise the same exception types for every input.
"""

import math
import re
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import ujson

from ..errors import CorruptSessionError
from ._decoded_py import DecodedHits
from ._replies_py import NOT_SIMPLE as NOT_SIMPLE  # the reply section (_replies_py.py), as both twins name it
from ._replies_py import NOT_STARTED as NOT_STARTED
from ._replies_py import Handoff as Handoff
from ._replies_py import exchange as exchange
from ._replies_py import exchange_idle as exchange_idle
from ._replies_py import parse_reply as parse_reply
from .json_errors import json_error as json_error  # the compiled twin calls it too
from .wire import bulk as _bulk

#: Deeper values are refused on write (and circular ones land here too); ujson reads
#: up to 1024 levels, so everything we write can be read back.
MAX_DEPTH = 512


def ujson_builtin(*names: str) -> Callable[..., Any]:
    """ujson's own C function under the first of ``names`` that still is one.

    Importing hug replaces ``ujson.dumps`` with a Python proxy that costs about a
    microsecond per call and turns every error into TypeError; ``ujson.encode`` is the
    same C function under its other name, and hug leaves it alone. So the codec is the
    same whichever of the two an app imports first.
    """
    for name in names:
        function = getattr(ujson, name, None)
        if isinstance(function, types.BuiltinFunctionType) and function.__self__ is ujson:
            return function
    replaced = " and ".join(f"ujson.{name}" for name in names)
    raise ImportError(f"{replaced} have all been replaced; the codec needs ujson's own C function")


_dumps = ujson_builtin("dumps", "encode")
_loads = ujson_builtin("loads", "decode")


def _encode_key(text: str) -> bytes:
    # surrogatepass: any str is a valid session key (cookies can hold anything),
    # and the mapping stays one-to-one, so namespaces cannot collide.
    # str.encode, not text.encode: a str subclass cannot change the bytes of its key.
    return str.encode(text, "utf-8", "surrogatepass")


def _refuse(value: Any, why: str) -> TypeError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return TypeError(f"session data is not JSON: {type(value).__name__} {shown} {why}")


def check_json(data: Any) -> None:
    """Raise TypeError or ValueError unless ``data`` is strict JSON.

    ujson alone would write NaN, call ``__json__``/``toDict`` methods and stringify
    tuple keys; none of that is JSON another reader can trust. The walk is depth-first
    in insertion order, so both twins report the same first problem.
    """
    _check(data, 0)


def _check(value: Any, depth: int) -> None:
    if value is None or value is True or value is False:
        return
    cls = type(value)
    if cls is str or cls is int:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"session data is not JSON: float {value!r} (NaN and Infinity are not JSON)")
        return
    if isinstance(value, (str, int)):
        return
    if depth >= MAX_DEPTH:
        raise ValueError(
            f"session data is not JSON: nested deeper than {MAX_DEPTH} levels (a circular reference?)"
        )
    if isinstance(value, dict):
        # dict.items, list.__iter__, tuple.__iter__: what ujson will read, even when a
        # subclass overrides items() or __iter__ to show something else.
        for item_key, item in dict.items(value):
            if not (item_key is None or isinstance(item_key, (str, int))):
                raise _refuse(item_key, "is not allowed as a dict key (use str)")
            _check(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in list.__iter__(value) if isinstance(value, list) else tuple.__iter__(value):
            _check(item, depth + 1)
    else:
        raise _refuse(value, "is not allowed (use dict, list, tuple, str, int, float, bool or None)")


def encode_json(data: Any) -> bytes:
    """Strict JSON as UTF-8 bytes, laid out as ``json.dumps`` lays it out.

    The layout keeps values byte-compatible with hug_store_redis 1.0.0. ujson writes
    compact text and the spaces are put back here: its own ``separators`` option was
    seen to be ignored intermittently, which would make the bytes depend on luck.
    """
    check_json(data)
    compact: str = _dumps(data, ensure_ascii=True, escape_forward_slashes=False)
    # DEL (0x7f) is the one ASCII character json.dumps escapes and ujson does not.
    return _add_json_dumps_spacing(compact).replace("\x7f", "\\u007f").encode("ascii")


def encodes_as(data: Any, payload: Any) -> bool:
    """Whether ``encode_json(data)`` would write exactly ``payload`` (bytes or str).

    For the middleware: a session is written again only when this is False. Data the strict
    encoding refuses is compared as ujson renders it (NaN as 1.0.0 wrote it, a float key as
    its text), so a session that still holds what was read never counts as changed.
    """
    if not isinstance(payload, (bytes, str)):
        return False
    try:
        compact: str = _dumps(data, ensure_ascii=True, escape_forward_slashes=False)
    except (TypeError, ValueError, OverflowError):
        return False
    text = _add_json_dumps_spacing(compact).replace("\x7f", "\\u007f")
    return text == payload if isinstance(payload, str) else text.encode("ascii") == payload


SESSION_ID_LENGTH = 43
"""Characters of a session id: 32 random bytes in URL-safe base64 without padding."""
_SESSION_ID_PATTERN = f"[A-Za-z0-9_-]{{{SESSION_ID_LENGTH}}}"
_SESSION_ID = re.compile(_SESSION_ID_PATTERN)
_COOKIE_MATCHERS: dict[str, Callable[[str], "re.Match[str] | None"]] = {}


def first_cookie_id(header: str, prefix: str) -> str | None:
    """The session id when a Cookie header starts with ``prefix`` (``name=``) and a
    well-formed id ending at ``;`` or the header's end: the header browsers send most often,
    read without a cookie parser. None otherwise (the caller then parses the header).

    One regex match, compiled once per prefix: the pure path's cheapest."""
    match = _COOKIE_MATCHERS.get(prefix)
    if match is None:
        match = _COOKIE_MATCHERS[prefix] = re.compile(
            re.escape(prefix) + f"({_SESSION_ID_PATTERN})(?:;|\\Z)"
        ).match
    found = match(header)
    return None if found is None else found[1]


def is_session_id(value: str) -> bool:
    """Only ids the middleware could have issued; junk never reaches Redis."""
    return _SESSION_ID.fullmatch(value) is not None


def _add_json_dumps_spacing(compact: str) -> str:
    """``, `` and ``: `` between items, as ``json.dumps`` writes them, strings left alone."""
    parts = compact.split('"')
    in_string = False
    for index, part in enumerate(parts):
        if in_string:
            # The quote after this part ends the string unless an odd run of backslashes escapes it.
            in_string = (len(part) - len(part.rstrip("\\"))) % 2 == 1
        else:
            parts[index] = part.replace(",", ", ").replace(":", ": ")
            in_string = True
    return '"'.join(parts)


def decode_json(payload: Any, key: str) -> Any:
    """Data from a Redis reply; anything that is not UTF-8 JSON is ``CorruptSessionError``.

    Reading stays as lenient as ``json.loads`` (NaN, Infinity) so every value written by
    1.0.0 still reads back.
    """
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptSessionError(key, f"invalid UTF-8 at byte {exc.start}") from None
    elif isinstance(payload, str):
        text = payload
    else:
        raise CorruptSessionError(key, f"Redis replied with {type(payload).__name__}, not a string")
    try:
        return _loads(text)
    except ValueError:
        raise CorruptSessionError(key, json_error(text)) from None


def copy_containers(value: Any, depth: int) -> Any:
    """Exact dicts and lists copied, all else shared: what ``json`` decoding makes is either."""
    cls = type(value)  # loops, not comprehensions: one frame per level, as deep as the other twin
    if cls is dict:
        if depth >= MAX_DEPTH:
            raise RecursionError
        copied = {}
        for key, item in dict.items(value):
            copied[key] = copy_containers(item, depth + 1)
        return copied
    if cls is list:
        if depth >= MAX_DEPTH:
            raise RecursionError
        items = []
        for item in list.__iter__(value):
            items.append(copy_containers(item, depth + 1))
        return items
    return value


_GET = b"*2\r\n$3\r\nGET\r\n"
_GETEX = b"*4\r\n$5\r\nGETEX\r\n"
_SET = b"*3\r\n$3\r\nSET\r\n"
_SET_EX = b"*5\r\n$3\r\nSET\r\n"
_EXISTS = b"*2\r\n$6\r\nEXISTS\r\n"
_DEL = b"*2\r\n$3\r\nDEL\r\n"


class Codec:
    """Everything a store turns into bytes for one namespace and expiry, and back.

    The key prefix and the ``EX seconds`` arguments are framed once, so a store
    operation costs one call that returns the complete RESP command. ``namespace`` and
    ``expiration`` are read-only: they are baked into those frames.
    """

    __slots__ = ("_ex_arguments", "_expiration", "_namespace", "_prefix")

    def __init__(self, namespace: str, expiration: int | None = None) -> None:
        # namespace first, then expiration: both twins report the same first problem.
        if not isinstance(namespace, str):
            raise TypeError(f"namespace must be str, not {type(namespace).__name__}")
        if expiration is not None and (type(expiration) is not int or expiration <= 0):
            raise ValueError(f"expiration must be a positive int or None, got {expiration!r}")
        # A plain str copy: a subclass cannot change what the prefix is made of.
        self._namespace: str = str.__str__(namespace)
        self._expiration = expiration
        self._prefix = _encode_key(self._namespace + ":")
        self._ex_arguments = b"" if expiration is None else _bulk(b"EX") + _bulk(b"%d" % expiration)

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def expiration(self) -> int | None:
        return self._expiration

    def namespaced_key(self, key: str) -> bytes:
        """``namespace:key`` as bytes, the Redis key 1.0.0 used for the same session."""
        if not isinstance(key, str):
            raise TypeError(f"session key must be str, not {type(key).__name__}")
        return self._prefix + _encode_key(key)

    def encode(self, data: Any) -> bytes:
        return encode_json(data)

    def decode(self, payload: Any, key: str) -> Any:
        return decode_json(payload, key)

    # For the session middleware, so that it uses the same twin as its store. A session is
    # unchanged when it holds the same JSON value as when it was read: ``reference`` is taken
    # at load, ``unchanged`` asked after the handler. Here the reference is compact JSON of
    # what was read (two C encodes in all); the compiled twin keeps the bytes read instead and
    # compares the session's encoding with them in one pass.

    def reference(self, data: Any, payload: Any) -> Any:
        try:
            return _dumps(data)
        except (TypeError, ValueError, OverflowError):  # not JSON: never unchanged
            return None

    def unchanged(self, session: Any, reference: Any) -> bool:
        if reference is None:
            return False
        try:
            return bool(_dumps(session) == reference)
        except (TypeError, ValueError, OverflowError):
            return False

    def copy(self, data: Any) -> Any:
        """A private copy of a decoded session's containers (leaves are immutable and shared):
        what a local cache keeping the decoded session hands each request, so no handler's
        change reaches the cached session or another request's. RecursionError past
        ``MAX_DEPTH``, as the compiled twin."""
        return copy_containers(data, 0)

    def keep(self, data: Any, reference: Any) -> Any:
        """What a local cache keeps of ``data`` just decoded, ``reference`` its reference: a
        private copy (``copy``). The compiled twin's reference holds one already, which it
        returns, so the cache keeps one tree instead of two; RecursionError as ``copy``."""
        return copy_containers(data, 0)

    def decoded_hits(
        self,
        cache: Any,
        entries: "OrderedDict[bytes, tuple[bytes, float, float, Any, int]]",
        recalls: "Iterator[int]",
        never: float,
        monotonic: Callable[[], float],
        touch_below_ms: int,
        check: Callable[[], None] | None,
        owner: object,
    ) -> DecodedHits:
        """A local cache's hits of decoded sessions on this codec's keys (``_decoded_py.py``),
        of those ``owner`` kept only."""
        return DecodedHits(cache, entries, recalls, never, monotonic, self, touch_below_ms, check, owner)

    first_cookie_id = staticmethod(first_cookie_id)

    # Complete RESP commands, for connections that take pre-framed bytes.

    def frame_get(self, key: str) -> bytes:
        return _GET + _bulk(self.namespaced_key(key))

    def frame_getex(self, key: str) -> bytes:
        """GETEX that restarts the expiry; a plain GET when keys never expire."""
        if self._expiration is None:
            return self.frame_get(key)
        return _GETEX + _bulk(self.namespaced_key(key)) + self._ex_arguments

    def frame_set(self, key: str, payload: bytes) -> bytes:
        """SET of bytes from ``encode``, with the expiry when there is one."""
        if not isinstance(payload, bytes):
            raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
        head = _SET if self._expiration is None else _SET_EX
        return head + _bulk(self.namespaced_key(key)) + _bulk(payload) + self._ex_arguments

    def frame_keyed(
        self, head: bytes, key: str, tail: bytes = b"", arguments: tuple[bytes, ...] = ()
    ) -> bytes:
        """A command framed around its one key: ``head`` (the count, the name and what comes
        before the key), the namespaced key as a bulk string, ``tail`` (already framed), then
        each of ``arguments`` as a bulk string. For scripts, whose frame would cost more to
        assemble in Python than the rest of the call."""
        key_bytes = self.namespaced_key(key)
        for argument in arguments:  # all checked before anything is framed
            if type(argument) is not bytes:
                raise TypeError(f"arguments must be bytes, not {type(argument).__name__}")
        return head + _bulk(key_bytes) + tail + b"".join(_bulk(argument) for argument in arguments)

    def frame_exists(self, key: str) -> bytes:
        return _EXISTS + _bulk(self.namespaced_key(key))

    def frame_delete(self, key: str) -> bytes:
        return _DEL + _bulk(self.namespaced_key(key))
