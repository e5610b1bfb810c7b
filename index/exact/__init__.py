"""The exact layer: :class:`ExactStore` and its in-process and Redis implementations."""

from __future__ import annotations

from semcached.index.exact.base import ExactStore, JSONObject, MemoryExactStore
from semcached.index.exact.redis import RedisExactStore, namespace_token

__all__ = ["ExactStore", "JSONObject", "MemoryExactStore", "RedisExactStore", "namespace_token"]
