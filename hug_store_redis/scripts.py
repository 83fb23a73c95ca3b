"""The one-key Lua scripts behind lazy expiry and compare-and-set writes.

Each touches only ``KEYS[1]``, so every call is Cluster-safe. Redis 7 replicates a script by
its effects: a read that finds no touch due writes nothing (no replication, no AOF, no dirty
counter), and a compare-and-set that finds another value writes nothing either.
"""

import hashlib


class Script:
    """A script's text and the SHA1 that EVALSHA names it by (per node, loaded on NOSCRIPT)."""

    __slots__ = ("sha", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()


READ_AND_TOUCH = Script(
    """
local value = redis.call('GET', KEYS[1])
if not value then return nil end
local ttl = redis.call('PTTL', KEYS[1])
if ttl >= 0 and ttl < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {value, tonumber(ARGV[1]), 1}
end
return {value, ttl, 0}
"""
)
"""``KEYS[1]``; ``ARGV``: the expiry in ms and the remaining-TTL threshold in ms below which the
expiry slides. Returns nil when there is no key, else ``[value, remaining ms, 1 if it slid else 0]`` (-1 ms:
no expiry; the flag keeps a touch countable even on a key written in the same millisecond);
never a Lua boolean, which RESP2 and RESP3 reply differently. PEXPIRE only when due,
and never on a missing key, so a read never creates one."""

COMPARE_AND_SET = Script(
    """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if redis.sha1hex(current) ~= ARGV[1] then return current end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
elseif ARGV[2] == '0' then
  redis.call('SET', KEYS[1], ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[2])
end
return 1
"""
)
"""``KEYS[1]``; ``ARGV``: the SHA1 hex of the bytes the caller read, the expiry in seconds
(``0``: none) and the new value (empty: delete the key). Returns 1 when written, 0 when the key
is gone (never recreated: logout and rotation are final), or the current value when another
writer changed it, so the caller can merge without another read."""


def digest(payload: bytes) -> str:
    """What ``redis.sha1hex`` computes over the same bytes."""
    return hashlib.sha1(payload).hexdigest()
