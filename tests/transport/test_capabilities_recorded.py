"""Redis 8.4 cannot be had on these machines: its detection and command forms are tested on
replies written after its documentation (SET ... IFEQ/IFNE/IFDEQ/IFDNE, DELEX key IFEQ,
DIGEST), not recorded from a live server. A minimal fake connection answers with them; it
stands in for nothing else, and every other test of these modules runs on real servers.
The Valkey replies beside them were recorded from valkey-server 8.1.8 and 9.1.2."""

import pytest
import redis

from hug_store_redis.transport import native
from hug_store_redis.transport.base import Resends
from hug_store_redis.transport.capabilities import ServerCapabilities, from_replies, server_capabilities

pytestmark = pytest.mark.one_twin


def _command_info(name: bytes) -> list:
    return [name.lower(), -2, [b"write"], 1, 1, 1, [b"@write", b"@keyspace"], [], [], []]


# COMMAND INFO DELIFEQ DELEX HSETEX HEXPIRE EVALSHA (nil for a command the server lacks).
REDIS_8_4_COMMAND_INFO = [None, *(_command_info(n) for n in (b"DELEX", b"HSETEX", b"HEXPIRE", b"EVALSHA"))]
VALKEY_9_1_COMMAND_INFO = [
    _command_info(b"DELIFEQ"),
    None,
    *(_command_info(n) for n in (b"HSETEX", b"HEXPIRE", b"EVALSHA")),
]
REDIS_7_0_COMMAND_INFO = [None, None, None, None, _command_info(b"EVALSHA")]


def _condition(*tokens: bytes) -> dict:
    return {
        b"name": b"condition",
        b"type": b"oneof",
        b"flags": [b"optional"],
        b"arguments": [{b"name": token.lower(), b"type": b"string", b"token": token} for token in tokens],
    }


# COMMAND DOCS SET: the condition argument (RESP2 gives flat arrays, RESP3 and redis-py maps).
REDIS_8_4_SET_DOCS = {
    b"set": {b"arguments": [_condition(b"NX", b"XX", b"IFEQ", b"IFNE", b"IFDEQ", b"IFDNE")]}
}
REDIS_8_4_SET_DOCS_RESP2 = [
    b"set",
    [b"arguments", [[b"name", b"condition", b"arguments", [[b"token", b"IFEQ"]]]]],
]
REDIS_7_0_SET_DOCS = {b"set": {b"arguments": [_condition(b"NX", b"XX")]}}


def test_redis_8_4_from_its_replies():
    found = from_replies(
        REDIS_8_4_COMMAND_INFO, REDIS_8_4_SET_DOCS, redis.exceptions.NoScriptError("No matching script.")
    )
    assert found == ServerCapabilities(set_ifeq=True, delex=True, hash_field_expiry=True, scripting=True)
    assert found.native_compare_and_set and not found.set_ifeq_get
    assert from_replies(REDIS_8_4_COMMAND_INFO, REDIS_8_4_SET_DOCS_RESP2, None).set_ifeq


def test_other_servers_from_their_replies():
    assert from_replies(VALKEY_9_1_COMMAND_INFO, REDIS_8_4_SET_DOCS, None) == ServerCapabilities(
        set_ifeq=True, delifeq=True, hash_field_expiry=True, set_ifeq_get=True
    )
    assert from_replies(REDIS_7_0_COMMAND_INFO, REDIS_7_0_SET_DOCS, None) == ServerCapabilities()
    denied = redis.exceptions.NoPermissionError("User app has no permissions to run the 'evalsha' command")
    assert not from_replies(REDIS_8_4_COMMAND_INFO, REDIS_8_4_SET_DOCS, denied).scripting
    refused = redis.exceptions.NoPermissionError(
        "User app has no permissions to run the 'command|info' command"
    )
    assert from_replies(refused, refused, None) == ServerCapabilities()  # nothing native, scripts as always


class RecordedConnection:
    """Answers each command with its recorded reply, raising recorded errors; notes what was sent."""

    def __init__(self, replies: dict) -> None:
        self.replies = replies
        self.sent: list[tuple] = []

    def execute_command(self, *command, **options):
        self.sent.append(command)
        reply = self.replies[command[0]]
        if isinstance(reply, Exception):
            raise reply
        return reply


def test_server_capabilities_asks_three_questions_of_a_redis_8_4():
    connection = RecordedConnection(
        {
            "COMMAND INFO": REDIS_8_4_COMMAND_INFO,
            "COMMAND DOCS": REDIS_8_4_SET_DOCS,
            "EVALSHA": redis.exceptions.NoScriptError("No matching script."),
        }
    )
    assert server_capabilities(connection).delex
    assert [command[0] for command in connection.sent] == ["COMMAND INFO", "COMMAND DOCS", "EVALSHA"]


REDIS_8_4 = ServerCapabilities(set_ifeq=True, delex=True, hash_field_expiry=True)


def test_redis_8_4_command_forms():
    """SET IFEQ without GET and a GET pipelined behind it; DELEX key IFEQ value and a GET."""
    assert native.compare_and_set_commands(REDIS_8_4, b"store:k", b"[1]", b"[2]", 60) == (
        ("SET", b"store:k", b"[2]", "IFEQ", b"[1]", "EX", 60),
        ("GET", b"store:k"),
    )
    assert native.compare_and_set_commands(REDIS_8_4, b"store:k", b"[1]", b"", 60) == (
        ("DELEX", b"store:k", "IFEQ", b"[1]"),
        ("GET", b"store:k"),
    )
    assert native.compare_and_set_commands(REDIS_8_4, b"store:k", b"[1]", b"[2]", None)[0][-1] == b"[1]"


@pytest.mark.parametrize(
    ("replies", "outcome"),
    [
        ((b"OK", b"[2]"), 1),  # SET IFEQ: written
        (("OK", "[2]"), 1),  # the same to a decoding client
        ((None, None), 0),  # no key: not created
        ((None, b"[9]"), b"[9]"),  # another writer's value
        ((1, None), 1),  # DELEX IFEQ: deleted
        ((0, None), 0),  # DELEX: no key
        ((0, b"[9]"), b"[9]"),  # DELEX: another value
    ],
)
def test_redis_8_4_replies(replies, outcome):
    assert native.compare_and_set_reply(replies, b"[1]") == outcome


def test_redis_8_4_through_the_seam_with_a_recorded_round_trip():
    """``native.compare_and_set`` sends the 8.4 forms and reads their recorded replies."""
    detected = native.Detected(
        RecordedConnection(
            {"COMMAND INFO": REDIS_8_4_COMMAND_INFO, "COMMAND DOCS": REDIS_8_4_SET_DOCS, "EVALSHA": None}
        )
    )
    sent: list = []

    def send(commands, resends: Resends):
        sent.extend(commands)
        return [None, b"[9]"]  # recorded: IFEQ did not match, GET found another writer's value

    reply = native.compare_and_set(detected, send, b"store:k", b"[1]", b"[2]", 60, lambda: "scripted")
    assert reply == b"[9]" and [command[0] for command in sent] == ["SET", "GET"]


def test_a_native_form_refused_is_asked_again_then_scripted():
    """A node that answers "syntax error" to SET IFEQ (an older node after a failover): asked
    again, and the write goes to the script when the node now says it has no SET IFEQ."""
    connection = RecordedConnection(
        {"COMMAND INFO": REDIS_8_4_COMMAND_INFO, "COMMAND DOCS": REDIS_8_4_SET_DOCS, "EVALSHA": None}
    )
    detected = native.Detected(connection)
    assert detected.get().set_ifeq

    def send(commands, resends):
        connection.replies.update(
            {"COMMAND INFO": REDIS_7_0_COMMAND_INFO, "COMMAND DOCS": REDIS_7_0_SET_DOCS}
        )
        raise redis.ResponseError("syntax error")

    assert native.compare_and_set(detected, send, b"k", b"[1]", b"[2]", 60, lambda: "scripted") == "scripted"
    assert not detected.get().set_ifeq


def test_a_native_form_refused_although_claimed_goes_to_the_script_without_raising():
    """A node claiming SET IFEQ that refuses it twice: the script, no error (an "unknown
    command" text quotes the session key), and no native attempt on the next write."""
    connection = RecordedConnection(
        {"COMMAND INFO": REDIS_8_4_COMMAND_INFO, "COMMAND DOCS": REDIS_8_4_SET_DOCS, "EVALSHA": None}
    )
    detected = native.Detected(connection)
    sent: list = []

    def send(commands, resends):
        sent.append(commands[0][0])
        raise redis.ResponseError("unknown command 'SET', with args beginning with: 'store:secret-id'")

    assert native.compare_and_set(detected, send, b"k", b"[1]", b"[2]", 60, lambda: "scripted") == "scripted"
    assert native.compare_and_set(detected, send, b"k", b"[1]", b"[2]", 60, lambda: "scripted") == "scripted"
    assert sent == ["SET", "SET"]


def test_native_writes_given_up_keep_hash_field_expiry():
    """A Valkey 9.1 that lists SET IFEQ and DELIFEQ but refuses SET IFEQ (twice: asked again in
    between): the conditional writes go to the script from then on, and nothing else the node
    said is dropped with them: HEXPIRE stays (the per-user index keeps expiring its entries with
    their sessions, and refreshing them; without it, live sessions' entries would end)."""
    connection = RecordedConnection(
        {"COMMAND INFO": VALKEY_9_1_COMMAND_INFO, "COMMAND DOCS": REDIS_8_4_SET_DOCS, "EVALSHA": None}
    )
    detected = native.Detected(connection)
    claimed = detected.get()
    assert claimed.native_compare_and_set and claimed.hash_field_expiry
    sent: list = []

    def send(commands, resends):
        sent.append(commands[0][0])
        raise redis.ResponseError("unknown command 'SET', with args beginning with: 'store:secret-id'")

    assert native.compare_and_set(detected, send, b"k", b"[1]", b"[2]", 60, lambda: "scripted") == "scripted"
    assert detected.get() == ServerCapabilities(hash_field_expiry=True)
    assert native.compare_and_set(detected, send, b"k", b"[1]", b"", 60, lambda: "scripted") == "scripted"
    assert sent == ["SET", "SET"]  # the refusal, and the one after asking again: none since
