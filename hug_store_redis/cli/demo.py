"""The demo: an ordinary hug app whose visit counter, login and cart live in Redis.

``python -m hug_store_redis demo`` serves it; tests and benchmarks build it with
``build_api`` and call it like any hug API.
"""

import html
import uuid
import wsgiref.simple_server
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIServer

import hug

from ..middleware import RedisSessionMiddleware
from ..store import RedisStore

PRODUCTS = ("apple", "pear", "plum")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hug_store_redis demo</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>hug_store_redis demo</h1>
<p>You have visited this page <strong id="visits">{visits}</strong> time(s) in this session.</p>
<h2>Account</h2>
{account}
<h2>Cart</h2>
<ul id="cart">{cart}</ul>
<form method="post" action="/cart">{buttons}</form>
<form method="post" action="/cart/clear"><button>Empty the cart</button></form>
<p><a href="/session">The session as JSON</a> (a read-only request: one Redis command).</p>
</body></html>
"""

_LOGGED_OUT = """<form method="post" action="/login">
<input name="name" placeholder="your name" maxlength="40" required> <button>Log in</button></form>"""

_LOGGED_IN = """<p>Logged in as <strong id="user">{user}</strong>.</p>
<form method="post" action="/logout"><button>Log out</button></form>"""


def build_api(store: RedisStore, *, cookie_secure: bool = False) -> hug.API:
    """A fresh hug API (its own name, so routes never leak between instances).

    ``cookie_secure`` is off by default because the demo serves plain HTTP on localhost,
    where a browser would never send a Secure cookie back.
    """
    api = hug.API(f"hug_store_redis_demo_{uuid.uuid4().hex}")
    sessions = RedisSessionMiddleware(store, cookie_secure=cookie_secure)
    api.http.add_middleware(sessions)

    # hug reads annotations as input types and output transforms but skips strings, so the
    # handlers' own types are written as strings.

    def home(request: "Any") -> "str":
        session = request.context["session"]
        session["visits"] = session.get("visits", 0) + 1
        return render(session)

    def show_session(request: "Any") -> "dict[str, Any]":
        session: dict[str, Any] = request.context["session"]
        return session

    def login(request: "Any", name: hug.types.length(1, 41)) -> "None":  # type: ignore[valid-type]
        sessions.regenerate(request)  # a new id at every privilege change
        request.context["session"]["user"] = name
        hug.redirect.see_other("/")

    def logout(request: "Any") -> "None":
        sessions.destroy(request)
        hug.redirect.see_other("/")

    def add_to_cart(request: "Any", item: hug.types.one_of(PRODUCTS)) -> "None":  # type: ignore[valid-type]
        cart = request.context["session"].setdefault("cart", {})
        cart[item] = cart.get(item, 0) + 1
        hug.redirect.see_other("/")

    def clear_cart(request: "Any") -> "None":
        request.context["session"].pop("cart", None)
        hug.redirect.see_other("/")

    hug.get("/", output=hug.output_format.html, api=api)(home)
    hug.get("/session", api=api)(show_session)
    hug.post("/login", api=api)(login)
    hug.post("/logout", api=api)(logout)
    hug.post("/cart", api=api)(add_to_cart)
    hug.post("/cart/clear", api=api)(clear_cart)
    return api


def render(session: dict[str, Any]) -> str:
    user = session.get("user")
    account = _LOGGED_IN.format(user=html.escape(user)) if user else _LOGGED_OUT
    cart = session.get("cart", {})
    items = "".join(f"<li>{html.escape(item)}: {count}</li>" for item, count in sorted(cart.items()))
    buttons = " ".join(f'<button name="item" value="{item}">Add {item}</button>' for item in PRODUCTS)
    return _PAGE.format(
        visits=session["visits"], account=account, cart=items or "<li>empty</li>", buttons=buttons
    )


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """Browsers open several connections at once; one thread each keeps the page snappy."""

    daemon_threads = True


def make_server(api: hug.API, host: str, port: int) -> WSGIServer:
    """A bound (not yet serving) stdlib HTTP server: no extra dependency for a demo."""
    return wsgiref.simple_server.make_server(host, port, api.http.server(), server_class=_ThreadingWSGIServer)
