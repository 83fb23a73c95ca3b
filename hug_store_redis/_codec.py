"""Picks the codec once, at import: the compiled twin when it is there and wanted."""

import os
import sys
from typing import cast

from . import _codec_py

NO_EXTENSIONS = os.environ.get("HUG_STORE_REDIS_NO_EXTENSIONS", "") not in ("", "0")

Codec = _codec_py.Codec
IMPLEMENTATION = "python"
if not NO_EXTENSIONS and sys.implementation.name == "cpython":
    try:
        from . import _speedups
    except ImportError:  # built without a compiler: the pure twin is the same codec, slower
        pass
    else:
        Codec = cast("type[_codec_py.Codec]", _speedups.Codec)
        IMPLEMENTATION = "cython"
