"""Where an invalidation listener connects, and how: TCP, a Unix socket, or TLS as redis-py does it.

The listener's socket must reach the same server with the same guarantees as the store's data
connections: TLS settings are read from the client's connection keywords and turned into an
``ssl.SSLContext`` the way redis-py's ``SSLConnection._wrap_socket_with_ssl`` builds its own
(same order; defaults from the client's own connection class, so a valkey-py client, which
checks no hostname unless asked, gets the checks its data connections make). What cannot be
reproduced here (OCSP validation, an option this code does not know, a connection class that
wraps its socket its own way) is refused with a reason, so the cache stays off rather than
listening with weaker verification than the data.
"""

import inspect
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from ..topology.addresses import Address

_CERT_REQS = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
_MIRRORED = frozenset(
    {
        "ssl_keyfile",
        "ssl_certfile",
        "ssl_cert_reqs",
        "ssl_include_verify_flags",
        "ssl_exclude_verify_flags",
        "ssl_ca_certs",
        "ssl_ca_data",
        "ssl_check_hostname",
        "ssl_ca_path",
        "ssl_password",
        "ssl_min_version",
        "ssl_ciphers",
    }
)
_OCSP = ("ssl_validate_ocsp", "ssl_validate_ocsp_stapled", "ssl_ocsp_context", "ssl_ocsp_expected_cert")
_KNOWN = _MIRRORED | frozenset(_OCSP)


@dataclass(frozen=True)
class UnixSocket:
    """A server reached through a Unix socket at ``path``."""

    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True)
class TLSSettings:
    """What redis-py's ``SSLConnection`` verifies and presents; hashable, so listeners are keyed by it."""

    cert_reqs: ssl.VerifyMode = ssl.CERT_REQUIRED
    check_hostname: bool = True
    ca_certs: str | None = None
    ca_path: str | None = None
    ca_data: str | bytes | None = None
    certfile: str | None = None
    keyfile: str | None = None
    password: Any = field(default=None, repr=False)
    include_verify_flags: tuple[ssl.VerifyFlags, ...] = ()
    exclude_verify_flags: tuple[ssl.VerifyFlags, ...] = ()
    min_version: ssl.TLSVersion | None = None
    ciphers: str | None = None

    def context(self) -> ssl.SSLContext:
        """Built on every connection, as redis-py does: rotated files are read again."""
        context = ssl.create_default_context()
        context.check_hostname = self.check_hostname
        context.verify_mode = self.cert_reqs
        for flag in self.include_verify_flags:
            context.verify_flags |= flag
        for flag in self.exclude_verify_flags:
            context.verify_flags &= ~flag
        if self.certfile or self.keyfile:
            context.load_cert_chain(certfile=self.certfile, keyfile=self.keyfile, password=self.password)  # type: ignore[arg-type]
        if self.ca_certs is not None or self.ca_path is not None or self.ca_data is not None:
            context.load_verify_locations(cafile=self.ca_certs, capath=self.ca_path, cadata=self.ca_data)
        if self.min_version is not None:
            context.minimum_version = self.min_version
        if self.ciphers:
            context.set_ciphers(self.ciphers)
        return context


def tls_settings(kwargs: dict[str, Any], connection_class: Any) -> "TLSSettings | str | None":
    """The TLS settings of a client's connections: None for plain TCP, a reason when not mirrorable."""
    if not _speaks_tls(kwargs, connection_class):
        return None
    wrap = getattr(connection_class, "_wrap_socket_with_ssl", None)
    if wrap is not None and wrap.__qualname__ != "SSLConnection._wrap_socket_with_ssl":
        return f"the TLS of {connection_class.__name__} is its own (it overrides how the socket is wrapped)"
    if any(kwargs.get(name) for name in _OCSP):
        return "the invalidation listener cannot check OCSP as the data connections do"
    unknown = sorted(name for name in kwargs if name.startswith("ssl_") and name not in _KNOWN)
    if unknown:
        return f"the invalidation listener does not know the TLS option(s) {', '.join(unknown)}"
    cert_reqs = kwargs.get("ssl_cert_reqs", _default(connection_class, "ssl_cert_reqs", "required"))
    if cert_reqs is None:
        cert_reqs = ssl.CERT_NONE
    elif isinstance(cert_reqs, str):
        if cert_reqs not in _CERT_REQS:
            return f"invalid ssl_cert_reqs {cert_reqs!r}"
        cert_reqs = _CERT_REQS[cert_reqs]
    check_hostname = kwargs.get("ssl_check_hostname", _default(connection_class, "ssl_check_hostname", True))
    return TLSSettings(
        cert_reqs=ssl.VerifyMode(cert_reqs),
        check_hostname=bool(check_hostname) and cert_reqs != ssl.CERT_NONE,
        ca_certs=kwargs.get("ssl_ca_certs"),
        ca_path=kwargs.get("ssl_ca_path"),
        ca_data=kwargs.get("ssl_ca_data"),
        certfile=kwargs.get("ssl_certfile"),
        keyfile=kwargs.get("ssl_keyfile"),
        password=kwargs.get("ssl_password"),
        include_verify_flags=tuple(kwargs.get("ssl_include_verify_flags") or ()),
        exclude_verify_flags=tuple(kwargs.get("ssl_exclude_verify_flags") or ()),
        min_version=kwargs.get("ssl_min_version"),
        ciphers=kwargs.get("ssl_ciphers"),
    )


def _default(connection_class: Any, name: str, fallback: Any) -> Any:
    """The class's own default for a keyword it was not given (valkey-py checks no hostname
    by default, redis-py does), from the first class in its MRO whose ``__init__`` names it."""
    for klass in getattr(connection_class, "__mro__", ()):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        parameter = inspect.signature(init).parameters.get(name)
        if parameter is not None and parameter.default is not inspect.Parameter.empty:
            return parameter.default
    return fallback


def _speaks_tls(kwargs: dict[str, Any], connection_class: Any) -> bool:
    mro = getattr(connection_class, "__mro__", ())
    return bool(kwargs.get("ssl")) or any("ssl" in klass.__name__.lower() for klass in mro)


def open_socket(address: "Address | UnixSocket", tls: TLSSettings | None, timeout: float) -> socket.socket:
    """A connected socket (TLS handshake done), every blocking step bounded by ``timeout``."""
    if isinstance(address, UnixSocket):
        if tls is not None:
            raise ValueError("TLS over a Unix socket is not supported")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address.path)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is None:
        return sock
    try:
        return tls.context().wrap_socket(sock, server_hostname=address[0])
    except BaseException:
        sock.close()
        raise
