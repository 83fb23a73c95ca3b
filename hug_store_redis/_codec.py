"""Picks the codec once, at import: the compiled twin when it is there and wanted."""

import os
import sys

from . import _codec_py

NO_EXTENSIONS = os.environ.get("HUG_STORE_REDIS_NO_EXTENSIONS", "") not in ("", "0")

if NO_EXTENSIONS or sys.implementation.name != "cpython":
    Codec: type[_codec_py.Codec] = _codec_py.Codec
    IMPLEMENTATION = "python"
else:
    try:
        from ._speedups import Codec
    except ImportError:  # built without a compiler: the pure twin is the same codec, slower
        Codec = _codec_py.Codec
        IMPLEMENTATION = "python"
    else:
        IMPLEMENTATION = "cython"
