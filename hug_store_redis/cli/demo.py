"""The demo: an ordinary hug app whose visit counter, login and cart live in Redis.

``hug-store-redis demo`` serves it with ``run``; tests build it with ``build_api`` and
serve it with ``make_server``.
"""

import contextlib
import html
import logging
import signal
import sys
import uuid
import wsgiref.simple_server
from socketserver import ThreadingMixIn
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import hug
import redis

from ..connect import mask_url
from ..middleware import RedisSessionMiddleware
from ..store import RedisStore
from .support import UserError, client_or_embedded, given_url

PRODUCTS = ("apple", "pear", "plum")
NAMESPACE = "demo"
FROM_FORM = "from_form"
"""Session flag set by every form action, so the page its redirect lands on is not a visit."""

logger = logging.getLogger(__name__)

_STYLE = """<style>
body { font-family: sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; color: #222 }
h1 { font-size: 1.5em } h2 { font-size: 1.1em; margin-top: 1.5em }
code { background: #f2f2f2; padding: 0 .3em } .note { color: #666; font-size: .9em }
</style>"""

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">{style}</head>
<body>
"""

_PAGE = (
    _HEAD
    + """<h1>hug_store_redis demo</h1>
<p>You have visited this page <strong id="visits">{visits}</strong> time(s) in this session
(reloads count; the page a button sends you back to does not).</p>
<p>Session id: <code id="session-id">{short_id}</code>&hellip;
<span class="note">(the first 8 characters; it changes when you log in or out)</span></p>
<h2>Account</h2>
{account}
<h2>Cart</h2>
<ul id="cart">{cart}</ul>
<form method="post" action="/cart">{buttons}</form>
<form method="post" action="/cart/clear"><button>Empty the cart</button></form>
<p><a href="/session">The session as JSON</a> (a read-only request: one Redis command).</p>
</body></html>
"""
)

_LOGGED_OUT = """<form method="post" action="/login">
<input name="name" placeholder="your name" maxlength="40" required> <button>Log in</button></form>"""

_LOGGED_IN = """<p>Logged in as <strong id="user">{user}</strong>.</p>
<form method="post" action="/logout"><button>Log out</button></form>"""

_NOT_FOUND = (
    _HEAD
    + """<h1>Not found</h1>
<p>There is no page at this address. <a href="/">Back to the demo</a>.</p>
</body></html>
"""
)

_UNAVAILABLE = (
    _HEAD
    + """<h1>Session store unavailable</h1>
<p>The demo keeps your session in Redis, and Redis is not answering right now, so this page
cannot be shown (HTTP 503). Nothing was changed. Start Redis again and reload.</p>
<p class="note">An application can instead serve pages with an empty, unsaved session while
Redis is down: <code>RedisSessionMiddleware(store, on_error="degrade")</code>.</p>
</body></html>
"""
)

FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#d82c20"/>'
    '<path d="M4 4v8M12 4v8M4 8h8" stroke="#fff" stroke-width="2"/></svg>'
)


def _svg_bytes(content: str, **kwargs: Any) -> bytes:
    return content.encode()


_svg = hug.format.content_type("image/svg+xml")(_svg_bytes)


def build_api(store: RedisStore, *, cookie_secure: bool = False) -> hug.API:
    """A fresh hug API (its own name, so routes never leak between instances).

    ``cookie_secure`` is off by default because the demo serves plain HTTP; behind HTTPS
    turn it on.
    """
    api = hug.API(f"hug_store_redis_demo_{uuid.uuid4().hex}")
    sessions = RedisSessionMiddleware(store, cookie_secure=cookie_secure)
    api.http.add_middleware(sessions)

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
        return render(session, session_id)

    def show_session(request: "Any") -> "dict[str, Any]":
        session: dict[str, Any] = request.context["session"]
        return session

    def login(request: "Any", name: hug.types.length(1, 41)) -> "None":  # type: ignore[valid-type]
        sessions.regenerate(request)  # a new id at every privilege change
        request.context["session"]["user"] = name
        _back_home(request)

    def logout(request: "Any") -> "None":
        sessions.destroy(request)
        _back_home(request)

    def add_to_cart(request: "Any", item: hug.types.one_of(PRODUCTS)) -> "None":  # type: ignore[valid-type]
        cart = request.context["session"].setdefault("cart", {})
        cart[item] = cart.get(item, 0) + 1
        _back_home(request)

    def clear_cart(request: "Any") -> "None":
        request.context["session"].pop("cart", None)
        _back_home(request)

    def favicon(response: "Any") -> "str":
        response.set_header("Cache-Control", "max-age=86400")
        return FAVICON

    def not_found() -> "str":
        return _NOT_FOUND.format(title="Not found", style=_STYLE)

    hug.get("/", output=hug.output_format.html, api=api)(home)
    hug.get("/session", api=api)(show_session)
    hug.get("/favicon.ico", output=_svg, api=api)(favicon)
    hug.post("/login", api=api)(login)
    hug.post("/logout", api=api)(logout)
    hug.post("/cart", api=api)(add_to_cart)
    hug.post("/cart/clear", api=api)(clear_cart)
    hug.not_found(output=hug.output_format.html, api=api)(not_found)
    return api


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


def render(session: dict[str, Any], session_id: str) -> str:
    user = session.get("user")
    account = _LOGGED_IN.format(user=html.escape(user)) if user else _LOGGED_OUT
    cart = session.get("cart", {})
    items = "".join(f"<li>{html.escape(item)}: {count}</li>" for item, count in sorted(cart.items()))
    buttons = " ".join(f'<button name="item" value="{item}">Add {item}</button>' for item in PRODUCTS)
    return _PAGE.format(
        title="hug_store_redis demo",
        style=_STYLE,
        visits=session["visits"],
        short_id=html.escape(session_id[:8]),
        account=account,
        cart=items or "<li>empty</li>",
        buttons=buttons,
    )


def _store_unavailable(request: Any, response: Any, error: Exception, params: Any) -> None:
    """One log line and a page that says what is wrong, instead of a 500 and a traceback."""
    logger.warning("%s %s: 503, session store unavailable: %s", request.method, request.path, error)
    response.status = "503 Service Unavailable"
    response.content_type = "text/html; charset=utf-8"
    response.set_header("Retry-After", "5")
    response.body = _UNAVAILABLE.format(title="Session store unavailable", style=_STYLE)


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
    """Serve until SIGINT or SIGTERM; the name of the signal that stopped it.

    The demo sets its own handlers: a shell starts background jobs with SIGINT ignored,
    and SIGTERM's default would skip the clean-up that stops the embedded Redis.
    """
    stop_signals = (signal.SIGINT, signal.SIGTERM)
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
    from .embedded import EmbeddedRedis, RedisServerNotFound

    if not 0 <= port <= 65535:
        raise UserError(f"--port must be between 0 and 65535, got {port}")
    logging.basicConfig(format="hug-store-redis demo: %(message)s", level=logging.WARNING)
    with contextlib.ExitStack() as stack:
        url = given_url(url)
        if url is None:
            try:
                embedded = stack.enter_context(EmbeddedRedis())
            except RedisServerNotFound as error:
                raise UserError(str(error)) from None
            url = embedded.url
            where = f"embedded redis-server on {embedded.host}:{embedded.port}, stopped on exit"
        else:
            where = mask_url(url)
        client, _ = client_or_embedded(stack, url)
        try:
            httpd = make_server(build_api(RedisStore(client, namespace=NAMESPACE)), host, port)
        except OSError as error:
            raise UserError(f"cannot listen on {host}:{port}: {error}") from None
        stack.callback(httpd.server_close)
        print(f"hug_store_redis demo: open http://{host}:{httpd.server_port}/", flush=True)
        print(f"sessions in Redis: {where}; Ctrl-C to stop", flush=True)
        command = f"hug-store-redis sessions ls --url {mask_url(url)} --namespace {NAMESPACE}"
        print(f"namespace {NAMESPACE} on {mask_url(url)}; see them: {command}", flush=True)
        stopped_by = serve_until_signal(httpd)
        print(f"hug-store-redis demo: stopping on {stopped_by}", file=sys.stderr, flush=True)
    return 0
