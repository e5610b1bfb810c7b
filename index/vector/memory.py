"""An in-memory :class:`~semcached.index.vector.VectorBackend`: exact search, nothing persisted.

Used to replay labelled pairs through the real cache quickly (``semcached eval-cache``), and
handy in users' tests. It honours the same ``where`` filters the cache sends to ChromaDB
(``$and``, ``$or``, ``$eq``, ``$ne``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``, ``$nin``).

Example::

    cache = SemanticCache(embedder=embedder, exact_store=MemoryExactStore(),
                          vector_backend=MemoryVectorBackend())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semcached.index.vector.base import Metadata, Neighbor, Record

__all__ = ["MemoryVectorBackend", "MemoryVectorIndex"]

Where = Mapping[str, Any]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": lambda v, x: v == x,
    "$ne": lambda v, x: v != x,
    "$gt": lambda v, x: v is not None and v > x,
    "$gte": lambda v, x: v is not None and v >= x,
    "$lt": lambda v, x: v is not None and v < x,
    "$lte": lambda v, x: v is not None and v <= x,
    "$in": lambda v, x: v in x,
    "$nin": lambda v, x: v not in x,
}


def matches(metadata: Metadata, where: Where | None) -> bool:
    """Whether ``metadata`` satisfies a ChromaDB-style ``where`` filter."""
    if not where:
        return True
    for key, condition in where.items():
        if key == "$and":
            if not all(matches(metadata, part) for part in condition):
                return False
        elif key == "$or":
            if not any(matches(metadata, part) for part in condition):
                return False
        elif isinstance(condition, Mapping):
            value = metadata.get(key)
            for op, operand in condition.items():
                test = _OPS.get(op)
                if test is None:
                    raise ValueError(
                        f"unsupported where operator {op!r}; expected one of {list(_OPS)}"
                    )
                if not test(value, operand):
                    return False
        elif metadata.get(key) != condition:
            return False
    return True


class MemoryVectorIndex:
    """One collection in memory; queries scan every vector (fine up to ~10^5 entries)."""

    def __init__(self, name: str, dim: int | None = None) -> None:
        self._name = name
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._vectors: NDArray[np.float32] = np.zeros((0, dim or 0), dtype=np.float32)
        self._metadata: list[Metadata] = []
        self._documents: list[str | None] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def add(
        self,
        ids: Sequence[str],
        vectors: NDArray[np.float32],
        metadatas: Sequence[Metadata],
        documents: Sequence[str] | None = None,
    ) -> None:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        docs: Sequence[str | None] = documents if documents is not None else [None] * len(ids)
        with self._lock:
            if self._vectors.shape[0] == 0:
                self._vectors = np.zeros((0, vectors.shape[1]), dtype=np.float32)
            fresh: list[NDArray[np.float32]] = []
            for i, entry_id in enumerate(ids):
                row = self._rows.get(entry_id)
                if row is not None:
                    self._vectors[row] = vectors[i]
                    self._metadata[row] = dict(metadatas[i])
                    self._documents[row] = docs[i]
                    continue
                self._rows[entry_id] = len(self._ids)
                self._ids.append(entry_id)
                self._metadata.append(dict(metadatas[i]))
                self._documents.append(docs[i])
                fresh.append(vectors[i])
            if fresh:
                self._vectors = np.concatenate([self._vectors, np.stack(fresh)])

    def query(
        self, vector: NDArray[np.float32], k: int, where: Where | None = None
    ) -> list[Neighbor]:
        with self._lock:
            if not self._ids:
                return []
            sims = self._vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
            order = np.argsort(-sims, kind="stable")
            found: list[Neighbor] = []
            for row in order.tolist():
                if matches(self._metadata[row], where):
                    found.append(
                        Neighbor(
                            id=self._ids[row],
                            similarity=max(-1.0, min(1.0, float(sims[row]))),
                            metadata=dict(self._metadata[row]),
                            document=self._documents[row],
                        )
                    )
                    if len(found) >= k:
                        break
            return found

    def get(
        self, ids: Sequence[str] | None = None, where: Where | None = None, limit: int | None = None
    ) -> list[Record]:
        with self._lock:
            rows = (
                [self._rows[i] for i in ids if i in self._rows]
                if ids is not None
                else range(len(self._ids))
            )
            records = [
                Record(self._ids[r], dict(self._metadata[r]), self._documents[r])
                for r in rows
                if matches(self._metadata[r], where)
            ]
        return records if limit is None else records[:limit]

    def delete(self, ids: Sequence[str] | None = None, where: Where | None = None) -> None:
        with self._lock:
            doomed = {
                self._ids[r]
                for r in range(len(self._ids))
                if (ids is None or self._ids[r] in ids) and matches(self._metadata[r], where)
            }
            if not doomed:
                return
            keep = [r for r in range(len(self._ids)) if self._ids[r] not in doomed]
            self._ids = [self._ids[r] for r in keep]
            self._metadata = [self._metadata[r] for r in keep]
            self._documents = [self._documents[r] for r in keep]
            self._vectors = self._vectors[keep]
            self._rows = {entry_id: i for i, entry_id in enumerate(self._ids)}

    def count(self) -> int:
        return len(self._ids)


class MemoryVectorBackend:
    """Named :class:`MemoryVectorIndex` collections; everything is lost with the process."""

    def __init__(self) -> None:
        self._indexes: dict[str, MemoryVectorIndex] = {}
        self._lock = threading.Lock()

    def index(self, name: str, *, metadata: dict[str, Any] | None = None) -> MemoryVectorIndex:
        with self._lock:
            found = self._indexes.get(name)
            if found is None:
                found = self._indexes[name] = MemoryVectorIndex(name)
            return found

    def drop(self, name: str) -> bool:
        with self._lock:
            return self._indexes.pop(name, None) is not None

    def list_names(self) -> list[str]:
        return sorted(self._indexes)

    def heartbeat(self) -> None:
        return None
