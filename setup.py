"""Builds the optional compiled codec; everything else lives in pyproject.toml.

HUG_STORE_REDIS_NO_EXTENSIONS=1 skips the compiler; HUG_STORE_REDIS_REQUIRE_EXTENSIONS=1
makes a failed compile fatal. By default a failed compile warns and installs pure Python.
"""

import os
import platform
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


NO_EXTENSIONS = _flag("HUG_STORE_REDIS_NO_EXTENSIONS") or platform.python_implementation() != "CPython"
REQUIRE_EXTENSIONS = _flag("HUG_STORE_REDIS_REQUIRE_EXTENSIONS")

WARNING = """
**********************************************************************
WARNING: hug_store_redis could not compile its Cython speedups:
  {error}
Installing the pure-Python codec instead: same behaviour, slower.
Set HUG_STORE_REDIS_REQUIRE_EXTENSIONS=1 to make this an error.
**********************************************************************
"""


class OptionalBuildExt(build_ext):
    """Falls back to pure Python unless the extension is required.

    setuptools hands .pyx sources to Cython itself, and keeps ``optional`` (which
    ``cythonize()`` would drop); this class adds the loud warning and the strict mode.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:
            self._give_up(error)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:
            self._give_up(error)

    def _give_up(self, error: Exception) -> None:
        if REQUIRE_EXTENSIONS:
            raise
        sys.stderr.write(WARNING.format(error=error))


speedups = Extension(
    "hug_store_redis.codec._speedups",
    sources=["_speedups/_speedups.pyx"],
    optional=not REQUIRE_EXTENSIONS,
)

setup(
    ext_modules=[] if NO_EXTENSIONS else [speedups],
    cmdclass={"build_ext": OptionalBuildExt},
    # Separate build trees, so a pure build never picks up a stale compiled module.
    options={"build": {"build_base": "build/pure" if NO_EXTENSIONS else "build/ext"}},
)
