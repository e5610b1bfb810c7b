"""Storage: the exact stores (memory, Redis) and the vector index (ChromaDB)."""

from __future__ import annotations

from semcached.index.chroma import ChromaBackend, ChromaVectorIndex, collection_name
from semcached.index.exact import ExactStore, JSONObject, MemoryExactStore
from semcached.index.memory_vector import MemoryVectorBackend, MemoryVectorIndex
from semcached.index.redis_store import RedisExactStore, namespace_token
from semcached.index.vector import (
    Metadata,
    Neighbor,
    Record,
    VectorBackend,
    VectorIndex,
    similarity_from_distance,
)

__all__ = [
    "ChromaBackend",
    "ChromaVectorIndex",
    "ExactStore",
    "JSONObject",
    "MemoryExactStore",
    "MemoryVectorBackend",
    "MemoryVectorIndex",
    "Metadata",
    "Neighbor",
    "Record",
    "RedisExactStore",
    "VectorBackend",
    "VectorIndex",
    "collection_name",
    "namespace_token",
    "similarity_from_distance",
]
