"""Kept for old imports (``from hug_store_redis.middleware import RedisSessionMiddleware``, as the
README once showed); the middleware lives in ``hug_store_redis.sessions``. Its logger keeps the
name ``hug_store_redis.middleware``."""

from .sessions import SESSION_ID_BYTES, RedisSessionMiddleware, is_session_id, new_session_id

__all__ = ["SESSION_ID_BYTES", "RedisSessionMiddleware", "is_session_id", "new_session_id"]
