"""One interface to Redis, chosen once per store: pre-framed RESP on connections of its own
(``FastTransport``) or the client's own methods (``ClientTransport``); both behind ``Transport``."""

from .base import RedisClient, SlidingReply, Transport
from .client_transport import ClientTransport
from .fast_path import FastPath, fast_path_for
from .fast_transport import FastTransport
from .replica_wait import ReplicaWait, replica_wait
from .scripts import COMPARE_AND_SET, READ_AND_TOUCH, Script, ScriptSupport, digest, refuses_scripts
from .selection import transport_for

__all__ = [
    "COMPARE_AND_SET",
    "READ_AND_TOUCH",
    "ClientTransport",
    "FastPath",
    "FastTransport",
    "RedisClient",
    "ReplicaWait",
    "Script",
    "ScriptSupport",
    "SlidingReply",
    "Transport",
    "digest",
    "fast_path_for",
    "refuses_scripts",
    "replica_wait",
    "transport_for",
]
