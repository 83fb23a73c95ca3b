"""What one request changed in a session, as top-level keys, and how to re-apply it.

Overlapping requests each read a session, change some keys and write the whole value back.
Re-applying only this request's changes to whatever another request wrote in between is
what keeps both requests' updates: the merge granularity is the top-level key.
"""

from collections.abc import Callable
from typing import Any

import ujson

Session = dict[str, Any]
MergeHook = Callable[[Session, Session, Session], Session]
"""``merge(base, mine, theirs) -> merged``: what this request read, what its handler left, and
what Redis holds now; it returns the session to write."""


def _encoded(value: Any) -> str:
    """Values compare as they would be stored: ``1``, ``1.0`` and ``true`` differ, NaN equals NaN."""
    text: str = ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)
    return text


class Delta:
    """Keys the handler assigned (new or different value) and keys it deleted.

    Computed by comparing the top level of what was read with what the handler left, so an
    in-place change deep inside a value counts as assigning that top-level key.
    """

    __slots__ = ("assigned", "deleted")

    def __init__(self, base: Session, mine: Session) -> None:
        self.assigned: Session = {
            key: value
            for key, value in mine.items()
            if key not in base or _encoded(base[key]) != _encoded(value)
        }
        self.deleted: set[str] = {key for key in base if key not in mine}

    def __bool__(self) -> bool:
        return bool(self.assigned or self.deleted)

    def __repr__(self) -> str:
        return f"Delta(assigned={sorted(self.assigned)!r}, deleted={sorted(self.deleted)!r})"

    def apply(self, theirs: Session) -> Session:
        """``theirs`` with this request's changes on top: on a key both changed, this request wins."""
        merged = {key: value for key, value in theirs.items() if key not in self.deleted}
        merged.update(self.assigned)
        return merged


def rebase(base: Session, mine: Session, theirs: Session, merge: MergeHook | None = None) -> Session:
    """The session to write when Redis holds ``theirs`` instead of the ``base`` this request read."""
    if merge is not None:
        return merge(base, mine, theirs)
    return Delta(base, mine).apply(theirs)
