"""Storage: the exact layer (:mod:`~semcached.index.exact`: memory, Redis), the vector layer
(:mod:`~semcached.index.vector`: ChromaDB, memory) and knowledge search
(:mod:`~semcached.index.knowledge`)."""

from __future__ import annotations

from semcached.index.exact.base import ExactStore, MemoryExactStore
from semcached.index.exact.redis import RedisExactStore, namespace_token
from semcached.index.vector.base import (
    Metadata,
    Neighbor,
    Record,
    VectorBackend,
    VectorIndex,
    similarity_from_distance,
)
from semcached.index.vector.chroma import ChromaBackend, ChromaVectorIndex, collection_name
from semcached.index.vector.memory import MemoryVectorBackend, MemoryVectorIndex

__all__ = [
    "ChromaBackend",
    "ChromaVectorIndex",
    "ExactStore",
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
