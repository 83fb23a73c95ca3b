"""What a server (one node) can do for the store, asked once per node instead of guessed
from version strings: forks (Valkey, Redis) and builds (Lua as an optional module in Valkey
9.1, commands renamed or denied by ACL on managed services) make versions unreliable.

- Commands come from ``COMMAND INFO`` (nil for a command the server does not have): DELIFEQ
  (Valkey >= 9.0), DELEX (Redis >= 8.4), HSETEX and HEXPIRE (Valkey >= 9.0, Redis >= 7.4).
- ``SET ... IFEQ`` is an argument, not a command, so COMMAND INFO cannot tell it. It is read
  from ``COMMAND DOCS SET`` (an ``IFEQ`` token among its arguments: Valkey >= 8.1, Redis >=
  8.4) rather than probed with a write: the docs need no key (a key-restricted ACL user can
  still ask, nothing is written, nothing is routed to one slot's node) and say the same.
- ``scripting``: ``EVALSHA`` of a script no server holds answers NOSCRIPT where scripts may
  run, NOPERM where an ACL denies them, "unknown command" where EVAL/EVALSHA are renamed away
  or the Lua module is absent. Nothing runs and nothing is written.
- A server that refuses COMMAND itself (ACL) gets no native commands: the scripts (or their
  fallbacks) stay correct everywhere, native commands only save work.

A Cluster is asked node by node (``cluster_capabilities``); a key may live on any primary,
so the store uses what all of them can do (``common``). Detection runs at connect and again
after a failover or reconnect shows the node changed (the transport decides when).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ..clients.families import NO_PERMISSION_ERRORS, NO_SCRIPT_ERRORS, RESPONSE_ERRORS
from ..codec.wire import as_bytes
from ..topology.cluster import node_name, primary_clients

#: The commands COMMAND INFO is asked about, in the order of its reply.
ASKED = (b"DELIFEQ", b"DELEX", b"HSETEX", b"HEXPIRE", b"EVALSHA")
#: A SHA1 no script has (all zeros): EVALSHA of it runs nothing anywhere.
NO_SUCH_SCRIPT = "0" * 40


@dataclass(frozen=True)
class ServerCapabilities:
    """What one server (a node) offers; every field False is always safe (scripts, WATCH)."""

    #: ``SET key value IFEQ base``: Valkey >= 8.1, Redis >= 8.4.
    set_ifeq: bool = False
    #: ``DELIFEQ key value``: Valkey >= 9.0.
    delifeq: bool = False
    #: ``DELEX key IFEQ value``: Redis >= 8.4.
    delex: bool = False
    #: ``HSETEX``/``HEXPIRE`` (hash fields that expire on their own): Valkey >= 9.0, Redis >= 7.4.
    hash_field_expiry: bool = False
    #: EVALSHA may run: not denied by ACL, not renamed away, the Lua engine present.
    scripting: bool = True
    #: ``SET ... IFEQ base GET`` answers the value it found (nil: no key), so one round trip
    #: tells written, gone and conflict apart: checked on Valkey 8.1.8 and 9.1.2. Redis 8.4
    #: is not assumed to (it cannot be had here to check): there the current value is read
    #: by a GET pipelined behind the SET.
    set_ifeq_get: bool = False

    @property
    def conditional_delete(self) -> bool:
        """A native delete-if-equal exists (DELIFEQ or DELEX IFEQ)."""
        return self.delifeq or self.delex

    @property
    def native_compare_and_set(self) -> bool:
        """Every conditional session write can go native: SET IFEQ and a conditional delete."""
        return self.set_ifeq and self.conditional_delete


NONE = ServerCapabilities()


def server_capabilities(client: Any, *, probe_scripting: bool = True) -> ServerCapabilities:
    """What the server behind ``client`` (one node: a Redis, not a RedisCluster) can do.

    Three round trips, once per node: COMMAND INFO, COMMAND DOCS SET, and an EVALSHA that runs
    nothing (``probe_scripting=False`` leaves it out and says ``scripting=True``: for a caller
    that learns a refusal from its first script anyway). A connection error propagates (the
    caller asks again later); a refusal does not.
    """
    return from_replies(
        _ask(client, "COMMAND INFO", *ASKED),
        _ask(client, "COMMAND DOCS", "SET"),
        _ask(client, "EVALSHA", NO_SUCH_SCRIPT, 0) if probe_scripting else None,
    )


def cluster_capabilities(client: Any, *, probe_scripting: bool = True) -> dict[str, ServerCapabilities]:
    """``server_capabilities`` of every primary, by ``host:port`` (one entry for a lone server)."""
    return {
        node_name(node): server_capabilities(node, probe_scripting=probe_scripting)
        for node in primary_clients(client)
    }


def common(capabilities: Iterable[ServerCapabilities]) -> ServerCapabilities:
    """What every node can do: a key of a Cluster may live on any primary."""
    nodes = list(capabilities)
    if not nodes:
        return NONE
    return ServerCapabilities(
        **{
            field.name: all(getattr(node, field.name) for node in nodes)
            for field in fields(ServerCapabilities)
        }
    )


def capabilities_of(client: Any, *, probe_scripting: bool = True) -> ServerCapabilities:
    """What every primary behind ``client`` (a server or a Cluster) can do."""
    return common(cluster_capabilities(client, probe_scripting=probe_scripting).values())


def from_replies(command_info: Any, set_docs: Any, evalsha: Any) -> ServerCapabilities:
    """The capabilities these replies say: COMMAND INFO of ``ASKED``, COMMAND DOCS SET and the
    EVALSHA probe, each a reply or the error the server answered. The parsing alone, so recorded
    replies (Redis 8.4, which cannot be had here) test it."""
    known = None if isinstance(command_info, Exception) else _named(command_info)
    commands = known or frozenset()
    set_ifeq = known is not None and not isinstance(set_docs, Exception) and _has_token(set_docs, b"IFEQ")
    return ServerCapabilities(
        set_ifeq=set_ifeq,
        delifeq=b"DELIFEQ" in commands,
        delex=b"DELEX" in commands,
        hash_field_expiry=b"HSETEX" in commands or b"HEXPIRE" in commands,
        scripting=(known is None or b"EVALSHA" in commands) and _evalsha_allowed(evalsha),
        set_ifeq_get=set_ifeq and b"DELEX" not in commands,
    )


def _ask(client: Any, *command: Any) -> Any:
    """The reply to ``command``, or the error of a server that refuses it (raised otherwise)."""
    try:
        return client.execute_command(*command)
    except RESPONSE_ERRORS as error:
        if not (_refused(error) or isinstance(error, NO_SCRIPT_ERRORS)):
            raise
        return error


def _named(reply: Any) -> frozenset[bytes]:
    """The names in COMMAND INFO's reply, upper case (nil entries: commands the server lacks)."""
    if isinstance(reply, Mapping):  # a client callback that keyed the entries by name
        return frozenset(as_bytes(name).upper() for name, entry in reply.items() if entry)
    names = set()
    for entry in reply or ():
        if entry:
            names.add(as_bytes(entry[0]).upper())
    return frozenset(names)


def _has_token(docs: Any, token: bytes) -> bool:
    """True when ``token`` appears anywhere in COMMAND DOCS' reply (maps or flat arrays, RESP2 or 3)."""
    if isinstance(docs, Mapping):
        return any(_has_token(key, token) or _has_token(value, token) for key, value in docs.items())
    if isinstance(docs, (list, tuple)):
        return any(_has_token(item, token) for item in docs)
    if isinstance(docs, (bytes, str)):
        return as_bytes(docs).upper() == token
    return False


def _evalsha_allowed(reply: Any) -> bool:
    """The EVALSHA probe says scripts may run: NOSCRIPT (or a reply: a script of that SHA1
    exists after all), not a refusal."""
    if not isinstance(reply, Exception) or isinstance(reply, NO_SCRIPT_ERRORS):
        return True
    return "noscript" in str(reply).lower()


def _refused(error: Exception) -> bool:
    """A refusal to answer (ACL, unknown command or subcommand, a syntax error), not a failure."""
    if isinstance(error, NO_PERMISSION_ERRORS):
        return True
    text = str(error).lower()
    return any(word in text for word in ("noperm", "no permission", "unknown", "syntax", "not allowed"))
