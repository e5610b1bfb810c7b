"""One knowledge collection in two ChromaDB collections (chunks and item records), and how
ChromaDB's rows and exceptions are translated (see :mod:`semcached.index.knowledge.chroma`)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from semcached.errors import CollectionNotFoundError, InvalidRequestError, VectorIndexError
from semcached.index.knowledge.store import (
    REVISION_ID,
    ChunkRecord,
    ItemRecord,
    Where,
    parse_chunk_id,
    user_metadata,
)
from semcached.index.vector.base import similarity_from_distance

__all__ = ["ChromaKnowledgeCollection", "chroma_call", "is_missing"]

T = TypeVar("T")
_ONE = np.ones((1, 1), dtype=np.float32)  # record rows need a vector; never searched by it
_PAGE = 2000


def _refused(exc: Exception) -> bool:
    """Whether ChromaDB refused the input (as opposed to failing)."""
    try:
        from chromadb.errors import InvalidArgumentError
    except ImportError:  # pragma: no cover - chromadb is a core dependency
        return isinstance(exc, ValueError | TypeError)
    return isinstance(exc, InvalidArgumentError | ValueError | TypeError)


def is_missing(exc: Exception) -> bool:
    try:
        from chromadb.errors import NotFoundError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, NotFoundError)


def chroma_call(what: str, name: str, fn: Callable[[], T], *, field: str = "items") -> T:
    try:
        return fn()
    except (VectorIndexError, InvalidRequestError):
        raise
    except Exception as exc:  # chromadb raises many unrelated types (HTTP, Rust, sqlite)
        if is_missing(exc):
            raise CollectionNotFoundError(
                f"collection: ChromaDB has no collection {name!r} any more (dropped by another "
                f"process?): {exc}. Fix: ingest into it again",
                field="collection",
            ) from exc
        if _refused(exc):
            raise InvalidRequestError(
                f"{field}: ChromaDB refused the {what} on {name!r}: {exc}. Fix: correct the "
                "input as the message says",
                field=field,
            ) from exc
        raise VectorIndexError(f"ChromaDB {what} on collection {name!r} failed: {exc}") from exc


def _pages(values: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def _record_metadata(record: ItemRecord) -> dict[str, Any]:
    return {
        "_kb_version": record.version,
        "_kb_hash": record.content_hash,
        "_kb_chunks": record.chunks,
        "_kb_size": record.size,
        "_kb_seq": record.seq,
        "_kb_pending": record.pending,
        "_kb_pending_chunks": record.pending_chunks,
        "_kb_pending_at": record.pending_at,
        "_kb_writer": record.writer,
        "_kb_stale": ",".join(record.stale),
        "_kb_dirty": record.dirty,
        "_kb_deleted": record.deleted,
        "_kb_live": record.live,
        "_kb_meta": json.dumps(record.metadata, ensure_ascii=False, sort_keys=True),
    }


def _record(item_id: str, meta: dict[str, Any] | None, text: str | None) -> ItemRecord:
    m = meta or {}
    stale = str(m.get("_kb_stale") or "")
    return ItemRecord(
        id=item_id,
        version=str(m.get("_kb_version") or ""),
        text=text or "",
        metadata=json.loads(str(m.get("_kb_meta") or "{}")),
        content_hash=str(m.get("_kb_hash") or ""),
        chunks=int(m.get("_kb_chunks") or 0),
        size=int(m.get("_kb_size") or 0),
        seq=int(m.get("_kb_seq") or 0),
        pending=str(m.get("_kb_pending") or ""),
        pending_chunks=int(m.get("_kb_pending_chunks") or 0),
        pending_at=int(m.get("_kb_pending_at") or 0),
        writer=str(m.get("_kb_writer") or ""),
        stale=tuple(stale.split(",")) if stale else (),
        dirty=bool(m.get("_kb_dirty")),
        deleted=bool(m.get("_kb_deleted")),
    )


def _chunk(chunk_id: str, document: str | None, meta: dict[str, Any] | None) -> ChunkRecord:
    m = meta or {}
    item_id, index, version = parse_chunk_id(chunk_id)
    text = document or ""
    return ChunkRecord(
        id=chunk_id,
        item_id=item_id,
        version=version,
        index=index,
        text=text,
        start=int(m.get("_kb_start", 0)),
        end=int(m.get("_kb_end", len(text))),
        metadata=user_metadata(m),
    )


class ChromaKnowledgeCollection:
    """The chunks and item records of one knowledge collection, in two ChromaDB collections."""

    def __init__(
        self, namespace: str, name: str, chunks: Any, items: Any, *, max_batch: int
    ) -> None:
        self._namespace = namespace
        self._name = name
        self._chunks = chunks
        self._items = items
        self.chunks_name: str = chunks.name
        self.items_name: str = items.name
        self._epoch = str((chunks.metadata or {}).get("kb_epoch", ""))
        self.max_batch = max_batch

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def name(self) -> str:
        return self._name

    @property
    def epoch(self) -> str:
        return self._epoch

    # -- item records -----------------------------------------------------------------------

    def _get_records(self, **kwargs: Any) -> list[ItemRecord]:
        result = chroma_call("get", self.items_name, lambda: self._items.get(**kwargs))
        ids = result["ids"]
        metas = result.get("metadatas") or [None] * len(ids)
        docs = result.get("documents") or [None] * len(ids)
        return [
            _record(i, m, d) for i, m, d in zip(ids, metas, docs, strict=True) if i != REVISION_ID
        ]

    def _get_paged(self, where: Where) -> list[ItemRecord]:
        found: list[ItemRecord] = []
        offset = 0
        while True:
            page = self._get_records(
                where=dict(where), limit=_PAGE, offset=offset, include=["metadatas"]
            )
            found.extend(page)
            if len(page) < _PAGE:
                return found
            offset += _PAGE

    def records(self, ids: Sequence[str], *, text: bool = True) -> dict[str, ItemRecord]:
        include = ["metadatas", "documents"] if text else ["metadatas"]
        found: dict[str, ItemRecord] = {}
        for batch in _pages(ids, self.max_batch):
            for record in self._get_records(ids=batch, include=include):
                found[record.id] = record
        return found

    def put_records(self, records: Sequence[ItemRecord]) -> None:
        for batch in _pages(records, self.max_batch):
            chroma_call(
                "upsert",
                self.items_name,
                partial(
                    self._items.upsert,
                    ids=[r.id for r in batch],
                    embeddings=np.repeat(_ONE, len(batch), axis=0),
                    documents=[r.text for r in batch],
                    metadatas=[_record_metadata(r) for r in batch],
                ),
            )

    def delete_records(self, ids: Sequence[str]) -> None:
        for batch in _pages(ids, self.max_batch):
            chroma_call("delete", self.items_name, partial(self._items.delete, ids=batch))

    def list_records(self, limit: int, offset: int) -> list[ItemRecord]:
        return self._get_records(
            where={"_kb_live": True}, limit=limit, offset=offset, include=["metadatas"]
        )

    def changed_since(self, seq: int) -> list[ItemRecord]:
        return self._get_paged({"_kb_seq": {"$gte": int(seq)}})

    def dirty_records(self) -> list[ItemRecord]:
        return self._get_paged({"_kb_dirty": True})

    def tombstones_before(self, seq: int) -> list[str]:
        where = {"$and": [{"_kb_deleted": True}, {"_kb_seq": {"$lt": int(seq)}}]}
        return [r.id for r in self._get_paged(where)]

    def revision(self) -> str:
        result = chroma_call(
            "get",
            self.items_name,
            lambda: self._items.get(ids=[REVISION_ID], include=["metadatas"]),
        )
        metas = result.get("metadatas") or []
        if not result["ids"] or not metas:
            return ""
        return str((metas[0] or {}).get("_kb_revision", ""))

    def bump_revision(self) -> str:
        token = secrets.token_hex(8)
        chroma_call(
            "upsert",
            self.items_name,
            lambda: self._items.upsert(
                ids=[REVISION_ID],
                embeddings=_ONE,
                documents=[""],
                metadatas=[{"_kb_revision": token}],
            ),
        )
        return token

    # -- chunks -----------------------------------------------------------------------------

    def put_chunks(self, chunks: Sequence[ChunkRecord], vectors: NDArray[np.float32]) -> None:
        if len(chunks) != len(vectors):
            raise ValueError(f"expected one vector per chunk, got {len(vectors)} for {len(chunks)}")
        array = np.asarray(vectors, dtype=np.float32)
        for start in range(0, len(chunks), self.max_batch):
            batch = chunks[start : start + self.max_batch]
            rows = array[start : start + self.max_batch]
            chroma_call(
                "upsert",
                self.chunks_name,
                partial(
                    self._chunks.upsert,
                    ids=[c.id for c in batch],
                    embeddings=rows,
                    documents=[c.text for c in batch],
                    metadatas=[
                        {
                            **c.metadata,
                            "_kb_item": c.item_id,
                            "_kb_version": c.version,
                            "_kb_chunk": c.index,
                            "_kb_start": c.start,
                            "_kb_end": c.end,
                        }
                        for c in batch
                    ],
                ),
            )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for batch in _pages(ids, self.max_batch):
            chroma_call("delete", self.chunks_name, partial(self._chunks.delete, ids=batch))

    def get_chunks(
        self,
        ids: Sequence[str],
        *,
        where: Where | None = None,
        where_document: Where | None = None,
    ) -> dict[str, ChunkRecord]:
        found: dict[str, ChunkRecord] = {}
        for batch in _pages(ids, self.max_batch):
            result = chroma_call(
                "get",
                self.chunks_name,
                partial(
                    self._chunks.get,
                    ids=batch,
                    where=dict(where) if where else None,
                    where_document=dict(where_document) if where_document else None,
                    include=["metadatas", "documents"],
                ),
                field="where",
            )
            metas = result.get("metadatas") or [None] * len(result["ids"])
            docs = result.get("documents") or [None] * len(result["ids"])
            for chunk_id, meta, doc in zip(result["ids"], metas, docs, strict=True):
                found[chunk_id] = _chunk(chunk_id, doc, meta)
        return found

    def get_vectors(self, ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        found: dict[str, NDArray[np.float32]] = {}
        for batch in _pages(ids, self.max_batch):
            result = chroma_call(
                "get",
                self.chunks_name,
                partial(self._chunks.get, ids=batch, include=["embeddings"]),
            )
            embeddings = result.get("embeddings")
            if embeddings is None:
                continue
            for chunk_id, vector in zip(result["ids"], embeddings, strict=True):
                found[chunk_id] = np.asarray(vector, dtype=np.float32)
        return found

    def query(
        self,
        vector: NDArray[np.float32],
        n: int,
        *,
        where: Where | None = None,
        where_document: Where | None = None,
    ) -> list[tuple[str, float]]:
        if n <= 0:
            return []
        result = chroma_call(
            "query",
            self.chunks_name,
            lambda: self._chunks.query(
                query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
                n_results=n,
                where=dict(where) if where else None,
                where_document=dict(where_document) if where_document else None,
                include=["distances"],
            ),
            field="where",
        )
        ids = result["ids"][0]
        distances = result["distances"][0]
        return [(i, similarity_from_distance(d)) for i, d in zip(ids, distances, strict=True)]

    def chunk_count(self) -> int:
        return int(chroma_call("count", self.chunks_name, self._chunks.count))

    def all_chunk_ids(self) -> list[str]:
        ids: list[str] = []
        offset = 0
        while True:
            result = chroma_call(
                "get",
                self.chunks_name,
                partial(self._chunks.get, limit=_PAGE, offset=offset, include=[]),
            )
            ids.extend(result["ids"])
            if len(result["ids"]) < _PAGE:
                return sorted(ids)
            offset += _PAGE
