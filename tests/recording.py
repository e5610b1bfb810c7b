"""Pass-throughs around the real ChromaDB backend and the real model, to observe them.

They forward every call to the real thing and replace nothing: the backend records writes
(to prove reads write nothing), the embedder base lets a test count, fail or delay embeds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semcached.embeddings import SentenceTransformerEmbedder, Vectors
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


class WrappedEmbedder:
    """Forwards everything to the real model; subclasses observe or delay ``embed``."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> Vectors:
        return self.inner.embed(texts)
