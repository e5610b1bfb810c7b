"""How knowledge lives in ChromaDB: two collections per (namespace, knowledge collection, model).

* **chunks** (``collection_name(prefix, "kb", ...)``): one row per chunk, id ``{item_id}#{n}``,
  the chunk's vector and text, and metadata: the item's own metadata plus ``_kb_item``,
  ``_kb_chunk``, ``_kb_start`` and ``_kb_end`` (where the chunk lies in the item's text).
* **items** (``collection_name(prefix, "kbitems", ...)``): one row per item, id the item id,
  the full text as document, the item's metadata plus ``_kb_hash`` (content hash), ``_kb_chunks``
  and ``_kb_state``. It is the commit record of an item: a write sets ``_kb_state`` to
  ``"writing"``, upserts the chunks, deletes the item's chunks that the new version does not
  have, and only then records ``"ok"`` with the new hash. An interrupted write therefore leaves
  a record that never matches, and the next ingest redoes that item; chunk ids are
  deterministic, so redoing it never duplicates. The row ``__kb_revision__`` holds a token that
  changes on every write, so other processes know when to rebuild their lexical index.

Knowledge collections are separate from the cache's collections (kind ``kb``, not ``cache``),
and the namespace is part of every name: one tenant can never search another's documents.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from semcached.errors import InvalidRequestError
from semcached.index.vector.chroma import _guard, collection_name

__all__ = [
    "RESERVED_PREFIX",
    "REVISION_ID",
    "KnowledgeBackend",
    "KnowledgeCollection",
    "check_collection_name",
]

RESERVED_PREFIX = "_kb_"
REVISION_ID = "__kb_revision__"
KIND_CHUNKS = "kb"
KIND_ITEMS = "kbitems"
STATE_OK = "ok"
STATE_WRITING = "writing"
STATE_DELETING = "deleting"
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# Item rows need a vector in ChromaDB; they are never searched by it.
_ITEM_VECTOR = np.ones((1, 1), dtype=np.float32)
# Denser HNSW than the cache's default: recall at depth 100+ matters for search quality.
_CHUNK_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_construction": 200, "ef_search": 128}}


class KnowledgeBackend(Protocol):
    """What knowledge search needs of a ChromaDB client (a :class:`ChromaBackend`)."""

    def collection(
        self,
        name: str,
        *,
        metadata: dict[str, Any] | None = None,
        configuration: dict[str, Any] | None = None,
    ) -> Any: ...

    def max_batch_size(self) -> int: ...

    def list_names(self) -> list[str]: ...

    def drop(self, name: str) -> bool: ...


def check_collection_name(name: Any, field: str = "collection") -> str:
    """A knowledge collection name: 1-63 of ``[A-Za-z0-9._-]``, starting alphanumeric."""
    if not isinstance(name, str) or not _COLLECTION.match(name):
        raise InvalidRequestError(
            f"{field}: expected 1-63 characters of [A-Za-z0-9._-] starting with a letter or "
            f"digit, got {name!r}. Fix: choose a name such as 'docs' or 'support-faq'",
            field=field,
        )
    return name


def _call(name: str, what: str, method: Callable[..., Any], **kwargs: Any) -> Any:
    """``method(**kwargs)`` with ChromaDB's exceptions turned into VectorIndexError."""
    return _guard(what, name, lambda: method(**kwargs))


def _batches(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item's commit record as stored."""

    id: str
    text: str
    metadata: dict[str, Any]
    content_hash: str
    chunks: int
    state: str


@dataclass(frozen=True, slots=True)
class ChunkRow:
    """One stored chunk, as read back."""

    id: str
    item_id: str
    index: int
    text: str
    start: int
    end: int
    metadata: dict[str, Any]


def user_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The item's own metadata: everything but semcached's ``_kb_`` keys."""
    return {k: v for k, v in (metadata or {}).items() if not k.startswith(RESERVED_PREFIX)}


def chunk_row(chunk_id: str, document: str | None, metadata: Mapping[str, Any] | None) -> ChunkRow:
    meta = dict(metadata or {})
    item_id = str(meta.get("_kb_item", chunk_id.rsplit("#", 1)[0]))
    return ChunkRow(
        id=chunk_id,
        item_id=item_id,
        index=int(meta.get("_kb_chunk", 0)),
        text=document or "",
        start=int(meta.get("_kb_start", 0)),
        end=int(meta.get("_kb_end", len(document or ""))),
        metadata=user_metadata(meta),
    )


class KnowledgeCollection:
    """The pair of ChromaDB collections behind one knowledge collection of one namespace.

    Every ChromaDB call goes through ``_guard``: failures surface as
    :class:`~semcached.errors.VectorIndexError` naming the operation and collection.
    """

    def __init__(
        self,
        backend: KnowledgeBackend,
        *,
        prefix: str,
        namespace: str,
        name: str,
        model_id: str,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.chunks_name, self.items_name = self.names(prefix, namespace, name, model_id)
        self.max_batch = max(1, backend.max_batch_size())
        info = {"semcached": "knowledge", "kb_namespace": namespace, "kb_collection": name}
        self._chunks: Any = backend.collection(
            self.chunks_name,
            metadata={**info, "model_id": model_id},
            configuration=_CHUNK_CONFIGURATION,
        )
        self._items: Any = backend.collection(self.items_name, metadata={**info, "role": "items"})

    @staticmethod
    def names(prefix: str, namespace: str, name: str, model_id: str) -> tuple[str, str]:
        """The ChromaDB names of the (chunks, items) collections."""
        key = f"{namespace}/{name}"  # unambiguous: collection names hold no "/"
        return (
            collection_name(prefix, KIND_CHUNKS, key, model_id),
            collection_name(prefix, KIND_ITEMS, key, model_id),
        )

    # -- item records -----------------------------------------------------------------------

    def records(self, ids: Sequence[str]) -> dict[str, ItemRecord]:
        """The commit records of those items that have one."""
        found: dict[str, ItemRecord] = {}
        for batch in _batches(ids, self.max_batch):
            result = _call(
                self.items_name,
                "get",
                self._items.get,
                ids=list(batch),
                include=["metadatas", "documents"],
            )
            metadatas = result.get("metadatas") or [None] * len(result["ids"])
            documents = result.get("documents") or [None] * len(result["ids"])
            for item_id, raw, doc in zip(result["ids"], metadatas, documents, strict=True):
                meta = dict(raw or {})
                found[item_id] = ItemRecord(
                    id=item_id,
                    text=doc or "",
                    metadata=meta,
                    content_hash=str(meta.get("_kb_hash", "")),
                    chunks=int(meta.get("_kb_chunks", 0)),
                    state=str(meta.get("_kb_state", "")),
                )
        return found

    def write_records(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            count = len(ids[start:end])
            _call(
                self.items_name,
                "upsert",
                self._items.upsert,
                ids=list(ids[start:end]),
                embeddings=np.repeat(_ITEM_VECTOR, count, axis=0),
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def update_records(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            _call(
                self.items_name,
                "update",
                self._items.update,
                ids=list(ids[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def delete_records(self, ids: Sequence[str]) -> None:
        for batch in _batches(ids, self.max_batch):
            _call(self.items_name, "delete", self._items.delete, ids=list(batch))

    def list_records(self, limit: int, offset: int) -> list[ItemRecord]:
        result = _call(
            self.items_name,
            "get",
            self._items.get,
            where={"_kb_state": {"$in": [STATE_OK, STATE_WRITING, STATE_DELETING]}},
            limit=limit,
            offset=offset,
            include=["metadatas"],
        )
        metadatas = result.get("metadatas") or [None] * len(result["ids"])
        return [
            ItemRecord(
                id=item_id,
                text="",
                metadata=dict(meta or {}),
                content_hash=str((meta or {}).get("_kb_hash", "")),
                chunks=int((meta or {}).get("_kb_chunks", 0)),
                state=str((meta or {}).get("_kb_state", "")),
            )
            for item_id, meta in zip(result["ids"], metadatas, strict=True)
        ]

    def item_count(self) -> int:
        total = int(_guard("count", self.items_name, self._items.count))
        return max(0, total - (1 if self.revision() else 0))

    # -- revision -----------------------------------------------------------------------------

    def revision(self) -> str:
        """The token of the last write ("" before any)."""
        result = _call(
            self.items_name, "get", self._items.get, ids=[REVISION_ID], include=["metadatas"]
        )
        metadatas = result.get("metadatas") or []
        if not result["ids"] or not metadatas:
            return ""
        return str((metadatas[0] or {}).get("_kb_revision", ""))

    def bump_revision(self) -> str:
        token = secrets.token_hex(8)
        _call(
            self.items_name,
            "upsert",
            self._items.upsert,
            ids=[REVISION_ID],
            embeddings=_ITEM_VECTOR,
            documents=[""],
            metadatas=[{"_kb_revision": token}],
        )
        return token

    # -- chunks -------------------------------------------------------------------------------

    def chunk_metadata_of(self, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Every stored chunk of those items (whatever its state): chunk id to metadata."""
        found: dict[str, dict[str, Any]] = {}
        # Bound the $in list: each id may have many chunks, the result is unbounded anyway.
        for batch in _batches(item_ids, 256):
            result = _call(
                self.chunks_name,
                "get",
                self._chunks.get,
                where={"_kb_item": {"$in": list(batch)}},
                include=["metadatas"],
            )
            metadatas = result.get("metadatas") or [None] * len(result["ids"])
            for chunk_id, meta in zip(result["ids"], metadatas, strict=True):
                found[chunk_id] = dict(meta or {})
        return found

    def write_chunks(
        self,
        ids: Sequence[str],
        vectors: NDArray[np.float32],
        texts: Sequence[str],
        metadatas: Sequence[dict[str, Any]],
    ) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            _call(
                self.chunks_name,
                "upsert",
                self._chunks.upsert,
                ids=list(ids[start:end]),
                embeddings=np.asarray(vectors[start:end], dtype=np.float32),
                documents=list(texts[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def update_chunks(self, ids: Sequence[str], metadatas: Sequence[dict[str, Any]]) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            _call(
                self.chunks_name,
                "update",
                self._chunks.update,
                ids=list(ids[start:end]),
                metadatas=list(metadatas[start:end]),
            )

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for batch in _batches(ids, self.max_batch):
            _call(self.chunks_name, "delete", self._chunks.delete, ids=list(batch))

    def chunk_count(self) -> int:
        return int(_guard("count", self.chunks_name, self._chunks.count))

    def all_chunks(self, page: int = 2000) -> Iterator[tuple[str, str]]:
        """(chunk id, text) of every chunk, paged (to rebuild the lexical index)."""
        offset = 0
        while True:
            result = _call(
                self.chunks_name,
                "get",
                self._chunks.get,
                limit=page,
                offset=offset,
                include=["documents"],
            )
            ids = result["ids"]
            documents = result.get("documents") or [None] * len(ids)
            for chunk_id, doc in zip(ids, documents, strict=True):
                yield chunk_id, doc or ""
            if len(ids) < page:
                return
            offset += page

    def query(
        self,
        vector: NDArray[np.float32],
        n: int,
        where: dict[str, Any] | None,
        where_document: dict[str, Any] | None,
    ) -> list[tuple[ChunkRow, float]]:
        """The ``n`` nearest chunks passing the filters, with their distances, nearest first."""
        result = _call(
            self.chunks_name,
            "query",
            self._chunks.query,
            query_embeddings=np.asarray(vector, dtype=np.float32).reshape(1, -1),
            n_results=n,
            where=where or None,
            where_document=where_document or None,
            include=["distances", "metadatas", "documents"],
        )
        ids = result["ids"][0]
        distances = result["distances"][0]
        metadatas = (result.get("metadatas") or [[None] * len(ids)])[0]
        documents = (result.get("documents") or [[None] * len(ids)])[0]
        return [
            (chunk_row(i, doc, meta), float(d))
            for i, d, meta, doc in zip(ids, distances, metadatas, documents, strict=True)
        ]

    def chunks_by_id(
        self,
        ids: Sequence[str],
        where: dict[str, Any] | None = None,
        where_document: dict[str, Any] | None = None,
    ) -> dict[str, ChunkRow]:
        """Those chunks (of ``ids``) that exist and pass the filters."""
        found: dict[str, ChunkRow] = {}
        for batch in _batches(ids, self.max_batch):
            result = _call(
                self.chunks_name,
                "get",
                self._chunks.get,
                ids=list(batch),
                where=where or None,
                where_document=where_document or None,
                include=["metadatas", "documents"],
            )
            metadatas = result.get("metadatas") or [None] * len(result["ids"])
            documents = result.get("documents") or [None] * len(result["ids"])
            for chunk_id, meta, doc in zip(result["ids"], metadatas, documents, strict=True):
                found[chunk_id] = chunk_row(chunk_id, doc, meta)
        return found

    def vectors(self, ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        if not ids:
            return {}
        result = _call(
            self.chunks_name, "get", self._chunks.get, ids=list(ids), include=["embeddings"]
        )
        embeddings = result.get("embeddings")
        if embeddings is None:
            return {}
        return {
            chunk_id: np.asarray(vector, dtype=np.float32)
            for chunk_id, vector in zip(result["ids"], embeddings, strict=True)
        }
