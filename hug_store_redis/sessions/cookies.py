"""Session ids and the cookie that carries them: minted, recognised, and the attributes sent.

Kept apart from the middleware's request flow: what a browser is told (``Set-Cookie``) is
fixed when the middleware is built, and a cookie's value is honoured only when it has the
shape of an id this package mints (``is_session_id``), so a client cannot choose its own.
"""

import datetime
import re
import secrets

from ..codec import is_session_id

__all__ = [
    "EXPIRED",
    "SAME_SITE_VALUES",
    "SESSION_ID_BYTES",
    "attributes",
    "check_cookie",
    "cookie_flags",
    "http_date",
    "is_session_id",
    "lifetime",
    "new_session_id",
]

SESSION_ID_BYTES = 32
"""``secrets.token_urlsafe(32)``: 256 random bits, 43 URL-safe characters."""

SAME_SITE_VALUES = ("Lax", "Strict", "None")
EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
_COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def check_cookie(name: str, same_site: str | None, secure: bool) -> None:
    """Refuse, at start-up, a cookie that browsers would drop or that could not be parsed."""
    if not _COOKIE_NAME.fullmatch(name):
        raise ValueError(f"cookie_name {name!r} is not a valid cookie name")
    if same_site not in (*SAME_SITE_VALUES, None):
        raise ValueError(f"cookie_same_site must be one of {SAME_SITE_VALUES} or None")
    if same_site == "None" and not secure:
        raise ValueError("browsers reject SameSite=None without Secure: set cookie_secure=True")


def cookie_flags(
    domain: str | None, path: str | None, secure: bool, http_only: bool, same_site: str | None
) -> list[str]:
    """The attributes a session cookie and its expired twin share (a browser matches on them)."""
    flags = []
    if domain is not None:
        flags.append(f"Domain={domain}")
    if path is not None:
        flags.append(f"Path={path}")
    if secure:
        flags.append("Secure")
    if http_only:
        flags.append("HttpOnly")
    if same_site is not None:
        flags.append(f"SameSite={same_site}")
    return flags


def lifetime(expires: datetime.datetime | None, max_age: int | None) -> list[str]:
    """``Expires`` and ``Max-Age``, as given: none of them makes a browser-session cookie."""
    parts = []
    if expires is not None:
        parts.append("Expires=" + http_date(expires))
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return parts


def attributes(parts: list[str]) -> str:
    """What follows ``name=value`` in ``Set-Cookie``, built once per middleware."""
    return "".join("; " + part for part in parts)


def http_date(moment: datetime.datetime) -> str:
    """Cookie dates are always GMT; a naive datetime is taken as UTC, as falcon does."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")
