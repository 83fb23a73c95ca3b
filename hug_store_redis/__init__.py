"""Redis session store for hug: a drop-in successor to hug_store_redis 1.0.0."""

from .cache import LocalCache
from .codec import IMPLEMENTATION
from .errors import CorruptSessionError
from .sessions import RedisSessionMiddleware
from .store import RedisStore

__version__ = "1.1.0"

__all__ = [
    "IMPLEMENTATION",
    "CorruptSessionError",
    "LocalCache",
    "RedisSessionMiddleware",
    "RedisStore",
    "__version__",
]
