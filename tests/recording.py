"""A pass-through around the real ChromaDB backend that records writes (to prove reads write
nothing). It forwards every call to the real backend; it replaces nothing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semcached.index import ChromaBackend, Metadata, Neighbor, Record, VectorIndex


class RecordingIndex:
    def __init__(self, inner: VectorIndex, log: list[str]) -> None:
        self.inner = inner
        self.log = log

    @property
    def name(self) -> str:
        return self.inner.name

    def add(
        self,
        ids: Sequence[str],
        vectors: NDArray[np.float32],
        metadatas: Sequence[Metadata],
        documents: Sequence[str] | None = None,
    ) -> None:
        self.log.append(f"add:{len(ids)}")
        self.inner.add(ids, vectors, metadatas, documents)

    def query(self, vector: NDArray[np.float32], k: int, where: Any = None) -> list[Neighbor]:
        return self.inner.query(vector, k, where)

    def get(
        self, ids: Sequence[str] | None = None, where: Any = None, limit: int | None = None
    ) -> list[Record]:
        return self.inner.get(ids, where, limit)

    def delete(self, ids: Sequence[str] | None = None, where: Any = None) -> None:
        self.log.append("delete")
        self.inner.delete(ids, where)

    def count(self) -> int:
        return self.inner.count()


class RecordingBackend:
    def __init__(self, inner: ChromaBackend) -> None:
        self.inner = inner
        self.writes: list[str] = []

    def index(self, name: str, *, metadata: dict[str, Any] | None = None) -> RecordingIndex:
        return RecordingIndex(self.inner.index(name, metadata=metadata), self.writes)

    def drop(self, name: str) -> bool:
        self.writes.append("drop")
        return self.inner.drop(name)

    def list_names(self) -> list[str]:
        return self.inner.list_names()

    def heartbeat(self) -> None:
        self.inner.heartbeat()
