"""The :class:`VectorIndex` seam: one collection of unit vectors with metadata and documents."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import xxhash
from numpy.typing import NDArray

__all__ = [
    "Metadata",
    "Neighbor",
    "Record",
    "VectorBackend",
    "VectorIndex",
    "collection_name",
    "similarity_from_distance",
]

_UNSAFE = re.compile(r"[^a-zA-Z0-9._-]+")

Metadata = dict[str, str | int | float | bool]
Where = Mapping[str, Any]


def similarity_from_distance(distance: float) -> float:
    """Cosine similarity from ChromaDB's cosine distance (``1 - cos``), clamped to [-1, 1].

    The one place a distance becomes a similarity: everything above this line speaks
    similarity, 1.0 meaning identical.
    """
    return max(-1.0, min(1.0, 1.0 - float(distance)))


def collection_name(prefix: str, kind: str, namespace: str, model_id: str) -> str:
    """A valid, collision-free Chroma collection name for (kind, namespace, embedding model).

    Chroma allows 3-512 characters of ``[a-zA-Z0-9._-]`` with alphanumeric ends; namespaces may
    hold anything, so the readable slug is followed by a hash of the exact namespace.
    """
    slug = _UNSAFE.sub("-", namespace).strip("-._")[:40] or "ns"
    ns_hash = xxhash.xxh3_64_hexdigest(namespace.encode("utf-8", "surrogatepass"))[:12]
    model_hash = xxhash.xxh3_64_hexdigest(model_id.encode())[:8]
    return f"{prefix}-{kind}-{slug}-{ns_hash}-{model_hash}"


@dataclass(frozen=True, slots=True)
class Neighbor:
    """One query result: its id, cosine similarity to the query, metadata and document."""

    id: str
    similarity: float
    metadata: Metadata = field(default_factory=dict)
    document: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One stored item as read back by id."""

    id: str
    metadata: Metadata = field(default_factory=dict)
    document: str | None = None


@runtime_checkable
class VectorIndex(Protocol):
    """A collection of unit vectors searched by cosine similarity."""

    @property
    def name(self) -> str: ...

    def add(
        self,
        ids: Sequence[str],
        vectors: NDArray[np.float32],
        metadatas: Sequence[Metadata],
        documents: Sequence[str] | None = None,
    ) -> None:
        """Insert or replace (upsert) items by id."""
        ...

    def query(
        self, vector: NDArray[np.float32], k: int, where: Where | None = None
    ) -> list[Neighbor]:
        """The ``k`` nearest items to ``vector`` that match ``where``, most similar first."""
        ...

    def get(
        self, ids: Sequence[str] | None = None, where: Where | None = None, limit: int | None = None
    ) -> list[Record]: ...

    def delete(self, ids: Sequence[str] | None = None, where: Where | None = None) -> None: ...

    def count(self) -> int: ...


@runtime_checkable
class VectorBackend(Protocol):
    """Something that holds named :class:`VectorIndex` collections (ChromaDB, embedded or not)."""

    def index(self, name: str, *, metadata: dict[str, Any] | None = None) -> VectorIndex: ...

    def drop(self, name: str) -> bool: ...

    def list_names(self) -> list[str]: ...

    def heartbeat(self) -> None: ...
