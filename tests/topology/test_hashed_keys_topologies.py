"""``key_secrets`` and ``encryption_keys`` on a Redis Cluster: the move from an older secret's key
to the newest's crosses slots (and nodes) with single-key commands only, so no CROSSSLOT."""

import pytest

from hug_store_redis import RedisStore
from hug_store_redis.sessions import new_session_id

OLD = b"o" * 32
NEW = b"n" * 32
SEAL = bytes(range(32))


@pytest.mark.parametrize("encryption_keys", [None, [SEAL]], ids=["hashed", "hashed-sealed"])
def test_sessions_move_to_the_newest_secret_across_slots(cluster_client, encryption_keys):
    before = RedisStore(cluster_client, key_secrets=[OLD], encryption_keys=encryption_keys)
    after = RedisStore(cluster_client, key_secrets=[NEW, OLD], encryption_keys=encryption_keys)
    ids = [new_session_id() for _ in range(8)]
    for number, sid in enumerate(ids):
        before.set(sid, {"n": number})
    slots = {
        cluster_client.keyslot(key)
        for key in (*map(before.namespaced_key, ids), *map(after.namespaced_key, ids))
    }
    assert len(slots) > 8  # old and new keys are spread over the cluster
    for number, sid in enumerate(ids):
        read = after.read_payload_sliding(sid, 10).payload
        assert after.decode(read, sid) == {"n": number}
        assert after.compare_and_set(sid, read, after.encode({"n": number, "moved": True})).written
        assert after.compare_and_set(sid, read, after.encode({"n": -1})).conflict
        assert not cluster_client.exists(before.namespaced_key(sid))
        assert after.get(sid) == {"n": number, "moved": True}
    assert sorted(after.ids()) == sorted(after.namespaced_key(sid)[len(b"store:") :].decode() for sid in ids)
    assert all(after.delete(sid) for sid in ids) and after.count() == 0
    assert after.stats()["errors"] == 0
