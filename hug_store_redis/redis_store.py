"""The module 1.0.0 shipped its store in: ``from hug_store_redis.redis_store import RedisStore``.

Kept so that code written against 1.0.0 upgrades without an edit; the store lives in ``store``.
"""

from .store import RedisStore

__all__ = ["RedisStore"]
