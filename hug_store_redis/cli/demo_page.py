"""The demo's HTML: one page of plain CSS and a few lines of script, no framework."""

import html
import re
import time
from collections.abc import Mapping
from typing import Any

from ..sessions import UserSession

PRODUCTS = ("apple", "pear", "plum")
PARALLEL_REQUESTS = 20

STYLE = """<style>
:root { --ink: #1d2330; --soft: #5b6476; --line: #e3e6ee; --red: #d82c20; --ok: #17803d; --bad: #b3261e }
* { box-sizing: border-box }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: var(--ink);
  background: #f5f6fa }
header { background: var(--ink); color: #fff; padding: .8em 1.5em; display: flex; align-items: center;
  gap: 1em }
header h1 { font-size: 1.2em; margin: 0; flex: 1 } header .chip { background: #ffffff1f; color: #fff }
header code { background: none; color: #fff; padding: 0 }
main { max-width: 68em; margin: 1.2em auto; padding: 0 1em; display: grid; gap: 1em;
  grid-template-columns: repeat(3, 1fr) }
@media (max-width: 60em) { main { grid-template-columns: 1fr } }
section { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: .9em 1.1em }
section.wide { grid-column: 1 / -1 }
h2 { font-size: 1em; margin: 0 0 .6em; text-transform: uppercase; letter-spacing: .04em; color: var(--soft) }
code, .chip { font: 13px ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef0f5;
  padding: .1em .45em; border-radius: 5px }
.note { color: var(--soft); font-size: .88em } .big { font-size: 1.6em; font-weight: 600 }
button { font: inherit; border: 1px solid #c9cedb; background: #fff; border-radius: 7px; padding: .3em .8em;
  cursor: pointer } button:hover { border-color: var(--ink) }
button.primary { background: var(--red); border-color: var(--red); color: #fff }
input { font: inherit; padding: .3em .5em; border: 1px solid #c9cedb; border-radius: 7px }
form { display: inline } ul { padding-left: 1.2em; margin: .4em 0 }
table { border-collapse: collapse; width: 100% } td, th { text-align: left; padding: .35em .4em;
  border-bottom: 1px solid var(--line); vertical-align: middle } th { font-weight: 500; color: var(--soft) }
.badge { background: #e4f4ea; color: var(--ok); border-radius: 5px; padding: .1em .5em; font-size: .85em }
.row { display: flex; gap: .5em; flex-wrap: wrap; align-items: center; margin: .5em 0 }
.carts { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; margin-top: .6em }
.carts div { border: 1px solid var(--line); border-radius: 8px; padding: .6em .8em }
.landed { font-weight: 600 } .landed.all { color: var(--ok) } .landed.lost { color: var(--bad) }
.stats td { font-size: .9em; padding: .2em .4em } .stats td:nth-child(even) { text-align: right;
  font-variant-numeric: tabular-nums; padding-right: 1em }
</style>"""

SMALL_STYLE = """<style>
body { font: 15px/1.45 system-ui, sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em;
  color: #1d2330 }
code { background: #eef0f5; padding: 0 .3em; border-radius: 4px } .note { color: #5b6476; font-size: .9em }
</style>"""
"""For the small pages (not found, store unavailable)."""

HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/favicon.ico" type="image/svg+xml">{style}</head>
<body>
"""

_PAGE = (
    HEAD
    + """<header><h1>hug_store_redis demo</h1>
<span class="chip">session <code id="session-id">{short_id}</code>&hellip;</span></header>
<main>
<section>
<h2>This session</h2>
<p><span class="big" id="visits">{visits}</span> visit(s) in this session
<span class="note">(reloads count; the page a button sends you back to does not, except after
logging out: that page is the first of a new session)</span></p>
<p class="note">The session id's first 8 characters are in the bar above; it changes when you log in
or out. <a href="/session">The session as JSON</a> is a read-only request: one Redis command.
<a href="/metrics">The store's counters</a> are what Prometheus would scrape.</p>
<h2>Account</h2>
{account}
</section>
<section>
<h2>Cart</h2>
<ul id="cart">{cart}</ul>
<div class="row"><form method="post" action="/cart">{buttons}</form>
<form method="post" action="/cart/clear"><button>Empty the cart</button></form></div>
</section>
<section>
<h2>Redis</h2>
<p>{cost}</p>
<table class="stats">{stats}</table>
<p class="note">The store's counters (<code>store.stats()</code>) since the demo started.</p>
</section>
<section class="wide">
<h2>Concurrent requests</h2>
<div class="row"><button class="primary" id="parallel">Add {parallel} items at once</button>
<label><input type="checkbox" id="side-by-side" checked> side by side with last-writer-wins</label></div>
<p class="note">{parallel} <code>fetch()</code> requests leave together, each adding one item to the
session's cart with a 50&nbsp;ms pause. <code>RedisSessionMiddleware</code> writes each with compare-and-set
and, on a conflict, a <code>merge=</code> hook adds up the carts; one <code>SET</code> of the whole session,
as other stores do, keeps whichever request wrote last.</p>
<div class="carts"><div><strong>this session</strong>: compare-and-set, <code>merge=</code><br>
<span class="landed" id="parallel-result">not run yet</span></div>
<div><strong>last-writer-wins</strong><br><span class="landed" id="lww-result">not run yet</span></div></div>
</section>
{devices}
</main>
<script>
const PRODUCTS = {products};
document.getElementById("parallel").onclick = async () => {{
  const carts = async () => (await fetch("/api/carts")).json();
  const total = (cart) => Object.values(cart).reduce((a, b) => a + b, 0);
  const sideBySide = document.getElementById("side-by-side").checked;
  const before = await carts();
  const sends = [];
  for (let i = 0; i < {parallel}; i++) {{
    const item = PRODUCTS[i % PRODUCTS.length];
    for (const mode of sideBySide ? ["cas", "lww"] : ["cas"]) {{
      sends.push(fetch("/api/cart", {{method: "POST", body: new URLSearchParams({{item, mode}})}}));
    }}
  }}
  await Promise.all(sends);
  const after = await carts();
  const show = (id, landed) => {{
    const out = document.getElementById(id);
    out.textContent = `${{landed}} of {parallel} landed`;
    out.className = "landed " + (landed === {parallel} ? "all" : "lost");
  }};
  show("parallel-result", total(after.cart) - total(before.cart));
  if (sideBySide) show("lww-result", total(after.lww) - total(before.lww));
  const items = Object.keys(after.cart).sort().map((item) => `<li>${{item}}: ${{after.cart[item]}}</li>`);
  document.getElementById("cart").innerHTML = items.join("") || "<li>empty</li>";
}};
</script>
</body></html>
"""
)

NOT_FOUND = (
    HEAD
    + """<h1>Not found</h1>
<p>There is no page at this address. <a href="/">Back to the demo</a>.</p>
</body></html>
"""
)

UNAVAILABLE = (
    HEAD
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


_LOGGED_OUT = """<form method="post" action="/login">
<input name="name" placeholder="your name" maxlength="40" required> <button>Log in</button></form>
<p class="note">Log in from a second browser with the same name to see both under "Your devices".</p>"""

_LOGGED_IN = """<p>Logged in as <strong id="user">{user}</strong>.</p>
<form method="post" action="/logout"><button>Log out</button></form>"""

_DEVICES = """<section class="wide">
<h2>Your devices</h2>
<table id="devices"><tr><th>Browser</th><th>Signed in</th><th>Last seen</th><th></th></tr>
{rows}</table>
<div class="row"><form method="post" action="/devices/sign-out-others">
<button>Sign out all other devices</button></form>
<span class="note">Each row is a session of this user, found through a per-user index; the handle in
each form is not the session id.</span></div>
</section>"""

_DEVICE_ROW = (
    """<tr><td title="{agent}">{browser}</td><td>{created}</td><td>{seen}</td><td>{action}</td></tr>"""
)

_SIGN_OUT = """<form method="post" action="/devices/sign-out">
<button name="handle" value="{handle}">Sign out</button></form>"""

_BROWSERS = re.compile(r"(Edg|OPR|Firefox|HeadlessChrome|Chromium|Chrome|Safari)/(\d+)")
_SYSTEMS = (("Windows", "Windows"), ("Android", "Android"), ("iPhone", "iPhone"), ("Mac OS", "macOS"))


def render(
    session: dict[str, Any],
    session_id: str,
    *,
    devices: list[UserSession] | None,
    cost: tuple[str, Mapping[str, int]] | None,
    stats: Mapping[str, int],
) -> str:
    user = session.get("user")
    account = _LOGGED_IN.format(user=html.escape(user)) if user else _LOGGED_OUT
    cart = session.get("cart", {})
    items = "".join(f"<li>{html.escape(item)}: {count}</li>" for item, count in sorted(cart.items()))
    buttons = " ".join(f'<button name="item" value="{item}">Add {item}</button>' for item in PRODUCTS)
    return _PAGE.format(
        title="hug_store_redis demo",
        style=STYLE,
        visits=session["visits"],
        short_id=html.escape(session_id[:8]),
        account=account,
        cart=items or "<li>empty</li>",
        buttons=buttons,
        parallel=PARALLEL_REQUESTS,
        products='["' + '", "'.join(PRODUCTS) + '"]',
        devices="" if devices is None else _devices(devices),
        cost=_cost(cost),
        stats=_stats(stats),
    )


def _devices(devices: list[UserSession]) -> str:
    now = time.time()
    rows = []
    for device in devices:
        action = (
            '<span class="badge">this browser</span>'
            if device.current
            else _SIGN_OUT.format(handle=html.escape(device.handle))
        )
        rows.append(
            _DEVICE_ROW.format(
                agent=html.escape(device.user_agent),
                browser=html.escape(browser_name(device.user_agent)),
                created=_ago(now - device.created),
                seen=_ago(now - device.last_seen),
                action=action,
            )
        )
    return _DEVICES.format(rows="\n".join(rows))


def browser_name(user_agent: str) -> str:
    """ "Firefox 128 on Linux" from a User-Agent, or the header itself, cut short."""
    found = _BROWSERS.search(user_agent)
    if found is None:
        return user_agent[:40] or "unknown browser"
    system = next((name for marker, name in _SYSTEMS if marker in user_agent), "Linux")
    return f"{found[1].replace('Edg', 'Edge').replace('OPR', 'Opera')} {found[2]} on {system}"


def _ago(seconds: float) -> str:
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return f"{int(seconds // 3600)} h ago"


def _stats(stats: Mapping[str, int]) -> str:
    """Two counters a row, so the table stays short."""
    cells = [f"<td>{html.escape(name)}</td><td>{value}</td>" for name, value in stats.items()]
    return "".join(f"<tr>{''.join(cells[start : start + 2])}</tr>" for start in range(0, len(cells), 2))


def _cost(cost: tuple[str, Mapping[str, int]] | None) -> str:
    if cost is None:
        return '<span id="cost">The Redis commands of your previous request show here.</span>'
    request, commands = cost
    listed = ", ".join(
        f"<code>{html.escape(name.upper())}</code>&nbsp;&times;{n}" for name, n in commands.items()
    )
    return (
        f"Your previous request, <code>{html.escape(request)}</code>, cost Redis: "
        f'<span id="cost">{listed or "nothing"}</span>'
        '<br><span class="note">(counted by the server, so requests at the same moment add up)</span>'
    )
