"""Picks the codec once, at import: the compiled twin when it is there and wanted.

``Codec`` is read from this module when a store is built, so the tests can hand a store
either twin (``tests/support/twins.py``).
"""

import importlib
import os
import sys
from types import ModuleType
from typing import cast

from . import _codec_py
from ._codec_py import is_session_id

__all__ = ["IMPLEMENTATION", "NO_EXTENSIONS", "Codec", "TwinCodec", "compiled_twin_of", "is_session_id"]

NO_EXTENSIONS = os.environ.get("HUG_STORE_REDIS_NO_EXTENSIONS", "") not in ("", "0")
_COMPILED = f"{__package__}._speedups"

TwinCodec = _codec_py.Codec
"""The type of either twin's ``Codec``: the compiled one has the pure one's names and results."""

Codec = _codec_py.Codec
IMPLEMENTATION = "python"
if not NO_EXTENSIONS and sys.implementation.name == "cpython":
    try:
        _speedups = importlib.import_module(_COMPILED)
    except ModuleNotFoundError as missing:
        # Built without a compiler: the pure twin is the same codec, slower. A compiled
        # module that is there but cannot load (or lacks a dependency) is a broken
        # install, and hiding it would pass the pure twin off as the compiled one.
        if missing.name != _COMPILED:
            raise
    else:
        Codec = cast("type[_codec_py.Codec]", _speedups.Codec)
        IMPLEMENTATION = "cython"


def compiled_twin_of(codec: object) -> ModuleType | None:
    """The compiled twin's module when ``codec`` is its ``Codec``, else None.

    The fast path reads simple replies with that module's ``exchange`` (in C); a store on
    the pure twin keeps redis-py's parser, whose results ``exchange`` reproduces.
    """
    if type(codec).__module__ != _COMPILED:
        return None
    return sys.modules[_COMPILED]
