"""ChromaDB behind the :class:`~semcached.index.knowledge.store.KnowledgeStore` seam.

Three kinds of ChromaDB collections, every name carrying the namespace (hashed) and the model:

* ``{prefix}-kbc-...`` **chunks** of one knowledge collection: id ``{item}#{n}@{version}``, the
  vector, the text as document, the item's metadata plus ``_kb_item``, ``_kb_version``,
  ``_kb_chunk``, ``_kb_start``, ``_kb_end``. Denser HNSW than the cache's (recall at depth 100+
  matters for search quality).
* ``{prefix}-kbi-...`` **item records** of that collection: id the item id, the acknowledged
  text as document, a fixed set of ``_kb_*`` keys (the user's metadata as one JSON string,
  ``_kb_meta``), so that an upsert replaces a record whole (ChromaDB merges metadata keys).
  The row ``__kb_revision__`` holds a token that changes on every committed write.
* ``{prefix}-kbr-...`` the **registry** of one namespace: one row per knowledge collection
  with its epoch and usage. Listing a namespace reads this collection only.

ChromaDB's exceptions never leave this module: a refusal caused by the input becomes an
:class:`~semcached.errors.InvalidRequestError` (a 4xx), a collection dropped under us a
:class:`~semcached.errors.CollectionNotFoundError`, anything else a
:class:`~semcached.errors.VectorIndexError` (a 503; the service retries those).
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import numpy as np

from semcached.errors import VectorIndexError
from semcached.index.chroma_client import ChromaConnection
from semcached.index.knowledge.chroma_collection import (
    ChromaKnowledgeCollection,
    chroma_call,
    is_missing,
)
from semcached.index.knowledge.store import CollectionEntry, KnowledgeCollection
from semcached.index.vector.base import collection_name

__all__ = ["ChromaKnowledgeCollection", "ChromaKnowledgeStore"]

_ONE = np.ones((1, 1), dtype=np.float32)  # registry rows need a vector; never searched by it
_CHUNK_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 128}}
_PLAIN_CONFIGURATION = {"hnsw": {"space": "cosine"}}


class ChromaKnowledgeStore:
    """Knowledge collections in ChromaDB: embedded under ``path``, or the server at ``url``.

    Example::

        store = ChromaKnowledgeStore(path=".semcached/chroma")       # embedded, persistent
        store = ChromaKnowledgeStore(url="http://localhost:8000")    # a Chroma server
        kb = KnowledgeBase(embedder=embedder, store=store)
    """

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        prefix: str = "semcached",
        tenant: str = "default_tenant",
        database: str = "default_database",
        timeout_s: float = 10.0,
    ) -> None:
        self.prefix = prefix
        self._connection = ChromaConnection(
            path=path, url=url, tenant=tenant, database=database, timeout_s=timeout_s
        )
        self._location = self._connection.location
        self._max_batch: int | None = None
        self._handles: dict[tuple[str, str, str], ChromaKnowledgeCollection] = {}
        self._lock = threading.Lock()
        self._connection.open_now(self._connected)

    def _connected(self) -> Any:
        """The client, connecting first if it is not yet (a server down at start-up)."""
        try:
            return self._connection.client()
        except Exception as exc:  # an outage, never the caller's input (chromadb: ValueError)
            raise VectorIndexError(f"ChromaDB connect to {self._location!r} failed: {exc}") from exc

    @property
    def max_batch(self) -> int:
        """The most records ChromaDB takes in one call (asked once, on first need)."""
        if self._max_batch is None:
            client = self._connected()
            size = chroma_call("get_max_batch_size", self._location, client.get_max_batch_size)
            self._max_batch = max(1, int(size))
        return self._max_batch

    @property
    def location(self) -> str:
        return self._location

    def names(self, namespace: str, name: str, model_id: str) -> tuple[str, str]:
        """The ChromaDB names of the (chunks, items) collections."""
        key = f"{namespace}/{name}"  # unambiguous: collection names hold no "/"
        return (
            collection_name(self.prefix, "kbc", key, model_id),
            collection_name(self.prefix, "kbi", key, model_id),
        )

    def _registry_name(self, namespace: str, model_id: str) -> str:
        return collection_name(self.prefix, "kbr", namespace, model_id)

    def _registry(self, namespace: str, model_id: str, *, create: bool) -> Any | None:
        name = self._registry_name(namespace, model_id)
        if create:
            return chroma_call(
                "get_or_create_collection",
                name,
                lambda: self._connected().get_or_create_collection(
                    name=name,
                    embedding_function=None,
                    configuration=_PLAIN_CONFIGURATION,
                    metadata={"semcached": "knowledge-registry"},
                ),
            )
        return self._existing(name)

    def _existing(self, name: str) -> Any | None:
        try:
            return self._connected().get_collection(name=name, embedding_function=None)
        except Exception as exc:
            if is_missing(exc) or "does not exist" in str(exc):
                return None
            raise VectorIndexError(f"ChromaDB get_collection {name!r} failed: {exc}") from exc

    def open(
        self, namespace: str, name: str, *, model_id: str, create: bool = False
    ) -> KnowledgeCollection | None:
        key = (namespace, model_id, name)
        with self._lock:
            cached = self._handles.get(key)
        if cached is not None:
            return cached
        chunks_name, items_name = self.names(namespace, name, model_id)
        if not create:
            chunks = self._existing(chunks_name)
            items = self._existing(items_name) if chunks is not None else None
            if chunks is None or items is None:
                return None
        else:
            info = {"semcached": "knowledge", "kb_namespace": namespace, "kb_collection": name}
            epoch = secrets.token_hex(6)
            chunks = chroma_call(
                "get_or_create_collection",
                chunks_name,
                lambda: self._connected().get_or_create_collection(
                    name=chunks_name,
                    embedding_function=None,
                    configuration=_CHUNK_CONFIGURATION,
                    metadata={**info, "model_id": model_id, "kb_epoch": epoch},
                ),
            )
            items = chroma_call(
                "get_or_create_collection",
                items_name,
                lambda: self._connected().get_or_create_collection(
                    name=items_name,
                    embedding_function=None,
                    configuration=_PLAIN_CONFIGURATION,
                    metadata={**info, "role": "items"},
                ),
            )
        handle = ChromaKnowledgeCollection(namespace, name, chunks, items, max_batch=self.max_batch)
        if create:
            registry: Any = self._registry(namespace, model_id, create=True)
            existing = chroma_call("get", "registry", lambda: registry.get(ids=[name]))
            if not existing["ids"]:
                self._put_entry(registry, CollectionEntry(name, namespace, handle.epoch))
        with self._lock:
            return self._handles.setdefault(key, handle)

    def _put_entry(self, registry: Any, entry: CollectionEntry) -> None:
        chroma_call(
            "upsert",
            registry.name,
            lambda: registry.upsert(
                ids=[entry.name],
                embeddings=_ONE,
                documents=[""],
                metadatas=[
                    {
                        "epoch": entry.epoch,
                        "items": entry.items,
                        "chunks": entry.chunks,
                        "size": entry.size,
                    }
                ],
            ),
        )

    def entries(self, namespace: str, *, model_id: str) -> list[CollectionEntry]:
        registry = self._registry(namespace, model_id, create=False)
        if registry is None:
            return []
        result = chroma_call("get", registry.name, lambda: registry.get(include=["metadatas"]))
        metas = result.get("metadatas") or [None] * len(result["ids"])
        found = [
            CollectionEntry(
                name=name,
                namespace=namespace,
                epoch=str((m or {}).get("epoch", "")),
                items=int((m or {}).get("items", 0)),
                chunks=int((m or {}).get("chunks", 0)),
                size=int((m or {}).get("size", 0)),
            )
            for name, m in zip(result["ids"], metas, strict=True)
        ]
        return sorted(found, key=lambda e: e.name)

    def set_usage(
        self, namespace: str, name: str, *, model_id: str, items: int, chunks: int, size: int
    ) -> None:
        registry = self._registry(namespace, model_id, create=True)
        handle = self.open(namespace, name, model_id=model_id)
        epoch = handle.epoch if handle is not None else ""
        self._put_entry(registry, CollectionEntry(name, namespace, epoch, items, chunks, size))

    def drop(self, namespace: str, name: str, *, model_id: str) -> bool:
        key = (namespace, model_id, name)
        with self._lock:
            self._handles.pop(key, None)
        existed = False
        for chroma_name in self.names(namespace, name, model_id):
            try:
                self._connected().delete_collection(chroma_name)
                existed = True
            except Exception as exc:
                if not is_missing(exc) and "does not exist" not in str(exc):
                    raise VectorIndexError(
                        f"ChromaDB delete_collection {chroma_name!r} failed: {exc}"
                    ) from exc
        registry = self._registry(namespace, model_id, create=False)
        if registry is not None:
            chroma_call("delete", registry.name, lambda: registry.delete(ids=[name]))
        return existed

    def forget(self, namespace: str, name: str, *, model_id: str) -> None:
        """Drop the cached handle (after another process dropped the collection)."""
        with self._lock:
            self._handles.pop((namespace, model_id, name), None)

    def physical_names(self) -> list[str]:
        """Every ChromaDB collection name (maintenance and tests; walks the whole database)."""
        collections = chroma_call(
            "list_collections", self._location, self._connected().list_collections
        )
        return sorted(c if isinstance(c, str) else c.name for c in collections)
