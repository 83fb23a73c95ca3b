"""From a URL to a client, the client families served (redis-py, valkey-py), and what each raises."""

from ..errors import InvalidURLError, ServerUnreachableError
from .connect import client_from_url, mask_url, redact, server_info
from .families import (
    CLIENT_ERRORS,
    NO_PERMISSION_ERRORS,
    NO_SCRIPT_ERRORS,
    REDIS,
    RESPONSE_ERRORS,
    UNREACHABLE_ERRORS,
    VALKEY,
    WATCH_ERRORS,
    ClientFamily,
)

__all__ = [
    "CLIENT_ERRORS",
    "NO_PERMISSION_ERRORS",
    "NO_SCRIPT_ERRORS",
    "REDIS",
    "RESPONSE_ERRORS",
    "UNREACHABLE_ERRORS",
    "VALKEY",
    "WATCH_ERRORS",
    "ClientFamily",
    "InvalidURLError",
    "ServerUnreachableError",
    "client_from_url",
    "mask_url",
    "redact",
    "server_info",
]
