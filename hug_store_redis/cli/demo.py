"""The demo: an ordinary hug app whose visit counter, login and cart live in Redis.

``hug-store-redis demo`` serves it with ``run``; tests build it with ``build_api`` and
serve it with ``make_server``.
"""

import contextlib
import logging
import shlex
import signal
import sys
import time
import uuid
import wsgiref.simple_server
from collections.abc import Sequence
from pathlib import Path
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import hug
import redis
from hug.exceptions import StoreKeyNotFound

from ..clients import mask_url
from ..sessions import RedisSessionMiddleware, Session, rebase
from ..store import RedisStore
from .demo_costs import RequestCosts
from .demo_metrics import exposition_of
from .demo_page import FAVICON, NOT_FOUND, PRODUCTS, SMALL_STYLE, UNAVAILABLE, render
from .support import URL_VARIABLE, UserError, client_or_embedded, protected_store, protection_from_environment

NAMESPACE = "demo"
LWW_NAMESPACE = "demo-lww"
"""The side-by-side cart, written the way other stores write: one SET of the whole value."""
FROM_FORM = "from_form"
"""Session flag set by every form action, so the page its redirect lands on is not a visit."""
HANDLER_WORK = 0.05
"""Seconds each concurrent add-to-cart handler spends between its read and its write."""

logger = logging.getLogger(__name__)


def _svg_bytes(content: str, **kwargs: Any) -> bytes:
    return content.encode()


_svg = hug.format.content_type("image/svg+xml")(_svg_bytes)


def _text_bytes(content: str, **kwargs: Any) -> bytes:
    return content.encode()


_as_text = hug.format.content_type("text/plain")(_text_bytes)  # the handler sets the exact type


def build_api(
    store: RedisStore,
    *,
    cookie_secure: bool = False,
    key_secrets: Sequence[bytes] | None = None,
    encryption_keys: Sequence[bytes] | None = None,
) -> hug.API:
    """A fresh hug API (its own name, so routes never leak between instances).

    ``cookie_secure`` is off by default because the demo serves plain HTTP; behind HTTPS
    turn it on. ``key_secrets`` and ``encryption_keys`` protect the side-by-side cart's store
    as they protect ``store``: Redis then holds no id of either.
    """
    api = hug.API(f"hug_store_redis_demo_{uuid.uuid4().hex}")
    sessions = RedisSessionMiddleware(store, cookie_secure=cookie_secure, merge=merge_carts)
    costs = RequestCosts(store.connection, sessions)
    api.http.add_middleware(costs)  # first in, so its response hook runs after the session's write
    api.http.add_middleware(sessions)
    lww_store = RedisStore(
        store.connection,
        namespace=LWW_NAMESPACE,
        expiration=store.expiration,
        key_secrets=key_secrets,
        encryption_keys=encryption_keys,
    )
    exposition = exposition_of(store, lww_store)

    # hug reads annotations as input types and output transforms but skips strings, so the
    # handlers' own types are written as strings.

    def home(request: "Any") -> "str":
        """A visit is a page view the user asked for: not the redirect after a form action.

        Two tabs at once: a reload in one tab between another tab's POST and its redirect
        is the view left uncounted instead; the total stays right.
        """
        session = request.context["session"]
        session_id = _current_id(sessions, request)
        counted = 0 if session.pop(FROM_FORM, False) else 1
        session["visits"] = session.get("visits", 0) + counted
        user = session.get("user")
        devices = sessions.user_sessions(user, current=request) if user else None
        shown = _shown_id(store, session_id)
        return render(session, shown, devices=devices, cost=costs.last(session_id), stats=store.stats())

    def show_session(request: "Any") -> "dict[str, Any]":
        session: dict[str, Any] = request.context["session"]
        return session

    def login(request: "Any", name: hug.types.length(1, 41)) -> "None":  # type: ignore[valid-type]
        sessions.regenerate(request)  # a new id at every privilege change
        sessions.bind_user(request, name)  # listed under "Your devices" from now on
        request.context["session"]["user"] = name
        _back_home(request)

    def logout(request: "Any") -> "None":
        """Nothing goes into the session after ``destroy``: that would start a new one, and
        the response would set its cookie instead of expiring this one. So the page the
        redirect lands on is the first view of a new session, and counts as one."""
        sessions.destroy(request)
        hug.redirect.see_other("/")

    def add_to_cart(request: "Any", item: hug.types.one_of(PRODUCTS)) -> "None":  # type: ignore[valid-type]
        cart = request.context["session"].setdefault("cart", {})
        cart[item] = cart.get(item, 0) + 1
        _back_home(request)

    def clear_cart(request: "Any") -> "None":
        request.context["session"].pop("cart", None)
        if request.context["session"]:
            lww_store.delete(_current_id(sessions, request))
        _back_home(request)

    def sign_out_device(request: "Any", handle: hug.types.text) -> "None":
        user = request.context["session"].get("user")
        if user:
            sessions.destroy_user_session(user, handle)
        _back_home(request)

    def sign_out_others(request: "Any") -> "None":
        user = request.context["session"].get("user")
        if user:
            sessions.destroy_user_sessions(user, keep=request)
        _back_home(request)

    def add_at_once(
        request: "Any",
        item: hug.types.one_of(PRODUCTS),  # type: ignore[valid-type]
        mode: hug.types.one_of(("cas", "lww")),  # type: ignore[valid-type]
    ) -> "bool":
        """One of the page's parallel requests; False when this browser has no session.

        "cas" is an ordinary handler on the session: the middleware's compare-and-set write
        and ``merge_carts`` keep every overlapping add. "lww" writes the way other stores do.
        """
        session = request.context["session"]
        if not session:
            return False
        if mode == "lww":
            return _add_last_writer_wins(lww_store, _current_id(sessions, request), item)
        cart = session.setdefault("cart", {})
        cart[item] = cart.get(item, 0) + 1
        _work()
        return True

    def carts(request: "Any") -> "dict[str, Any]":
        session = request.context["session"]
        lww: dict[str, Any] = {}
        if session:
            with contextlib.suppress(StoreKeyNotFound):
                lww = lww_store.get(_current_id(sessions, request)).get("cart", {})
        return {"cart": session.get("cart", {}), "lww": lww}

    def favicon(response: "Any") -> "str":
        response.set_header("Cache-Control", "max-age=86400")
        return FAVICON

    def metrics(response: "Any") -> "str":
        response.status, response.content_type, body = exposition()
        return body

    def not_found() -> "str":
        return NOT_FOUND.format(title="Not found", style=SMALL_STYLE)

    hug.get("/", output=hug.output_format.html, api=api)(home)
    hug.get("/session", api=api)(show_session)
    hug.get("/favicon.ico", output=_svg, api=api)(favicon)
    hug.get("/metrics", output=_as_text, api=api)(metrics)
    hug.post("/login", api=api)(login)
    hug.post("/logout", api=api)(logout)
    hug.post("/cart", api=api)(add_to_cart)
    hug.post("/cart/clear", api=api)(clear_cart)
    hug.post("/devices/sign-out", api=api)(sign_out_device)
    hug.post("/devices/sign-out-others", api=api)(sign_out_others)
    hug.post("/api/cart", api=api)(add_at_once)
    hug.get("/api/carts", api=api)(carts)
    hug.not_found(output=hug.output_format.html, api=api)(not_found)
    return api


def merge_carts(base: Session, mine: Session, theirs: Session) -> Session:
    """Carts add up: this request's additions land on the cart another request wrote meanwhile.

    Each count is theirs + (mine - base); every other key is rebased as the middleware does
    without a hook (this request wins the keys it changed), and so is an emptied cart.
    """
    merged = rebase(base, mine, theirs)
    if "cart" in mine and mine["cart"] != base.get("cart"):
        base_cart, my_cart, their_cart = base.get("cart", {}), mine["cart"], theirs.get("cart", {})
        counts = {
            item: their_cart.get(item, 0) + my_cart.get(item, 0) - base_cart.get(item, 0)
            for item in dict.fromkeys([*their_cart, *my_cart, *base_cart])
        }
        merged["cart"] = {item: count for item, count in counts.items() if count > 0}
    return merged


def _work() -> None:
    """The handler's work between reading the session and writing it: what makes requests overlap."""
    time.sleep(HANDLER_WORK)


def _add_last_writer_wins(store: RedisStore, session_id: str, item: str) -> bool:
    """What a store without conditional writes does: read the whole value, write the whole value."""
    try:
        session = store.get(session_id)
    except StoreKeyNotFound:
        session = {}
    _work()
    cart = session.setdefault("cart", {})
    cart[item] = cart.get(item, 0) + 1
    store.set(session_id, session)
    return True


def _shown_id(store: RedisStore, session_id: str) -> str:
    """What the page shows of its session (8 characters of it): the id, or under ``key_secrets``
    the handle Redis knows it by, which is what ``sessions ls`` and a SCAN list."""
    if not store.hashed_keys:
        return session_id
    return store.namespaced_key(session_id)[len(store.namespace) + 1 :].decode("ascii")


def _back_home(request: Any) -> None:
    request.context["session"][FROM_FORM] = True
    hug.redirect.see_other("/")


def _current_id(sessions: RedisSessionMiddleware, request: Any) -> str:
    """The id this response's session is stored under.

    The demo never stores an empty session, so a non-empty one came from Redis under the
    cookie's id; an empty one (new or expired) gets its id now instead of after rendering.
    """
    if request.context["session"]:
        return str(request.get_cookie_values(sessions.cookie_name)[0])
    return sessions.regenerate(request)


def _store_unavailable(request: Any, response: Any, error: Exception, params: Any) -> None:
    """One log line and a page that says what is wrong, instead of a 500 and a traceback."""
    logger.warning(
        "[%s] %s %s: 503, session store unavailable: %s", NAMESPACE, request.method, request.path, error
    )
    response.status = "503 Service Unavailable"
    response.content_type = "text/html; charset=utf-8"
    response.set_header("Retry-After", "5")
    response.body = UNAVAILABLE.format(title="Session store unavailable", style=SMALL_STYLE)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """Browsers open several connections at once; one thread each keeps the page snappy."""

    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """No access log: the demo's stderr carries only what needs attention."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_server(api: hug.API, host: str, port: int) -> WSGIServer:
    """A bound (not yet serving) stdlib HTTP server: no extra dependency for a demo."""
    app = api.http.server()
    app.add_error_handler(redis.ConnectionError, _store_unavailable)
    app.add_error_handler(redis.TimeoutError, _store_unavailable)
    return wsgiref.simple_server.make_server(
        host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )


class _StopSignal(BaseException):
    """A BaseException, like KeyboardInterrupt: socketserver's ``except Exception`` must not catch it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopSignal(signum)


def serve_until_signal(httpd: WSGIServer) -> str:
    """Serve until SIGINT, SIGTERM or SIGHUP; the name of the signal that stopped it.

    The demo sets its own handlers: a shell starts background jobs with SIGINT ignored,
    and the defaults of SIGTERM and SIGHUP (a closed terminal) would skip the clean-up
    that stops the embedded Redis.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, _raise_stop) for signum in stop_signals}
    try:
        httpd.serve_forever()
    except _StopSignal as stop:
        return str(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return "shutdown"


def run(url: str | None, host: str, port: int) -> int:
    """The ``demo`` subcommand: serve until Ctrl-C or SIGTERM, then stop cleanly (status 0)."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {port}")
    logging.basicConfig(format="hug-store-redis demo: %(message)s", level=logging.WARNING)
    protection = protection_from_environment()  # key_secrets, encryption_keys, as the sessions CLI
    with contextlib.ExitStack() as stack:
        client, url, where = client_or_embedded(stack, url)
        store = protected_store(client, NAMESPACE, protection)
        try:
            httpd = make_server(build_api(store, **protection), host, port)
        except OSError as error:
            raise UserError(f"cannot listen on {host}:{port}: {error}") from None
        stack.callback(httpd.server_close)
        print(f"hug_store_redis demo: open http://{host}:{httpd.server_port}/", flush=True)
        print(f"sessions in Redis: {where}; Ctrl-C to stop", flush=True)
        protected = any(value is not None for value in protection.values())
        print(f"namespace {NAMESPACE} on {mask_url(url)}; {_see_them(url, protected)}", flush=True)
        stopped_by = serve_until_signal(httpd)
        print(f"hug-store-redis demo: stopping on {stopped_by}", file=sys.stderr, flush=True)
    return 0


def _see_them(url: str, protected: bool = False) -> str:
    """The command that lists the demo's sessions, runnable as copied.

    A URL with a password is never printed: the command reads it from ``$REDIS_URL``
    instead of carrying a masked copy, which would not connect. Nor are secrets: with
    them, the command needs the same environment as the demo.
    """
    script = _console_script()
    same = " and the demo's HUG_STORE_REDIS_* secrets" if protected else ""
    if mask_url(url) == url:
        where = " (with the demo's HUG_STORE_REDIS_* secrets)" if protected else ""
        return f"see them{where}: {script} sessions ls --url {shlex.quote(url)} --namespace {NAMESPACE}"
    return (
        f"see them (with REDIS_URL holding that URL, password included{same}): "
        f'{script} sessions ls --url "${URL_VARIABLE}" --namespace {NAMESPACE}'
    )


def _console_script() -> str:
    """The CLI as a command that runs from any shell: a venv's script is not on PATH by itself."""
    script = Path(sys.executable).with_name("hug-store-redis")
    return (
        shlex.quote(str(script)) if script.exists() else f"{shlex.quote(sys.executable)} -m hug_store_redis"
    )
