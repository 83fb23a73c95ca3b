"""Passwords of every printable character class, URLs that carry them, and the leak check.

A leak is any four characters in a row of the password, as written, percent-encoded or
percent-decoded, showing up in text a user sees (an exception, stderr, stdout). Runs that
the same kind of output also holds for a harmless password (the host, the scheme, the
fixed wording) are not evidence of anything, so a test leaves out passwords that share a
run with that boilerplate.
"""

import string
from collections.abc import Iterable
from urllib.parse import quote, unquote

from hypothesis import strategies as st

#: Every printable ASCII class: letters, digits, each punctuation character, and space.
ALPHABET = string.ascii_letters + string.digits + string.punctuation + " "
#: Short passwords that each hold one character a URL treats specially.
PROBES = ("pw", "p/w", "p#w", "p?w", "p@w", "p:w", "p%w", "p[w", "p]w", "p w", "p&w", "p%2Fw")
#: Fixed passwords for the slow (subprocess) tests: each special character, with a username.
NASTY = (
    "Kx7/vQ2m",
    "Kx7#vQ2m",
    "Kx7?vQ2m",
    "Kx7@vQ2m",
    "Kx[7]v:Q2m",
    "Kx7%vQ 2m",
    "Kx7%2FvQ2m",
)

passwords = st.text(alphabet=ALPHABET, min_size=4, max_size=24)
usernames = st.sampled_from(["", "app", "app-1.x_y~z"])


USERINFO_TEMPLATES = (
    *(f"{scheme}://{{user}}:{{secret}}@127.0.0.1:1/0" for scheme in ("redis", "rediss")),
    *(f"{scheme}://{{user}}:{{secret}}@127.0.0.1:1/0" for scheme in ("redis+cluster", "rediss+cluster")),
    "unix://{user}:{secret}@/nonexistent/redis.sock",
)


def userinfo_urls(user: str, password: str) -> list[tuple[str, str]]:
    """The password in the user info of every scheme, as written and percent-encoded; each
    URL with the form a mask should give it."""
    return [
        (template.format(user=user, secret=secret), template.format(user=user, secret="***"))
        for secret in (password, quote(password, safe=""))
        for template in USERINFO_TEMPLATES
    ]


def query_urls(password: str, port: int = 1) -> list[str]:
    """The password as ``?password=``, as written and percent-encoded."""
    urls = []
    for secret in (password, quote(password, safe="")):
        urls.append(f"unix:///nonexistent/redis.sock?password={secret}")
        urls.append(f"unix:///nonexistent/redis.sock?db=0&password={secret}&socket_timeout=1")
        urls.append(f"redis://127.0.0.1:{port}/0?password={secret}")
        urls.append(f"redis+cluster://127.0.0.1:{port}?password={secret}")
    return urls


def runs(password: str) -> set[str]:
    """Every four characters in a row of the password in each of its spellings."""
    found = set()
    for spelling in {password, quote(password, safe=""), quote(password), unquote(password)}:
        found |= {spelling[i : i + 4] for i in range(len(spelling) - 3)}
    return found


def leaked(password: str, text: str) -> list[str]:
    """The runs of the password that ``text`` holds."""
    return sorted(run for run in runs(password) if run in text)


def exception_text(error: BaseException) -> str:
    """The messages of an exception and of everything chained to it, as a traceback shows."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts.append(f"{type(current).__name__}: {current}")
        suppressed = current.__suppress_context__
        current = current.__cause__ or (None if suppressed else current.__context__)
    return "\n".join(texts)


def joined(texts: Iterable[str]) -> str:
    return "\n".join(texts)
