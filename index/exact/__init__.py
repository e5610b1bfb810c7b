"""The exact layer: :class:`ExactStore` and its in-process and Redis implementations."""

from __future__ import annotations

from semcached.index.exact.base import ExactStore, MemoryExactStore, check_value
from semcached.index.exact.redis import RedisExactStore, namespace_token

__all__ = [
    "ExactStore",
    "MemoryExactStore",
    "RedisExactStore",
    "check_value",
    "namespace_token",
]
