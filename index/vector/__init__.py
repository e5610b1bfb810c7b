"""The vector layer: the :class:`VectorIndex` seam, ChromaDB (embedded or server) and memory."""

from __future__ import annotations

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
    "MemoryVectorBackend",
    "MemoryVectorIndex",
    "Metadata",
    "Neighbor",
    "Record",
    "VectorBackend",
    "VectorIndex",
    "collection_name",
    "similarity_from_distance",
]
