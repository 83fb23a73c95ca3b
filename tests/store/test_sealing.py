"""``RedisStore(encryption_keys=...)``: AES-256-GCM at rest, with rotation, on a real server.

Both twins and both store paths (conftest), bytes and decoding clients, with and without
the local cache; through the middleware a tampered value is a fresh session, never a 500.
"""

import base64
import hashlib
import logging
import os
import subprocess
import sys

import hug
import pytest
import redis
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hug.exceptions import StoreKeyNotFound
from support.commands import Commands

from hug_store_redis import RedisStore
from hug_store_redis.errors import CorruptSessionError
from hug_store_redis.sessions import RedisSessionMiddleware, new_session_id

K1 = bytes(range(32))
K2 = bytes(range(100, 132))
DATA = {"user": "ann", "cart": [1, 2]}


def opened(stored: bytes, key: bytes, logical_key: bytes) -> bytes:
    """The spec: base64url of version 1 | 4 bytes of SHA-256(key) | nonce | ciphertext+tag."""
    raw = base64.urlsafe_b64decode(stored)
    assert raw[0] == 1 and raw[1:5] == hashlib.sha256(key).digest()[:4]
    return AESGCM(key).decrypt(raw[5:17], raw[17:], logical_key)


@pytest.fixture(params=["plain", "cached"])
def sealed(request, redis_client):
    store = RedisStore(redis_client, encryption_keys=[K1], local_cache=request.param == "cached")
    yield store
    store.close()


@pytest.mark.parametrize(
    ("keys", "error", "words"),
    [
        (K1, TypeError, "wrap a single key in a list"),
        ([], ValueError, "at least one key"),
        ([K1.hex()], TypeError, "encryption_keys[0] must be bytes, not str"),
        ([K1, b"x" * 16], ValueError, "encryption_keys[1] has 16 bytes; AES-256 needs exactly 32"),
        ([K1, K1], ValueError, "encryption_keys[1] repeats an earlier key"),
    ],
)
def test_keys_that_cannot_be_one_are_refused_with_what_to_do(redis_client, keys, error, words):
    with pytest.raises(error) as raised:
        RedisStore(redis_client, encryption_keys=keys)
    assert words in str(raised.value)
    with pytest.raises(error):  # before any connection is made
        RedisStore.from_url("redis://127.0.0.1:1", encryption_keys=keys)


@pytest.mark.one_twin
def test_without_cryptography_the_error_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "import redis; from hug_store_redis import RedisStore\n"
        "try:\n"
        "    RedisStore(redis.Redis(port=1), encryption_keys=[bytes(32)])\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "pip install 'hug_store_redis[crypto]'" in out.stdout


def test_redis_holds_ciphertext_that_opens_under_the_logical_key(sealed, redis_client):
    sid = new_session_id()
    sealed.set(sid, DATA)
    stored = redis_client.get(f"store:{sid}")
    assert b"ann" not in stored
    assert opened(stored, K1, f"store:{sid}".encode()) == sealed.encode(DATA)
    assert sealed.get(sid) == DATA
    assert sealed.read_payload(sid) == stored  # reads give the stored bytes, the CAS base


def test_rotation_opens_with_any_key_and_seals_with_the_newest(redis_client):
    sid = new_session_id()
    old = RedisStore(redis_client, encryption_keys=[K1])
    old.set(sid, DATA)
    rotated = RedisStore(redis_client, encryption_keys=[K2, K1])
    read = rotated.read_payload(sid)
    assert rotated.get(sid) == DATA
    assert rotated.compare_and_set(sid, read, rotated.encode({"n": 2})).written
    assert opened(redis_client.get(f"store:{sid}"), K2, f"store:{sid}".encode()) == b'{"n": 2}'
    with pytest.raises(CorruptSessionError, match="sealed with a key not in encryption_keys"):
        old.get(sid)
    assert RedisStore(redis_client, encryption_keys=[K1, K2]).get(sid) == {"n": 2}  # undo: list K2 again


def test_compare_and_set_compares_the_stored_bytes(sealed, redis_client):
    sid = new_session_id()
    assert sealed.create(sid, sealed.encode({"n": 1}))
    read = sealed.read_payload(sid)
    assert sealed.compare_and_set(sid, sealed.encode({"n": 1}), sealed.encode({"n": 9})).conflict
    assert sealed.compare_and_set(sid, read, sealed.encode({"n": 2})).written
    outcome = sealed.compare_and_set(sid, read, sealed.encode({"n": 3}))
    assert outcome.conflict and outcome.current == redis_client.get(f"store:{sid}")
    assert sealed.decode(outcome.current, sid) == {"n": 2}
    assert sealed.compare_and_set(sid, outcome.current, b"").written and not redis_client.exists(
        f"store:{sid}"
    )


@pytest.mark.parametrize(
    "damage",
    [
        lambda stored: stored[:-2] + (b"AA" if stored[-2:] != b"AA" else b"BB"),  # tag
        lambda stored: stored[:10],  # truncated
        lambda stored: b'{"user": "mallory"}',  # plaintext slipped in
        lambda stored: b"\xff\xfe",  # not even base64
    ],
    ids=["tag", "truncated", "plaintext", "binary"],
)
def test_a_value_no_key_opens_is_corrupt_data(sealed, redis_client, damage):
    sid = new_session_id()
    sealed.set(sid, DATA)
    redis_client.set(f"store:{sid}", damage(redis_client.get(f"store:{sid}")))
    with pytest.raises(CorruptSessionError) as raised:
        sealed.decode(redis_client.get(f"store:{sid}"), sid)
    assert sid not in str(raised.value)


def test_a_value_copied_under_another_session_does_not_open(sealed, redis_client):
    victim, attacker = new_session_id(), new_session_id()
    sealed.set(victim, {"user": "admin"})
    assert sealed.get(victim) == {"user": "admin"}  # opened once: remembered for the victim only
    redis_client.set(f"store:{attacker}", redis_client.get(f"store:{victim}"))
    with pytest.raises(CorruptSessionError, match="does not open"):
        sealed.get(attacker)
    with pytest.raises(CorruptSessionError):  # nor in another namespace
        RedisStore(redis_client, "other", encryption_keys=[K1]).decode(
            redis_client.get(f"store:{victim}"), victim
        )


def test_a_decoding_client_reads_and_writes_sealed_sessions(redis_server):
    client = redis.Redis(port=redis_server.port, decode_responses=True)
    store = RedisStore(client, encryption_keys=[K1], key_secrets=[os.urandom(32)])
    sid = new_session_id()
    store.set(sid, DATA)
    read = store.read_payload(sid)
    assert isinstance(read, str) and store.get(sid) == DATA
    assert store.compare_and_set(sid, read, store.encode({"n": 1})).written and store.get(sid) == {"n": 1}
    store.delete(sid)


def app_on(store):
    api = hug.API(f"sealed_{new_session_id()}")
    api.http.add_middleware(RedisSessionMiddleware(store, cookie_secure=False))

    @hug.get("/set", api=api)
    def set_key(request, key: str, value: str):
        request.context["session"][key] = value
        return "ok"

    @hug.get("/read", api=api)
    def read(request):
        return dict(request.context["session"])

    return api


def cookie_of(response) -> str:
    return response.headers_dict["set-cookie"].split(";")[0].split("=", 1)[1]


def test_an_unchanged_session_is_not_written_again(sealed, redis_client):
    """Random nonces make every sealing differ: the change check compares the opened JSON."""
    api = app_on(sealed)
    sid = cookie_of(hug.test.get(api, "/set", key="a", value="1"))
    stored, writes = redis_client.get(f"store:{sid}"), sealed.stats()["writes"]
    commands = Commands(redis_client)
    for _ in range(3):
        response = hug.test.get(api, "/read", headers={"Cookie": f"sid={sid}"})
        assert response.data == {"a": "1"}
    assert sealed.stats()["writes"] == writes and sealed.stats()["skipped_writes"] == 3
    assert redis_client.get(f"store:{sid}") == stored and "set" not in commands.delta()


def test_a_tampered_session_is_a_fresh_one_with_a_warning_never_a_500(sealed, redis_client, caplog):
    api = app_on(sealed)
    sid = cookie_of(hug.test.get(api, "/set", key="user", value="ann"))
    stored = redis_client.get(f"store:{sid}")
    redis_client.set(f"store:{sid}", stored[:-4] + (b"AAAA" if stored[-4:] != b"AAAA" else b"BBBB"))
    with caplog.at_level(logging.WARNING):
        response = hug.test.get(api, "/read", headers={"Cookie": f"sid={sid}"})
    assert response.status == "200 OK" and response.data == {}
    assert f"session {sid[:8]}" in caplog.text and sid not in caplog.text
    assert "does not open" in caplog.text
    with pytest.raises(StoreKeyNotFound):
        sealed.get(sid)  # the key was dropped with the session


def test_values_opened_before_are_remembered_within_bounds(redis_client, monkeypatch):
    from hug_store_redis.store import sealing

    monkeypatch.setattr(sealing, "REMEMBERED", 2)
    store = RedisStore(redis_client, encryption_keys=[K1])
    ids = [new_session_id() for _ in range(5)]
    for round_ in range(2):
        for number, sid in enumerate(ids):
            store.set(sid, {"n": number, "round": round_})
            for _ in range(2):
                assert store.get(sid) == {"n": number, "round": round_}
    big = {"blob": "x" * 5000}
    store.set(ids[0], big)
    assert store.get(ids[0]) == big and store.get(ids[0]) == big
    stored = redis_client.get(f"store:{ids[1]}")
    redis_client.set(f"store:{ids[1]}", stored[:-4] + (b"AAAA" if stored[-4:] != b"AAAA" else b"BBBB"))
    with pytest.raises(CorruptSessionError):
        store.get(ids[1])
