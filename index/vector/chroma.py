"""ChromaDB behind the :class:`VectorIndex` seam: embedded (``PersistentClient``) or a server.

ChromaDB's own exceptions never leave this module: each becomes a
:class:`~semcached.errors.VectorIndexError` naming the operation and the collection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from semcached.errors import VectorIndexError
from semcached.index.chroma_client import ChromaConnection
from semcached.index.vector.base import (
    Metadata,
    Neighbor,
    Record,
    Where,
    collection_name,
    similarity_from_distance,
)

__all__ = ["ChromaBackend", "ChromaVectorIndex", "collection_name"]

T = TypeVar("T")


def _guard(what: str, name: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except VectorIndexError:
        raise
    except Exception as exc:  # chromadb raises many unrelated types (HTTP, Rust, sqlite)
        raise VectorIndexError(f"ChromaDB {what} on collection {name!r} failed: {exc}") from exc


class ChromaVectorIndex:
    """One ChromaDB collection in cosine space. Build it with :meth:`ChromaBackend.index`."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection
        self._name: str = collection.name

    @property
    def name(self) -> str:
        return self._name

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._collection.metadata or {})

    def add(
        self,
        ids: Sequence[str],
        vectors: NDArray[np.float32],
        metadatas: Sequence[Metadata],
        documents: Sequence[str] | None = None,
    ) -> None:
        if not ids:
            return
        _guard(
            "upsert",
            self._name,
            lambda: self._collection.upsert(
                ids=list(ids),
                embeddings=np.asarray(vectors, dtype=np.float32),
                metadatas=[dict(m) for m in metadatas],
                documents=list(documents) if documents is not None else None,
            ),
        )

    def query(
        self, vector: NDArray[np.float32], k: int, where: Where | None = None
    ) -> list[Neighbor]:
        result = _guard(
            "query",
            self._name,
            lambda: self._collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=k,
                where=dict(where) if where else None,
                include=["distances", "metadatas", "documents"],
            ),
        )
        ids = result["ids"][0]
        distances = result["distances"][0]
        metadatas = (result.get("metadatas") or [[None] * len(ids)])[0]
        documents = (result.get("documents") or [[None] * len(ids)])[0]
        return [
            Neighbor(
                id=i, similarity=similarity_from_distance(d), metadata=dict(m or {}), document=doc
            )
            for i, d, m, doc in zip(ids, distances, metadatas, documents, strict=True)
        ]

    def get(
        self, ids: Sequence[str] | None = None, where: Where | None = None, limit: int | None = None
    ) -> list[Record]:
        result = _guard(
            "get",
            self._name,
            lambda: self._collection.get(
                ids=list(ids) if ids is not None else None,
                where=dict(where) if where else None,
                limit=limit,
                include=["metadatas", "documents"],
            ),
        )
        metadatas = result.get("metadatas") or [None] * len(result["ids"])
        documents = result.get("documents") or [None] * len(result["ids"])
        return [
            Record(id=i, metadata=dict(m or {}), document=doc)
            for i, m, doc in zip(result["ids"], metadatas, documents, strict=True)
        ]

    def delete(self, ids: Sequence[str] | None = None, where: Where | None = None) -> None:
        if ids is not None and not ids:
            return
        _guard(
            "delete",
            self._name,
            lambda: self._collection.delete(
                ids=list(ids) if ids is not None else None, where=dict(where) if where else None
            ),
        )

    def count(self) -> int:
        return int(_guard("count", self._name, self._collection.count))


class ChromaBackend:
    """A ChromaDB client: embedded under ``path``, or the server at ``url``.

    Example::

        backend = ChromaBackend(path=".semcached/chroma")         # embedded, persistent
        backend = ChromaBackend(url="http://localhost:8000")      # a Chroma server
        index = backend.index("my-collection", metadata={"dim": 384})
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        tenant: str = "default_tenant",
        database: str = "default_database",
        timeout_s: float = 10.0,
    ) -> None:
        self._connection = ChromaConnection(
            path=path, url=url, tenant=tenant, database=database, timeout_s=timeout_s
        )
        self.location = self._connection.location
        self._connection.open_now(self._connected)
        self._indexes: dict[str, ChromaVectorIndex] = {}
        self._lock = threading.Lock()

    def _connected(self) -> Any:
        """The client, connecting first if it is not yet (a server down at start-up)."""
        return _guard("connect", self.location, self._connection.client)

    def index(self, name: str, *, metadata: dict[str, Any] | None = None) -> ChromaVectorIndex:
        """The collection ``name`` in cosine space, created on first use."""
        with self._lock:
            cached = self._indexes.get(name)
            if cached is not None:
                return cached
            collection = _guard(
                "get_or_create_collection",
                name,
                lambda: self._connected().get_or_create_collection(
                    name=name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata=metadata or None,
                ),
            )
            index = ChromaVectorIndex(collection)
            self._indexes[name] = index
            return index

    def drop(self, name: str) -> bool:
        """Delete a collection; ``False`` when it did not exist."""
        with self._lock:
            self._indexes.pop(name, None)
            existing = self.list_names()
            if name not in existing:
                return False
            _guard("delete_collection", name, lambda: self._connected().delete_collection(name))
            return True

    def list_names(self) -> list[str]:
        collections = _guard(
            "list_collections", self.location, lambda: self._connected().list_collections()
        )
        return sorted(c if isinstance(c, str) else c.name for c in collections)

    def heartbeat(self) -> None:
        """Raise :class:`VectorIndexError` when ChromaDB cannot be reached."""
        _guard("heartbeat", self.location, lambda: self._connected().heartbeat())
