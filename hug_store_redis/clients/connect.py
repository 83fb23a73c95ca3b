"""Redis clients from URLs, with errors that name the URL but never its password.

``redis://``, ``rediss://`` (TLS) and ``unix://`` give a ``redis.Redis``; the same URLs
with ``+cluster`` (``redis+cluster://``, ``rediss+cluster://``), or ``cluster=True``,
give a ``redis.cluster.RedisCluster`` that discovers the other nodes from the one named.
With valkey-py installed, ``valkey://`` and ``valkeys://`` (and their ``+cluster``
forms) give a ``valkey.Valkey`` (a ``valkey.cluster.ValkeyCluster``) the same way.

The URL and the keyword arguments are checked here, against what the library's
connection, pool and cluster classes accept, because redis-py (and valkey-py) only
complain (or silently ignore them) when the first connection is made.
"""

import functools
import inspect
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

import redis
import redis.connection

from ..errors import InvalidURLError as InvalidURLError
from ..errors import ServerUnreachableError as ServerUnreachableError
from .families import REDIS, UNREACHABLE_ERRORS, VALKEY, ClientFamily

PLAIN_SCHEMES = ("redis", "rediss", "unix", "valkey", "valkeys")
CLUSTER_SCHEMES = {
    "redis+cluster": "redis",
    "rediss+cluster": "rediss",
    "valkey+cluster": "valkey",
    "valkeys+cluster": "valkeys",
}
#: The kind of socket (``ClientFamily.connections``) each plain scheme opens.
SOCKET_KINDS = {"redis": "tcp", "rediss": "tls", "unix": "unix", "valkey": "tcp", "valkeys": "tls"}
VALKEY_SCHEMES = ("valkey", "valkeys")
#: Query parameters whose values are secrets: masked like the password in the user info.
SECRET_PARAMETERS = ("password", "ssl_password")


# The password in the user info runs to the LAST "@": a password holding an unescaped
# "/", "?", "#" or "@" is still hidden, at the price of hiding more of a broken URL.
_USERINFO_PASSWORD = re.compile(r"^([^:/?#]+://[^:@]*:)(.*)@", re.DOTALL)
_QUERY_SECRET = re.compile(r"([?&](?:ssl_)?password=)", re.IGNORECASE)

#: Keywords that make sense as text in a URL's query; the rest need Python objects.
TEXT_QUERY_PARAMETERS = frozenset(
    {"password", "username", "client_name", "lib_name", "lib_version", "encoding", "encoding_errors"}
    | {f"ssl_{name}" for name in ("keyfile", "certfile", "cert_reqs", "ca_certs", "ca_data", "ca_path")}
    | {"ssl_password", "ssl_ciphers"}
)


def _keywords_of(function: Any) -> tuple[set[str], bool]:
    """The keyword names ``function`` takes, and whether it also takes ``**kwargs``."""
    names, open_ended = set(), False
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            open_ended = True
        elif parameter.kind is not parameter.VAR_POSITIONAL and parameter.name != "self":
            names.add(parameter.name)
    return names, open_ended


@functools.cache
def _connection_keywords(connection_class: type) -> frozenset[str]:
    """Keywords a connection of ``connection_class`` takes, following ``**kwargs`` up its bases."""
    accepted: set[str] = set()
    for base in connection_class.__mro__:
        if "__init__" in vars(base):
            names, open_ended = _keywords_of(vars(base)["__init__"])
            accepted |= names
            if not open_ended:
                break
    return frozenset(accepted)


@functools.cache
def accepted_keywords(connection_class: type, cluster: bool, family: ClientFamily = REDIS) -> frozenset[str]:
    """What ``redis.Redis.from_url`` (``valkey.Valkey.from_url``) passes on to its pool and
    from there to each connection, or what the cluster class takes itself and passes on to
    its nodes (it drops the rest silently)."""
    pool = _keywords_of(vars(family.pool)["__init__"])[0]
    plain = pool | _connection_keywords(connection_class) | {"single_connection_client"}
    if not cluster:
        return frozenset(plain)
    passed_on = family.cluster_passes_on & plain
    return frozenset(_keywords_of(family.cluster.__init__)[0] - {"url", "startup_nodes"} | passed_on)


def query_parameters(connection_class: type, cluster: bool, family: ClientFamily = REDIS) -> frozenset[str]:
    """The keywords a URL's query may set: those the library casts from text, and text options."""
    text = TEXT_QUERY_PARAMETERS | set(family.query_parsers)
    return accepted_keywords(connection_class, cluster, family) & text


@functools.cache
def _next_parameter() -> "re.Pattern[str]":
    names = query_parameters(redis.connection.SSLConnection, False) | set(SECRET_PARAMETERS)
    return re.compile(rf"&(?:{'|'.join(sorted(names))})=", re.IGNORECASE)


def _secret_spans(url: str) -> list[tuple[int, int]]:
    """Where ``url`` holds a password, in order and not overlapping: after ``user:`` up to
    the last ``@``, and the value of each ``?password=``, up to the next ``&`` that starts a
    parameter redis-py knows, else to the end (so an unescaped ``&`` or ``#`` in the
    password stays hidden)."""
    spans = []
    userinfo = _USERINFO_PASSWORD.match(url)
    if userinfo:
        spans.append(userinfo.span(2))
    next_parameter = _next_parameter()
    for found in _QUERY_SECRET.finditer(url):
        following = next_parameter.search(url, found.end())
        spans.append((found.end(), following.start() if following else len(url)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe for logs and error messages.

    Textual, not parsed and rebuilt: the rest of the URL is shown exactly as given, even
    when it is too broken to parse.
    """
    for start, end in reversed(_secret_spans(url)):
        url = f"{url[:start]}***{url[end:]}"
    return url


def redact(text: str, url: str) -> str:
    """``text`` (an error message about ``url``), or a placeholder when it quotes a password
    in ``url``.

    The rule: ``text`` quotes the password when it holds it whole (as written in the URL,
    percent-decoded, or with ``+`` read as a space) and not as part of a longer word: where
    the password begins or ends with a letter or digit, the character beside it in ``text``
    must not be one. The whole password is what a message can quote (an echoed URL or
    command); a fragment of it cannot reach redis-py, because ``_check_url`` refuses every
    URL that redis-py would split inside a password. Matching fragments, as this once did
    (any four characters in a row), hid server messages the user needs: the password
    ``Wr0ng/pass`` withheld "invalid username-password pair".
    """
    for start, end in _secret_spans(url):
        written = url[start:end]
        for secret in {written, unquote(written), unquote_plus(written)}:
            if secret and _holds_as_word(text, secret):
                return "(details withheld: they quote the password)"
    return text


def _holds_as_word(text: str, secret: str) -> bool:
    """Whether ``secret`` occurs in ``text`` not run into letters or digits on a side where
    it has one itself."""
    at = text.find(secret)
    while at >= 0:
        after = at + len(secret)
        joined_before = at > 0 and secret[0].isalnum() and text[at - 1].isalnum()
        joined_after = after < len(text) and secret[-1].isalnum() and text[after].isalnum()
        if not (joined_before or joined_after):
            return True
        at = text.find(secret, at + 1)
    return False


def _about(url: str, error: Exception, kind: type[Exception]) -> tuple[Exception, Exception | None]:
    """A ``kind`` error naming the masked URL and what redis-py said, and what to chain it
    to: redis-py's own error only when its text does not quote the password."""
    detail = redact(str(error), url)
    return kind(f"{mask_url(url)}: {detail}"), error if detail == str(error) else None


def _family(scheme: str, masked: str) -> ClientFamily:
    """The library that reads URLs of ``scheme``; a clear error when it is not installed."""
    if scheme not in VALKEY_SCHEMES:
        return REDIS
    if VALKEY is None:
        raise InvalidURLError(f"{masked}: {scheme}:// URLs need valkey-py: pip install valkey")
    return VALKEY


#: What the README says too. redis-py (urllib) ends the user info at the LAST "@", so an
#: unencoded "@" in a password happens to read right there, but not in ``?password=``;
#: "%40" reads right everywhere.
_ENCODE_HINT = (
    "percent-encode the user name and password, for example with urllib.parse.quote(password, "
    "safe=''): any '/', '?', '#', '%', '[' or ']', and '@' as %40"
)


def _check_url(url: str, masked: str, scheme: str, cluster: bool) -> None:
    """Refuse what redis-py would misread, or reject only on the first command. Messages
    quote ``masked`` and names from it, never a parsed piece of ``url``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidURLError(f"{masked}: not a valid URL ({_ENCODE_HINT})") from None
    if "@" in parts.path + parts.query + parts.fragment:
        raise InvalidURLError(f"{masked}: '@' after the host ({_ENCODE_HINT})")
    try:
        port = parts.port
    except ValueError:
        raise InvalidURLError(f"{masked}: the port must be a number from 0 to 65535") from None
    if parts.fragment or url.endswith("#"):
        raise InvalidURLError(f"{masked}: unexpected '#' (percent-encode it as %23 in a password)")
    if scheme == "unix" and (parts.hostname or port is not None):
        raise InvalidURLError(f"{masked}: a unix:// URL names a socket path, not a host or port")
    query = parse_qsl(parts.query, keep_blank_values=True)
    shown = {name for name, _ in parse_qsl(urlsplit(masked).query, keep_blank_values=True)}
    if scheme != "unix" and not re.fullmatch(r"(/[0-9]*)?", parts.path):
        raise InvalidURLError(f"{masked}: the path must be a database number, like /0")
    path_db = parts.path.strip("/") if scheme != "unix" else ""
    if path_db and any(name == "db" for name, _ in query):
        raise InvalidURLError(f"{masked}: the database is given twice, in the path and as ?db=")
    family = _family(scheme, masked)
    allowed = query_parameters(family.connections[SOCKET_KINDS[scheme]], cluster, family)
    for name, value in query:
        label = repr(name) if name in shown else "(one next to the masked password)"
        if name not in allowed:
            tls = "valkeys://" if family is VALKEY else "rediss://"
            hint = f" (ssl_* parameters need {tls})" if name.startswith("ssl_") else ""
            raise InvalidURLError(f"{masked}: unknown query parameter {label}{hint}")
        if not value:
            raise InvalidURLError(f"{masked}: query parameter {label} needs a value")
        cast = family.query_parsers.get(name)
        try:
            if callable(cast):
                cast(value)
        except (TypeError, ValueError):
            raise InvalidURLError(f"{masked}: query parameter {label} has a bad value") from None
    if cluster and int(dict(query).get("db") or path_db or 0) != 0:
        raise InvalidURLError(f"{masked}: Redis Cluster has database 0 only")


def _check_keywords(client_kwargs: dict[str, Any], scheme: str, cluster: bool, family: ClientFamily) -> None:
    """A misspelt keyword fails now, not on the first command (or never, for a cluster)."""
    connection_class = family.connections[SOCKET_KINDS[scheme]]
    if not cluster:
        connection_class = client_kwargs.get("connection_class", connection_class)
    unknown = sorted(set(client_kwargs) - accepted_keywords(connection_class, cluster, family))
    if unknown:
        taker = family.cluster.__name__ if cluster else f"a {family.package}-py {connection_class.__name__}"
        tls = "valkeys://" if family is VALKEY else "rediss://"
        hint = f" (ssl_* options need {tls})" if any(n.startswith("ssl_") for n in unknown) else ""
        raise TypeError(f"{taker} takes no keyword argument {', '.join(map(repr, unknown))}{hint}")


def client_from_url(url: str, *, cluster: bool | None = None, **client_kwargs: Any) -> Any:
    """A redis-py (valkey-py for ``valkey://``) client for ``url``; ``cluster=True`` forces a
    cluster client.

    Plain clients connect lazily, so a down server shows up on the first command.
    A cluster client reads the slot map here, so an unreachable cluster fails here,
    as ``ServerUnreachableError``. A URL or keyword redis-py would refuse (or ignore)
    later fails here, as ``InvalidURLError`` or ``TypeError``.
    """
    if not isinstance(url, str):
        raise InvalidURLError(f"Redis URL must be str, not {type(url).__name__}")
    masked = mask_url(url)
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator or (scheme not in PLAIN_SCHEMES and scheme not in CLUSTER_SCHEMES):
        known = ", ".join(f"{name}://" for name in (*PLAIN_SCHEMES, *CLUSTER_SCHEMES))
        raise InvalidURLError(f"{masked}: unsupported URL scheme (use {known})")
    if scheme in CLUSTER_SCHEMES:
        if cluster is False:
            raise InvalidURLError(f"{masked}: a cluster URL with cluster=False")
        cluster = True
    elif cluster and scheme == "unix":
        raise InvalidURLError(f"{masked}: Redis Cluster is not reachable over unix://")
    plain_scheme = CLUSTER_SCHEMES.get(scheme, scheme)
    plain_url = f"{plain_scheme}://{rest}"
    family = _family(plain_scheme, masked)
    _check_url(plain_url, masked, plain_scheme, bool(cluster))
    _check_keywords(client_kwargs, plain_scheme, bool(cluster), family)
    try:
        if cluster:
            return family.cluster.from_url(plain_url, **client_kwargs)
        return family.client.from_url(plain_url, **client_kwargs)
    except family.unreachable as error:
        wrapped, cause = _about(url, error, ServerUnreachableError)
        raise wrapped from cause
    except (ValueError, TypeError) as error:
        wrapped, cause = _about(url, error, InvalidURLError)
        raise wrapped from cause


def server_info(url: str, **client_kwargs: Any) -> dict[str, str]:
    """Name (redis or valkey), version and mode (standalone, cluster or sentinel) of the one
    server ``url`` names."""
    scheme, _, rest = url.partition("://")
    single = f"{CLUSTER_SCHEMES.get(scheme.lower(), scheme)}://{rest}" if rest else url
    options: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5, **client_kwargs}
    try:
        client = client_from_url(single, cluster=False, **options)
    except InvalidURLError as error:
        raise InvalidURLError(str(error).replace(mask_url(single), mask_url(url), 1)) from None
    try:
        info = client.info("server")
    except UNREACHABLE_ERRORS as error:
        wrapped, cause = _about(url, error, ServerUnreachableError)
        raise wrapped from cause
    finally:
        client.close()
    # Valkey says server_name, valkey_version and server_mode (its redis_version is the
    # Redis release it is compatible with).
    name = str(info.get("server_name", "redis"))
    return {
        "name": name,
        "version": str(info.get(f"{name}_version", info.get("redis_version", "unknown"))),
        "mode": str(info.get("server_mode", info.get("redis_mode", "standalone"))),
    }
