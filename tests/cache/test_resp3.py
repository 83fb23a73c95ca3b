"""The listener's RESP3 reader: every message whole, however the bytes are split."""

import pytest

from hug_store_redis.cache.resp3 import ProtocolError, Push, ReplyError, Resp3Reader, encode_command

pytestmark = pytest.mark.one_twin

STREAM = (
    b"%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$2\r\nid\r\n:7\r\n"  # a HELLO-like map
    b">2\r\n$10\r\ninvalidate\r\n*2\r\n$5\r\nns:a1\r\n$0\r\n\r\n"  # keys, one of them empty
    b">2\r\n$10\r\ninvalidate\r\n_\r\n"  # FLUSHALL
    b"+PONG\r\n-ERR wrong\r\n!5\r\nERR x\r\n#t\r\n,1.5\r\n(123\r\n=8\r\ntxt:info\r\n"
    b"~1\r\n:1\r\n|1\r\n+key\r\n+val\r\n:9\r\n$-1\r\n*-1\r\n"
)


def parsed(chunks):
    reader = Resp3Reader()
    messages = []
    for chunk in chunks:
        reader.feed(chunk)
        messages.extend(reader.messages())
    return messages


def test_every_type_the_listener_can_meet():
    messages = parsed([STREAM])
    assert messages[0] == {b"server": b"redis", b"id": 7}
    assert messages[1] == [b"invalidate", [b"ns:a1", b""]] and isinstance(messages[1], Push)
    assert messages[2] == [b"invalidate", None] and isinstance(messages[2], Push)
    assert messages[3] == b"PONG"
    assert isinstance(messages[4], ReplyError) and str(messages[4]) == "ERR wrong"
    assert isinstance(messages[5], ReplyError) and str(messages[5]) == "ERR x"
    assert messages[6:] == [True, 1.5, 123, b"info", [1], 9, None, None]


def test_split_anywhere_gives_the_same_messages():
    whole = parsed([STREAM])
    one_byte_at_a_time = parsed([STREAM[i : i + 1] for i in range(len(STREAM))])
    assert repr(one_byte_at_a_time) == repr(whole)


@pytest.mark.parametrize("garbage", [b"?3\r\n", b":notanumber\r\n", b"$3\r\nabcde\r\n", b"*x\r\n"])
def test_garbage_is_a_protocol_error(garbage):
    reader = Resp3Reader()
    reader.feed(garbage)
    with pytest.raises(ProtocolError):
        list(reader.messages())


def test_commands_are_bulk_string_arrays():
    assert encode_command("PING") == b"*1\r\n$4\r\nPING\r\n"
    assert encode_command("SET", b"k\r\n", 5) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$1\r\n5\r\n"


# One key per push: what a write sends, read without the general walk (resp3._one_invalidation).
ONE_KEY = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nns:a1\r\n"
ONE_KEY_STREAM = ONE_KEY + b">2\r\n$10\r\ninvalidate\r\n*1\r\n$0\r\n\r\n+PONG\r\n" + ONE_KEY + ONE_KEY[:-3]


def test_one_key_pushes_are_the_messages_the_general_walk_gives():
    messages = parsed([ONE_KEY_STREAM])
    assert messages == [
        [b"invalidate", [b"ns:a1"]],
        [b"invalidate", [b""]],
        b"PONG",
        [b"invalidate", [b"ns:a1"]],
    ]
    assert [type(message) for message in messages] == [Push, Push, bytes, Push]
    for chunk_size in (1, 2, 3, 7, 30, 31, 32):
        chunks = [ONE_KEY_STREAM[i : i + chunk_size] for i in range(0, len(ONE_KEY_STREAM), chunk_size)]
        assert repr(parsed(chunks)) == repr(messages)


def test_one_key_push_with_a_key_of_crlf_bytes():
    key = b"ns:\r\n$1\r\nx"
    message = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$%d\r\n%s\r\n" % (len(key), key)
    assert parsed([message]) == [[b"invalidate", [key]]]
    assert parsed([message[i : i + 1] for i in range(len(message))]) == [[b"invalidate", [key]]]


@pytest.mark.parametrize(
    "garbage",
    [
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$x\r\nab\r\n",  # no length
        b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nabcd\r\n",  # longer than its length
    ],
)
def test_malformed_one_key_push_is_a_protocol_error(garbage):
    reader = Resp3Reader()
    reader.feed(garbage)
    with pytest.raises(ProtocolError):
        list(reader.messages())
