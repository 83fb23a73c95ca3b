"""Kept for old imports (``from hug_store_redis.connect import InvalidURLError``, as the docs once
showed); connecting by URL lives in ``hug_store_redis.clients``."""

from .clients import InvalidURLError, ServerUnreachableError, client_from_url, mask_url, redact, server_info

__all__ = [
    "InvalidURLError",
    "ServerUnreachableError",
    "client_from_url",
    "mask_url",
    "redact",
    "server_info",
]
