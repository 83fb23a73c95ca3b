"""What the payload-level reads and writes of ``RedisStore`` report back."""

import enum
from dataclasses import dataclass
from typing import NamedTuple


class SlidingRead(NamedTuple):
    """What ``RedisStore.read_payload_sliding`` found: the raw value (None: no key), its remaining
    ms, and whether this read restarted the expiry (or, on a cache hit, sent the due touch)."""

    payload: bytes | str | None
    ttl_ms: int
    touched: bool = False


class WriteStatus(enum.Enum):
    WRITTEN = "written"
    GONE = "gone"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """How a ``compare_and_set`` ended; on a conflict, ``current`` is the value Redis holds now.

    ``current`` is raw like ``read_payload``'s (str from a ``decode_responses=True``
    client), ready to merge into and to pass back as the next ``expected_payload``.
    """

    status: WriteStatus
    current: bytes | str | None = None

    @property
    def written(self) -> bool:
        return self.status is WriteStatus.WRITTEN

    @property
    def gone(self) -> bool:
        """The key no longer exists (logout, rotation, expiry); nothing was written."""
        return self.status is WriteStatus.GONE

    @property
    def conflict(self) -> bool:
        return self.status is WriteStatus.CONFLICT


WRITTEN = WriteOutcome(WriteStatus.WRITTEN)
GONE = WriteOutcome(WriteStatus.GONE)
