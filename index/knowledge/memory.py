"""An in-process :class:`~semcached.index.knowledge.store.KnowledgeStore`: for tests, notebooks
and small embedded uses. Nothing survives the process; everything else behaves as ChromaDB does
(the contract test holds both to the same behaviour, filters included)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from semcached.index.knowledge.filters import matches_document, matches_where
from semcached.index.knowledge.store import (
    ChunkRecord,
    CollectionEntry,
    ItemRecord,
    KnowledgeCollection,
    Where,
)

__all__ = ["MemoryKnowledgeCollection", "MemoryKnowledgeStore"]


class MemoryKnowledgeCollection:
    """One knowledge collection held in dictionaries; queries are exact (brute force)."""

    def __init__(self, namespace: str, name: str) -> None:
        self._namespace = namespace
        self._name = name
        self._epoch = secrets.token_hex(6)
        self._chunks: dict[str, tuple[ChunkRecord, NDArray[np.float32]]] = {}
        self._records: dict[str, ItemRecord] = {}
        self._revision = ""
        self._lock = threading.Lock()

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def name(self) -> str:
        return self._name

    @property
    def epoch(self) -> str:
        return self._epoch

    def records(self, ids: Sequence[str], *, text: bool = True) -> dict[str, ItemRecord]:
        with self._lock:
            found = {i: self._records[i] for i in ids if i in self._records}
        return found if text else {i: r.but(text="") for i, r in found.items()}

    def put_records(self, records: Sequence[ItemRecord]) -> None:
        with self._lock:
            for record in records:
                self._records[record.id] = record

    def delete_records(self, ids: Sequence[str]) -> None:
        with self._lock:
            for item_id in ids:
                self._records.pop(item_id, None)

    def list_records(self, limit: int, offset: int) -> list[ItemRecord]:
        with self._lock:
            live = sorted((r for r in self._records.values() if r.live), key=lambda r: r.id)
        return [r.but(text="") for r in live[offset : offset + limit]]

    def changed_since(self, seq: int) -> list[ItemRecord]:
        with self._lock:
            return [r.but(text="") for r in self._records.values() if r.seq >= seq]

    def dirty_records(self) -> list[ItemRecord]:
        with self._lock:
            return [r.but(text="") for r in self._records.values() if r.dirty]

    def tombstones_before(self, seq: int) -> list[str]:
        with self._lock:
            return [r.id for r in self._records.values() if r.deleted and r.seq < seq]

    def revision(self) -> str:
        return self._revision

    def bump_revision(self) -> str:
        self._revision = secrets.token_hex(8)
        return self._revision

    def put_chunks(self, chunks: Sequence[ChunkRecord], vectors: NDArray[np.float32]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"expected one vector per chunk, got {len(vectors)} for {len(chunks)}")
        with self._lock:
            for chunk, vector in zip(chunks, vectors, strict=True):
                self._chunks[chunk.id] = (chunk, np.array(vector, dtype=np.float32))

    def delete_chunks(self, ids: Sequence[str]) -> None:
        with self._lock:
            for chunk_id in ids:
                self._chunks.pop(chunk_id, None)

    def get_chunks(
        self,
        ids: Sequence[str],
        *,
        where: Where | None = None,
        where_document: Where | None = None,
    ) -> dict[str, ChunkRecord]:
        with self._lock:
            rows = [self._chunks[i][0] for i in ids if i in self._chunks]
        return {
            row.id: row
            for row in rows
            if matches_where(where, row.metadata) and matches_document(where_document, row.text)
        }

    def get_vectors(self, ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        with self._lock:
            return {i: self._chunks[i][1].copy() for i in ids if i in self._chunks}

    def query(
        self,
        vector: NDArray[np.float32],
        n: int,
        *,
        where: Where | None = None,
        where_document: Where | None = None,
    ) -> list[tuple[str, float]]:
        with self._lock:
            rows = [
                (chunk.id, stored)
                for chunk, stored in self._chunks.values()
                if matches_where(where, chunk.metadata)
                and matches_document(where_document, chunk.text)
            ]
        if not rows or n <= 0:
            return []
        matrix = np.stack([stored for _, stored in rows])
        scores = matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
        order = np.argsort(-scores, kind="stable")[:n]
        return [(rows[i][0], max(-1.0, min(1.0, float(scores[i])))) for i in order]

    def chunk_count(self) -> int:
        return len(self._chunks)

    def all_chunk_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._chunks)


class MemoryKnowledgeStore:
    """Knowledge collections in this process's memory.

    Example::

        kb = KnowledgeBase(embedder=my_embedder, store=MemoryKnowledgeStore())
    """

    def __init__(self) -> None:
        self._collections: dict[tuple[str, str, str], MemoryKnowledgeCollection] = {}
        self._entries: dict[tuple[str, str, str], CollectionEntry] = {}
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return "memory"

    def open(
        self, namespace: str, name: str, *, model_id: str, create: bool = False
    ) -> KnowledgeCollection | None:
        key = (namespace, model_id, name)
        with self._lock:
            found = self._collections.get(key)
            if found is None and create:
                found = MemoryKnowledgeCollection(namespace, name)
                self._collections[key] = found
                self._entries[key] = CollectionEntry(name, namespace, found.epoch)
            return found

    def entries(self, namespace: str, *, model_id: str) -> list[CollectionEntry]:
        with self._lock:
            found = [
                e for (ns, m, _), e in self._entries.items() if ns == namespace and m == model_id
            ]
        return sorted(found, key=lambda e: e.name)

    def set_usage(
        self, namespace: str, name: str, *, model_id: str, items: int, chunks: int, size: int
    ) -> None:
        key = (namespace, model_id, name)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries[key] = replace(entry, items=items, chunks=chunks, size=size)

    def drop(self, namespace: str, name: str, *, model_id: str) -> bool:
        key = (namespace, model_id, name)
        with self._lock:
            self._entries.pop(key, None)
            return self._collections.pop(key, None) is not None
