"""Knowledge search: put documents in, find them by meaning and by words.

:class:`KnowledgeBase` chunks items to the embedding model's token limit, embeds and stores the
chunks in ChromaDB (see :mod:`semcached.index.knowledge.store` for the layout and how writes
survive an interruption), and searches them three ways (``mode``):

* ``dense``: cosine similarity of the query's vector to the chunks' (ChromaDB);
* ``lexical``: BM25 over the chunk texts (:mod:`~semcached.index.knowledge.bm25`, kept in
  memory, rebuilt from ChromaDB's documents when first needed);
* ``hybrid`` (default): both rankings fused by reciprocal rank
  (:mod:`~semcached.index.knowledge.fusion`).

Results are per item: an item's rank is that of its best chunk, and each result carries its
best chunks. ``score`` is on the mode's scale: cosine similarity (dense), BM25 (lexical), or
the fused score divided by its maximum, in [0, 1] (hybrid); ``min_score`` compares with it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import xxhash

from semcached.embeddings.base import Embedder
from semcached.errors import CollectionNotFoundError, ConfigurationError, InvalidRequestError
from semcached.index.knowledge.bm25 import BM25Index
from semcached.index.knowledge.chunking import Chunker
from semcached.index.knowledge.filters import validate_where, validate_where_document
from semcached.index.knowledge.fusion import reciprocal_rank_fusion, rrf_max_score
from semcached.index.knowledge.search import (
    MAX_K,
    SEARCH_MODES,
    Searcher,
    SearchMode,
    SearchResults,
)
from semcached.index.knowledge.store import (
    RESERVED_PREFIX,
    STATE_DELETING,
    STATE_OK,
    STATE_WRITING,
    KnowledgeBackend,
    KnowledgeCollection,
    check_collection_name,
    user_metadata,
)
from semcached.index.knowledge.types import (
    CollectionInfo,
    Item,
    StoredItem,
    UpsertReport,
    check_id,
    check_namespace,
    coerce_item,
)
from semcached.settings import Settings

__all__ = [
    "DEFAULT_COLLECTION",
    "MAX_K",
    "SEARCH_MODES",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Item",
    "KnowledgeBase",
    "SearchMode",
    "StoredItem",
    "UpsertReport",
]

log = logging.getLogger("semcached.knowledge")

DEFAULT_COLLECTION = "default"


class KnowledgeBase:
    """Documents in, search out: chunked, embedded, stored in ChromaDB, searched hybrid.

    ``KnowledgeBase()`` builds what it is not given from :class:`~semcached.settings.Settings`
    (``SEMCACHED_*``): the packaged model, embedded ChromaDB under ``SEMCACHED_DATA_DIR`` or the
    server at ``SEMCACHED_CHROMA_URL``. Items live in named collections (``"default"`` unless
    given) of a namespace, apart from the cache's entries.

    Example::

        kb = KnowledgeBase()
        kb.upsert([
            {"id": "a", "text": "Insulin lowers blood glucose.", "metadata": {"topic": "diabetes"}},
            {"id": "b", "text": "Statins lower LDL cholesterol.", "metadata": {"topic": "cardio"}},
        ])
        for hit in kb.search("what reduces blood sugar", k=3).hits:
            print(hit.id, round(hit.score, 3), hit.chunks[0].text)
        kb.search("cholesterol", mode="lexical", where={"topic": "cardio"})
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        backend: KnowledgeBackend | None = None,
        namespace: str | None = None,
        prefix: str | None = None,
        chunk_tokens: int | None = None,
        overlap_tokens: int = 48,
        batch_size: int = 128,
        rrf_k: float = 60.0,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        fusion_depth: int = 100,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        refresh_s: float = 2.0,
    ) -> None:
        if settings is None and (embedder is None or backend is None):
            settings = Settings()
        from semcached.embeddings.factory import build_embedder
        from semcached.index.factory import build_vector_backend

        if embedder is None:
            assert settings is not None
            embedder = build_embedder(settings)
        if backend is None:
            assert settings is not None
            built: Any = build_vector_backend(settings)
            backend = built
        if not all(hasattr(backend, attr) for attr in ("collection", "max_batch_size")):
            raise ConfigurationError(
                f"knowledge search needs a ChromaBackend (with collection() and "
                f"max_batch_size()), got {type(backend).__name__}"
            )
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be >= 1, got {batch_size}")
        if fusion_depth < 1:
            raise ConfigurationError(f"fusion_depth must be >= 1, got {fusion_depth}")
        if rrf_k < 0 or min(dense_weight, lexical_weight) < 0 or dense_weight + lexical_weight == 0:
            raise ConfigurationError(
                f"fusion needs rrf_k >= 0 and non-negative weights, not both 0; got rrf_k={rrf_k}, "
                f"dense_weight={dense_weight}, lexical_weight={lexical_weight}"
            )
        self.embedder = embedder
        self.backend: KnowledgeBackend = backend
        self.namespace = namespace or (settings.namespace if settings else "default")
        self.prefix = prefix or (settings.chroma.collection_prefix if settings else "semcached")
        model_limit, counter = _model_tokens(embedder)
        # Two of the model's positions go to its [CLS] and [SEP] tokens.
        budget = model_limit - 2 if model_limit else 254
        self.chunker = Chunker(
            max_tokens=min(chunk_tokens or budget, budget),
            overlap_tokens=overlap_tokens,
            count_tokens=counter,
        )
        self.batch_size = batch_size
        self.rrf_k = rrf_k
        self.weights = (dense_weight, lexical_weight)
        self.fusion_depth = fusion_depth
        self.bm25_params = (bm25_k1, bm25_b)
        self.refresh_s = refresh_s
        self._collections: dict[tuple[str, str], KnowledgeCollection] = {}
        self._lexical: dict[tuple[str, str], _Lexical] = {}
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._guard = threading.Lock()
        self.searcher = Searcher(self)

    # -- collections --------------------------------------------------------------------------

    def collection(
        self, name: str = DEFAULT_COLLECTION, namespace: str | None = None, *, create: bool = False
    ) -> KnowledgeCollection:
        """The stored collection ``name`` of ``namespace``.

        Raises :class:`CollectionNotFoundError` when it does not exist, unless ``create``.
        """
        namespace = check_namespace(namespace or self.namespace)
        check_collection_name(name)
        key = (namespace, name)
        with self._guard:
            found = self._collections.get(key)
        if found is not None:
            return found
        if not create:
            chunks_name, _ = KnowledgeCollection.names(
                self.prefix, namespace, name, self.embedder.model_id
            )
            if chunks_name not in self.backend.list_names():
                raise CollectionNotFoundError(
                    f"collection: namespace {namespace!r} has no knowledge collection {name!r} "
                    f"for model {self.embedder.model_id!r}. Fix: ingest items into it first, "
                    "or pick one of list_collections()",
                    field="collection",
                )
        made = KnowledgeCollection(
            self.backend,
            prefix=self.prefix,
            namespace=namespace,
            name=name,
            model_id=self.embedder.model_id,
        )
        with self._guard:
            return self._collections.setdefault(key, made)

    def lock(self, namespace: str, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.RLock())

    def list_collections(self, namespace: str | None = None) -> list[CollectionInfo]:
        """The knowledge collections of ``namespace`` for this embedding model, by name."""
        namespace = check_namespace(namespace or self.namespace)
        marker = f"{self.prefix}-kb-"
        infos: list[CollectionInfo] = []
        for chroma_name in self.backend.list_names():
            if not chroma_name.startswith(marker):
                continue
            meta = self._metadata_of(chroma_name)
            if (
                meta.get("kb_namespace") != namespace
                or meta.get("model_id") != self.embedder.model_id
            ):
                continue
            store = self.collection(str(meta.get("kb_collection")), namespace)
            infos.append(
                CollectionInfo(
                    name=store.name,
                    namespace=namespace,
                    items=store.item_count(),
                    chunks=store.chunk_count(),
                )
            )
        return sorted(infos, key=lambda info: info.name)

    def _metadata_of(self, chroma_name: str) -> dict[str, Any]:
        collection = self.backend.collection(chroma_name)
        return dict(getattr(collection, "metadata", None) or {})

    def drop_collection(self, name: str = DEFAULT_COLLECTION, namespace: str | None = None) -> bool:
        """Delete a knowledge collection with all its items; ``False`` when it did not exist."""
        namespace = check_namespace(namespace or self.namespace)
        check_collection_name(name)
        key = (namespace, name)
        chunks_name, items_name = KnowledgeCollection.names(
            self.prefix, namespace, name, self.embedder.model_id
        )
        with self.lock(*key):
            existed = self.backend.drop(chunks_name)
            self.backend.drop(items_name)
            with self._guard:
                self._collections.pop(key, None)
                self._lexical.pop(key, None)
        return existed

    # -- writes -------------------------------------------------------------------------------

    def upsert(
        self,
        items: Iterable[Item | Mapping[str, Any]],
        *,
        collection: str = DEFAULT_COLLECTION,
        namespace: str | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> UpsertReport:
        """Insert or replace items, ``batch_size`` at a time; unchanged items cost no embedding.

        ``progress`` is called with the number of items finished after each batch. A changed
        item's old chunks are all replaced; re-running an interrupted upsert is safe.
        """
        started = time.perf_counter()
        checked: Iterable[Item] = _checked(items)
        if isinstance(items, Sequence):
            # A list is checked whole first, so one bad item means nothing was written.
            checked = list(checked)
        report = UpsertReport()
        store: KnowledgeCollection | None = None
        for batch in _chunked(checked, self.batch_size):
            if store is None:
                store = self.collection(collection, namespace, create=True)
            self._write_batch(store, batch, report)
            if progress is not None:
                progress(len(batch))
        report.seconds = time.perf_counter() - started
        return report

    def content_hash(self, item: Item) -> tuple[str, str]:
        """(text hash, metadata hash): the text hash covers the chunking and the model too."""
        text_key = f"{self.chunker.fingerprint}\0{self.embedder.model_id}\0{item.text}"
        meta_key = json.dumps(dict(item.metadata), sort_keys=True, ensure_ascii=False)
        return (
            xxhash.xxh3_128_hexdigest(text_key.encode("utf-8", "surrogatepass")),
            xxhash.xxh3_64_hexdigest(meta_key.encode("utf-8", "surrogatepass")),
        )

    def _write_batch(
        self, store: KnowledgeCollection, batch: list[Item], report: UpsertReport
    ) -> None:
        key = (store.namespace, store.name)
        with self.lock(*key):
            records = store.records([item.id for item in batch])
            to_write: list[tuple[Item, str]] = []
            meta_only: list[tuple[Item, str]] = []
            for item in batch:
                text_hash, meta_hash = self.content_hash(item)
                full = f"{text_hash}:{meta_hash}"
                record = records.get(item.id)
                if record is not None and record.state == STATE_OK and record.content_hash == full:
                    report.unchanged += 1
                elif (
                    record is not None
                    and record.state == STATE_OK
                    and record.content_hash.split(":")[0] == text_hash
                ):
                    meta_only.append((item, full))
                else:
                    to_write.append((item, full))
            report.items += len(batch)
            if meta_only:
                self._update_metadata(store, meta_only, records)
                report.metadata_only += len(meta_only)
            if to_write:
                self._write_items(store, to_write, records, report)
            if meta_only or to_write:
                revision = store.bump_revision()
                lexical = self._lexical.get(key)
                if lexical is not None:
                    lexical.revision = revision

    def _write_items(
        self,
        store: KnowledgeCollection,
        todo: list[tuple[Item, str]],
        records: Mapping[str, Any],
        report: UpsertReport,
    ) -> None:
        ids = [item.id for item, _ in todo]
        # 1. Mark the items as being written: until step 4 no re-run can take them as done.
        store.write_records(
            ids,
            [item.text for item, _ in todo],
            [
                _with_cleared(
                    records.get(item.id),
                    {**item.metadata, "_kb_state": STATE_WRITING, "_kb_hash": "", "_kb_chunks": 0},
                )
                for item, _ in todo
            ],
        )
        existing = store.chunk_metadata_of(ids)
        chunk_ids: list[str] = []
        texts: list[str] = []
        metadatas: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for item, _ in todo:
            chunks = self.chunker.split(item.text)
            counts[item.id] = len(chunks)
            for chunk in chunks:
                chunk_id = f"{item.id}#{chunk.index}"
                meta: dict[str, Any] = {
                    **item.metadata,
                    "_kb_item": item.id,
                    "_kb_chunk": chunk.index,
                    "_kb_start": chunk.start,
                    "_kb_end": chunk.end,
                }
                old = existing.get(chunk_id)
                if old is not None:
                    meta.update({k: None for k in old if k not in meta})
                chunk_ids.append(chunk_id)
                texts.append(chunk.text)
                metadatas.append(meta)
        # 2. Chunks: embedded and written batch by batch (ids are deterministic: no duplicates).
        step = max(1, min(store.max_batch, 1024))
        for start in range(0, len(chunk_ids), step):
            vectors = self.embedder.embed(texts[start : start + step])
            store.write_chunks(
                chunk_ids[start : start + step],
                vectors,
                texts[start : start + step],
                metadatas[start : start + step],
            )
        # 3. Whatever the items had before and the new versions lack goes.
        fresh = set(chunk_ids)
        stale = [chunk_id for chunk_id in existing if chunk_id not in fresh]
        store.delete_chunks(stale)
        # 4. Commit.
        store.update_records(
            ids,
            [
                {"_kb_state": STATE_OK, "_kb_hash": full, "_kb_chunks": counts[item.id]}
                for item, full in todo
            ],
        )
        lexical = self._lexical.get((store.namespace, store.name))
        if lexical is not None:
            lexical.index.remove_many(stale)
            lexical.index.add_many(zip(chunk_ids, texts, strict=True))
        report.written += len(todo)
        report.chunks += len(chunk_ids)
        report.removed_chunks += len(stale)

    def _update_metadata(
        self,
        store: KnowledgeCollection,
        todo: list[tuple[Item, str]],
        records: Mapping[str, Any],
    ) -> None:
        """Same text, new metadata: rewrite the metadata of the chunks, keep their vectors."""
        ids = [item.id for item, _ in todo]
        store.update_records(
            ids,
            [
                _with_cleared(records.get(item.id), {**item.metadata, "_kb_state": STATE_WRITING})
                for item, _ in todo
            ],
        )
        existing = store.chunk_metadata_of(ids)
        by_item = {item.id: item for item, _ in todo}
        chunk_ids: list[str] = []
        metadatas: list[dict[str, Any]] = []
        for chunk_id, old in existing.items():
            item = by_item[str(old.get("_kb_item"))]
            meta: dict[str, Any] = {**item.metadata}
            meta.update({k: None for k in user_metadata(old) if k not in meta})
            chunk_ids.append(chunk_id)
            metadatas.append(meta)
        store.update_chunks(chunk_ids, metadatas)
        store.update_records(ids, [{"_kb_state": STATE_OK, "_kb_hash": full} for _, full in todo])

    def delete(
        self,
        ids: Sequence[str],
        *,
        collection: str = DEFAULT_COLLECTION,
        namespace: str | None = None,
    ) -> int:
        """Delete items and all their chunks; returns how many of them existed."""
        for n, item_id in enumerate(ids):
            check_id(item_id, f"ids.{n}")
        store = self.collection(collection, namespace)
        key = (store.namespace, store.name)
        with self.lock(*key):
            records = store.records(list(ids))
            present = [item_id for item_id in ids if item_id in records]
            # Mark first: if we stop half-way, a re-ingest of the same text rewrites the item.
            store.update_records(present, [{"_kb_state": STATE_DELETING}] * len(present))
            chunks = list(store.chunk_metadata_of(list(ids)))
            store.delete_chunks(chunks)
            store.delete_records(present)
            if chunks or present:
                revision = store.bump_revision()
                lexical = self._lexical.get(key)
                if lexical is not None:
                    lexical.index.remove_many(chunks)
                    lexical.revision = revision
        return len(present)

    # -- reads --------------------------------------------------------------------------------

    def get(
        self, item_id: str, *, collection: str = DEFAULT_COLLECTION, namespace: str | None = None
    ) -> StoredItem | None:
        """The stored item, or ``None``."""
        check_id(item_id, "id")
        store = self.collection(collection, namespace)
        record = store.records([item_id]).get(item_id)
        if record is None:
            return None
        return StoredItem(
            id=record.id,
            text=record.text,
            metadata=user_metadata(record.metadata),
            chunks=record.chunks,
            content_hash=record.content_hash,
            complete=record.state == STATE_OK,
        )

    def list_items(
        self,
        *,
        collection: str = DEFAULT_COLLECTION,
        namespace: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StoredItem]:
        """A page of stored items (without their text)."""
        if not 1 <= limit <= 1000 or offset < 0:
            raise InvalidRequestError(
                f"expected 1 <= limit <= 1000 and offset >= 0, got limit={limit}, offset={offset}",
                field="limit" if not 1 <= limit <= 1000 else "offset",
            )
        store = self.collection(collection, namespace)
        return [
            StoredItem(
                id=r.id,
                text="",
                metadata=user_metadata(r.metadata),
                chunks=r.chunks,
                content_hash=r.content_hash,
                complete=r.state == STATE_OK,
            )
            for r in store.list_records(limit, offset)
        ]

    def lexical_index(self, store: KnowledgeCollection) -> BM25Index:
        """The collection's BM25 index: built from ChromaDB on first use, rebuilt when another
        process has written since (checked at most every ``refresh_s`` seconds)."""
        key = (store.namespace, store.name)
        now = time.monotonic()
        lexical = self._lexical.get(key)
        if lexical is not None and now - lexical.checked_at < self.refresh_s:
            return lexical.index
        with self.lock(*key):
            lexical = self._lexical.get(key)
            revision = store.revision()
            if lexical is not None and lexical.revision == revision:
                lexical.checked_at = now
                return lexical.index
            started = time.perf_counter()
            k1, b = self.bm25_params
            index = BM25Index(k1=k1, b=b)
            index.add_many(store.all_chunks())
            self._lexical[key] = _Lexical(index=index, revision=revision, checked_at=now)
            log.info(
                "built the lexical index of %s/%s: %d chunks in %.2f s",
                store.namespace,
                store.name,
                len(index),
                time.perf_counter() - started,
            )
            return index

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        collection: str = DEFAULT_COLLECTION,
        namespace: str | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        min_score: float | None = None,
        chunks_per_item: int = 1,
    ) -> SearchResults:
        """Search one collection; see :meth:`Searcher.search` for the parameters and result.

        Example::

            result = kb.search("insulin resistance", k=5, mode="hybrid",
                               where={"year": {"$gte": 2015}},
                               where_document={"$contains": "insulin"})
            for hit in result.hits:
                print(hit.id, hit.score, hit.chunks[0].text[:80])
        """
        return self.searcher.search(
            query,
            k=k,
            mode=mode,
            collection=collection,
            namespace=namespace,
            where=where,
            where_document=where_document,
            min_score=min_score,
            chunks_per_item=chunks_per_item,
        )

    def fuse(self, rankings: Sequence[Sequence[str]]) -> list[tuple[str, float]]:
        """Fused ranking with this knowledge base's RRF constant and weights, scores in [0, 1]."""
        fused = reciprocal_rank_fusion(rankings, k=self.rrf_k, weights=self.weights)
        top = rrf_max_score(k=self.rrf_k, weights=self.weights)
        return [(item, score / top) for item, score in fused]

    def check_filters(
        self, where: Mapping[str, Any] | None, where_document: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return (
            validate_where(where, reserved_prefix=RESERVED_PREFIX) if where else None,
            validate_where_document(where_document) if where_document else None,
        )


def _checked(items: Iterable[Item | Mapping[str, Any]]) -> Iterator[Item]:
    """Items checked and normalised, ids unique within the call."""
    seen: set[str] = set()
    for n, raw in enumerate(items):
        item = coerce_item(raw, f"items.{n}")
        if item.id in seen:
            raise InvalidRequestError(
                f"items.{n}.id: item id {item.id!r} appears twice in one upsert; expected "
                "unique ids. Fix: keep one version of each item",
                field=f"items.{n}.id",
            )
        seen.add(item.id)
        yield item


def _chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(slots=True)
class _Lexical:
    index: BM25Index
    revision: str
    checked_at: float


def _model_tokens(embedder: Embedder) -> tuple[int | None, Callable[[str], int] | None]:
    """The model's token limit and tokenizer, looking through wrappers such as CachedEmbedder."""
    current: Any = embedder
    for _ in range(4):
        counter = getattr(current, "count_tokens", None)
        limit = getattr(current, "max_tokens", None)
        if callable(counter) and isinstance(limit, int):
            return limit, counter
        current = getattr(current, "inner", None)
        if current is None:
            break
    return None, None


def _with_cleared(record: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` plus ``None`` for every user key the stored record has and it lacks:
    ChromaDB merges metadata on upsert, and a removed key must not linger."""
    if record is None:
        return metadata
    cleared = {k: None for k in user_metadata(record.metadata) if k not in metadata}
    return {**metadata, **cleared}
