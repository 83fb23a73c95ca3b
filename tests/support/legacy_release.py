"""The real hug_store_redis 1.0.0 from PyPI, loaded beside this package for comparison.

Its whole store is one file; it is loaded under another module name so both can be
imported at once. The sdist is fetched once into ``build/legacy`` (PyPI is reachable
wherever ``make test`` installs dependencies).
"""

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

RELEASE = "hug_store_redis==1.0.0"
CACHE = Path(__file__).resolve().parents[2] / "build" / "legacy"
STORE_FILE = CACHE / "hug_store_redis-1.0.0" / "hug_store_redis" / "redis_store.py"


def load_legacy_module() -> ModuleType:
    if not STORE_FILE.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(CACHE),
                RELEASE,
            ],
            check=True,
        )
        with tarfile.open(CACHE / "hug_store_redis-1.0.0.tar.gz") as archive:
            archive.extract("hug_store_redis-1.0.0/hug_store_redis/redis_store.py", CACHE, filter="data")
    spec = importlib.util.spec_from_file_location("hug_store_redis_1_0_0", STORE_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
