"""The scripted operations for servers that refuse scripts, through the client's own methods.

Same results as the scripts, at the price of round trips: a lazy read is GET + PTTL
pipelined, and a PEXPIRE only when due (it never creates a key).
"""

from typing import Any

from .transport import SlidingReply


def read_sliding(client: Any, full_key: bytes, expiry_ms: int, touch_below_ms: int) -> SlidingReply:
    """What READ_AND_TOUCH returns, as ``(value, remaining ms, slid)``; ``(None, -2, False)`` when absent."""
    pipeline = client.pipeline(transaction=False)
    pipeline.get(full_key)
    pipeline.pttl(full_key)
    payload, remaining = pipeline.execute()
    if payload is None:
        return None, -2, False
    remaining = int(remaining)
    if 0 <= remaining < touch_below_ms and client.pexpire(full_key, expiry_ms):
        return payload, expiry_ms, True
    return payload, remaining, False
