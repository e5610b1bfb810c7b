"""Knowledge search: put documents in, find them by meaning and by words.

:class:`KnowledgeBase` chunks items to the embedding model's token limit, embeds them and keeps
them in a :class:`~semcached.index.knowledge.store.KnowledgeStore` (ChromaDB, embedded or a
server, or memory), writing each change as a new version that becomes visible only when
complete (:mod:`~semcached.index.knowledge.writer`). It searches three ways (``mode``):

* ``dense``: cosine similarity of the query's vector to the chunks' (the store);
* ``lexical``: BM25 over the chunk texts (:mod:`~semcached.index.knowledge.lexical`: tantivy
  on local disk, incremental, following the store's writes);
* ``hybrid`` (default): both rankings fused by reciprocal rank
  (:mod:`~semcached.index.knowledge.fusion`).

Results are per item: an item's rank is that of its best chunk, and each result carries its
best chunks. ``score`` is on the mode's scale: cosine similarity (dense), BM25 (lexical), or
the fused score divided by its maximum, in [0, 1] (hybrid); ``min_score`` compares with it.
Items are checked against :class:`~semcached.index.knowledge.limits.KnowledgeLimits` before
anything is written, and each namespace has quotas (collections, items, bytes).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import xxhash

from semcached.embeddings.base import Embedder
from semcached.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    InvalidRequestError,
    QuotaExceededError,
)
from semcached.index.knowledge.chunking import Chunker
from semcached.index.knowledge.filters import validate_where, validate_where_document
from semcached.index.knowledge.fusion import Fusion
from semcached.index.knowledge.lexical import LexicalBusyError, LexicalIndex
from semcached.index.knowledge.limits import KnowledgeLimits, coerce_item
from semcached.index.knowledge.search import (
    MAX_K,
    SEARCH_MODES,
    Searcher,
    SearchMode,
    SearchResults,
    check_search_args,
)
from semcached.index.knowledge.store import (
    RESERVED_PREFIX,
    CollectionEntry,
    KnowledgeCollection,
    KnowledgeStore,
    check_collection_name,
)
from semcached.index.knowledge.types import (
    CollectionInfo,
    Item,
    StoredItem,
    UpsertReport,
    check_id,
    check_namespace,
)
from semcached.index.knowledge.writer import Usage, Writer, Written, now_ms
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
_RECOVER_EVERY_MS = 600_000
_SHARED: dict[Path, LexicalIndex] = {}  # one LexicalIndex per directory in a process
_SHARED_LOCK = threading.Lock()


class KnowledgeBase:
    """Documents in, search out: chunked, embedded, stored in versions, searched hybrid.

    ``KnowledgeBase()`` builds what it is not given from :class:`~semcached.settings.Settings`
    (``SEMCACHED_*``): the packaged model, embedded ChromaDB under ``SEMCACHED_DATA_DIR`` or the
    server at ``SEMCACHED_CHROMA_URL``, the lexical index under ``<data_dir>/lexical``, limits
    and quotas from ``SEMCACHED_KNOWLEDGE__*``. Given a ``store``, the lexical index lives in
    ``lexical_dir`` (in memory when ``None``: rebuilt from the store on first use). Items live in
    named collections (``"default"`` unless given) of a namespace, apart from the cache.

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
        store: KnowledgeStore | None = None,
        lexical_dir: str | Path | None = None,
        namespace: str | None = None,
        limits: KnowledgeLimits | None = None,
        chunk_tokens: int | None = None,
        overlap_tokens: int = 48,
        batch_size: int = 128,
        embed_batch: int = 256,
        rrf_k: float = 60.0,
        dense_weight: float = 1.0,
        lexical_weight: float = 1.0,
        fusion_depth: int = 100,
        refresh_s: float | None = None,
        recovery_grace_s: float | None = None,
        clock: Callable[[], int] = now_ms,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        if settings is None and (embedder is None or store is None):
            settings = Settings()
        if embedder is None:
            from semcached.embeddings.factory import build_embedder

            assert settings is not None
            embedder = build_embedder(settings)
        if store is None:
            from semcached.index.knowledge.factory import build_knowledge_store
            from semcached.index.knowledge.factory import lexical_dir as settings_lexical_dir

            assert settings is not None
            store = build_knowledge_store(settings)
            lexical_dir = lexical_dir or settings_lexical_dir(settings)
        if limits is None and settings is not None:
            from semcached.index.knowledge.factory import knowledge_limits

            limits = knowledge_limits(settings)
        options = settings.knowledge if settings is not None else None
        if batch_size < 1 or fusion_depth < 1:
            raise ConfigurationError(
                f"batch_size and fusion_depth must be >= 1, got {batch_size} and {fusion_depth}"
            )
        try:
            self.fusion = Fusion(rrf_k=rrf_k, weights=(dense_weight, lexical_weight))
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        self.embedder = embedder
        self.store = store
        self.lexical_dir = Path(lexical_dir) if lexical_dir is not None else None
        self.namespace = namespace or (settings.namespace if settings else "default")
        self.limits = limits or KnowledgeLimits()
        model_limit, counter = _model_tokens(embedder)
        # Two of the model's positions go to its [CLS] and [SEP] tokens.
        budget = model_limit - 2 if model_limit else 254
        self.chunker = Chunker(
            max_tokens=min(chunk_tokens or budget, budget),
            overlap_tokens=overlap_tokens,
            count_tokens=counter,
        )
        self.batch_size = batch_size
        self.fusion_depth = fusion_depth
        self.refresh_s = (
            refresh_s if refresh_s is not None else (options.refresh_s if options else 1.0)
        )
        grace = (
            recovery_grace_s
            if recovery_grace_s is not None
            else (options.recovery_grace_s if options else 120.0)
        )
        self.clock = clock
        self.writer = Writer(
            embedder=embedder,
            chunker=self.chunker,
            embed_batch=embed_batch,
            grace_ms=int(grace * 1000),
            clock=clock,
            on_step=on_step,
        )
        self.searcher = Searcher(embedder=embedder, fusion=self.fusion, depth=fusion_depth)
        self._lexical: dict[tuple[str, str], tuple[LexicalIndex, str]] = {}
        self._checked_at: dict[tuple[str, str], float] = {}
        self._recovered_at: dict[tuple[str, str], int] = {}
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._guard = threading.Lock()

    # -- collections --------------------------------------------------------------------------

    def collection(
        self, name: str = DEFAULT_COLLECTION, namespace: str | None = None, *, create: bool = False
    ) -> KnowledgeCollection:
        """The collection ``name`` of ``namespace``; :class:`CollectionNotFoundError` when it
        does not exist, unless ``create`` (which counts against the namespace's quota)."""
        namespace = check_namespace(namespace or self.namespace)
        check_collection_name(name)
        found = self.store.open(namespace, name, model_id=self.embedder.model_id)
        if found is not None:
            return found
        if not create:
            raise CollectionNotFoundError(
                f"collection: namespace {namespace!r} has no knowledge collection {name!r} "
                f"for model {self.embedder.model_id!r}. Fix: ingest items into it first, "
                "or pick one of list_collections()",
                field="collection",
            )
        entries = self.store.entries(namespace, model_id=self.embedder.model_id)
        quota = self.limits.max_collections_per_namespace
        if len(entries) >= quota and name not in {e.name for e in entries}:
            raise QuotaExceededError(
                f"collection: namespace {namespace!r} already has {len(entries)} knowledge "
                f"collections, its quota is {quota}; expected a new one to fit. Fix: drop one "
                "(DELETE /v1/knowledge/{collection}) or raise "
                "SEMCACHED_KNOWLEDGE__MAX_COLLECTIONS_PER_NAMESPACE",
                field="collection",
                quota="max_collections_per_namespace",
            )
        made = self.store.open(namespace, name, model_id=self.embedder.model_id, create=True)
        assert made is not None
        return made

    def lock(self, namespace: str, name: str) -> threading.RLock:
        with self._guard:
            return self._locks.setdefault((namespace, name), threading.RLock())

    def list_collections(self, namespace: str | None = None) -> list[CollectionInfo]:
        """The knowledge collections of ``namespace`` for this embedding model, by name (from
        that namespace's registry: no other tenant's collection is touched)."""
        namespace = check_namespace(namespace or self.namespace)
        return [
            CollectionInfo(
                name=e.name, namespace=namespace, items=e.items, chunks=e.chunks, text_bytes=e.size
            )
            for e in self.store.entries(namespace, model_id=self.embedder.model_id)
        ]

    def drop_collection(self, name: str = DEFAULT_COLLECTION, namespace: str | None = None) -> bool:
        """Delete a knowledge collection with all its items; ``False`` when it did not exist."""
        namespace = check_namespace(namespace or self.namespace)
        check_collection_name(name)
        key = (namespace, name)
        with self.lock(*key):
            existed = self.store.drop(namespace, name, model_id=self.embedder.model_id)
            with self._guard:
                opened = self._lexical.pop(key, None)
                self._checked_at.pop(key, None)
            if opened is not None:
                try:
                    opened[0].clear()
                except LexicalBusyError as exc:  # its epoch is gone: the next open rebuilds
                    log.warning("%s; left for the next open", exc)
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

        A list is checked whole before anything is written. Each changed item becomes visible
        only once all its chunks are stored; until then searches serve its previous version.
        ``progress`` is called with the number of items finished after each batch. The report
        says where the time went (``timings_s``: chunk, embed, store, lexical).
        """
        started = time.perf_counter()
        checked: Iterable[Item] = _checked(items, self.limits)
        if isinstance(items, Sequence):
            checked = list(checked)
        report = UpsertReport()
        handle: KnowledgeCollection | None = None
        usage = Usage()
        totals = Usage()
        for batch in _chunked(checked, self.batch_size):
            if handle is None:
                handle = self.collection(collection, namespace, create=True)
                usage, totals = self._usage(handle)
            with self.lock(handle.namespace, handle.name):
                self._maybe_recover(handle)
                plans, delta = self.writer.plan(handle, batch, report)
                self._check_quota(handle, totals, delta)
                written = self.writer.write(handle, plans, report)
                change = written.usage
                change.items, change.size = delta.items, delta.size
                usage.add(change)
                totals.add(change)
                if plans:
                    self._set_usage(handle, usage)
                    self._apply_lexical(handle, written, report)
            report.items += len(batch)
            if progress is not None:
                progress(len(batch))
        report.seconds = time.perf_counter() - started
        return report

    def _usage(self, handle: KnowledgeCollection) -> tuple[Usage, Usage]:
        """(this collection's usage, the namespace's) from the namespace's registry."""
        entries: list[CollectionEntry] = self.store.entries(
            handle.namespace, model_id=self.embedder.model_id
        )
        mine = next((e for e in entries if e.name == handle.name), None)
        total = Usage(
            items=sum(e.items for e in entries),
            chunks=sum(e.chunks for e in entries),
            size=sum(e.size for e in entries),
        )
        own = Usage(mine.items, mine.chunks, mine.size) if mine else Usage()
        return own, total

    def _set_usage(self, handle: KnowledgeCollection, usage: Usage) -> None:
        self.store.set_usage(
            handle.namespace,
            handle.name,
            model_id=self.embedder.model_id,
            items=max(0, usage.items),
            chunks=max(0, usage.chunks),
            size=max(0, usage.size),
        )

    def _check_quota(self, handle: KnowledgeCollection, totals: Usage, delta: Usage) -> None:
        limits = self.limits
        if delta.items > 0 and totals.items + delta.items > limits.max_items_per_namespace:
            raise QuotaExceededError(
                f"items: namespace {handle.namespace!r} holds {totals.items} items and this "
                f"batch adds {delta.items}; its quota is {limits.max_items_per_namespace}. Fix: "
                "delete items you no longer need or raise "
                "SEMCACHED_KNOWLEDGE__MAX_ITEMS_PER_NAMESPACE",
                field="items",
                quota="max_items_per_namespace",
            )
        if delta.size > 0 and totals.size + delta.size > limits.max_bytes_per_namespace:
            raise QuotaExceededError(
                f"items: namespace {handle.namespace!r} holds {totals.size} bytes of text and "
                f"this batch adds {delta.size}; its quota is {limits.max_bytes_per_namespace}. "
                "Fix: delete items or raise SEMCACHED_KNOWLEDGE__MAX_BYTES_PER_NAMESPACE",
                field="items",
                quota="max_bytes_per_namespace",
            )

    def content_hash(self, item: Item) -> tuple[str, str]:
        """(text hash, metadata hash): the text hash covers the chunking and the model too."""
        return self.writer.content_hash(item)

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
        handle = self.collection(collection, namespace)
        with self.lock(handle.namespace, handle.name):
            self._maybe_recover(handle)
            written = self.writer.delete(handle, ids)
            if written.changes:
                usage, _ = self._usage(handle)
                usage.add(written.usage)
                self._set_usage(handle, usage)
                self._apply_lexical(handle, written, None)
        return len(written.changes)

    def recover(self, collection: str = DEFAULT_COLLECTION, namespace: str | None = None) -> int:
        """Roll back interrupted writes of ``collection`` (or finish their clean-up); returns
        how many items were repaired. Runs by itself on a collection's first write."""
        handle = self.collection(collection, namespace)
        with self.lock(handle.namespace, handle.name):
            repaired = self.writer.recover(handle)
            self._recovered_at[(handle.namespace, handle.name)] = self.clock()
        return repaired

    def _maybe_recover(self, handle: KnowledgeCollection) -> None:
        key = (handle.namespace, handle.name)
        now = self.clock()
        if now - self._recovered_at.get(key, -_RECOVER_EVERY_MS) >= _RECOVER_EVERY_MS:
            repaired = self.writer.recover(handle)
            self._recovered_at[key] = now
            if repaired:
                log.warning(
                    "knowledge %s/%s: repaired %d interrupted writes",
                    handle.namespace,
                    handle.name,
                    repaired,
                )

    # -- the lexical index --------------------------------------------------------------------

    def _index_path(self, handle: KnowledgeCollection) -> Path | None:
        if self.lexical_dir is None:
            return None
        key = f"{self.store.location}\0{handle.namespace}\0{handle.name}\0{self.embedder.model_id}"
        slug = xxhash.xxh3_64_hexdigest(key.encode("utf-8"))
        return self.lexical_dir / f"{handle.name[:40]}-{slug}"

    def lexical_index(self, handle: KnowledgeCollection, *, sync: bool = True) -> LexicalIndex:
        """The collection's lexical index, caught up with the store at most every
        ``refresh_s`` seconds (a restart opens it where it was)."""
        key = (handle.namespace, handle.name)
        with self._guard:
            opened = self._lexical.get(key)
        if opened is None or opened[1] != handle.epoch:
            path = self._index_path(handle)
            if path is None:
                index = LexicalIndex(None)
            else:
                with _SHARED_LOCK:
                    shared = _SHARED.get(path)
                    if shared is None:
                        shared = _SHARED[path] = LexicalIndex(path)
                index = shared
            with self._guard:
                self._lexical[key] = (index, handle.epoch)
                self._checked_at.pop(key, None)
        else:
            index = opened[0]
        now = time.monotonic()
        if sync and now - self._checked_at.get(key, -1e9) >= self.refresh_s:
            try:
                index.sync(handle, now_ms=self.clock(), horizon_ms=self.writer.tombstone_ttl_ms)
                self._checked_at[key] = now
            except LexicalBusyError as exc:
                log.warning("%s; searching what it has", exc)
        return index

    def _apply_lexical(
        self, handle: KnowledgeCollection, written: Written, report: UpsertReport | None
    ) -> None:
        """Index this write at once; when nobody else wrote in between, the index stays
        caught up (a restart or the next search then has nothing to re-read)."""
        started = time.perf_counter()
        try:
            index = self.lexical_index(handle, sync=False)
            index.apply(written.changes)
            if not index.advance(handle, written.before, written.after, written.seq):
                self.lexical_index(handle, sync=True)
        except LexicalBusyError as exc:
            log.warning("%s; the next search catches up", exc)
        if report is not None:
            report.add_time("lexical", time.perf_counter() - started)

    # -- reads --------------------------------------------------------------------------------

    def get(
        self, item_id: str, *, collection: str = DEFAULT_COLLECTION, namespace: str | None = None
    ) -> StoredItem | None:
        """The item's acknowledged version, or ``None``."""
        check_id(item_id, "id")
        handle = self.collection(collection, namespace)
        record = handle.records([item_id]).get(item_id)
        if record is None or not record.live:
            return None
        return StoredItem(
            id=record.id,
            text=record.text,
            metadata=dict(record.metadata),
            chunks=record.chunks,
            content_hash=record.content_hash,
            pending=bool(record.pending) and record.pending != record.version,
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
        handle = self.collection(collection, namespace)
        return [
            StoredItem(
                id=r.id,
                text="",
                metadata=dict(r.metadata),
                chunks=r.chunks,
                content_hash=r.content_hash,
                pending=bool(r.pending) and r.pending != r.version,
            )
            for r in handle.list_records(limit, offset)
        ]

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
        """The ``k`` best items for ``query`` in ``collection`` of ``namespace``.

        ``where`` filters on item metadata and ``where_document`` on chunk text (ChromaDB's
        filter language, see :mod:`semcached.index.knowledge.filters`); ``min_score`` drops hits
        below it on the mode's scale; ``chunks_per_item`` best chunks come with each hit. Bad
        arguments raise :class:`~semcached.errors.InvalidRequestError` naming the field.

        Example::

            result = kb.search("insulin resistance", k=5, mode="hybrid",
                               where={"year": {"$gte": 2015}},
                               where_document={"$contains": "insulin"})
            for hit in result.hits:
                print(hit.id, hit.score, hit.chunks[0].text[:80])
        """
        check_search_args(query, k, mode, min_score, chunks_per_item)
        where_, where_document_ = self.check_filters(where, where_document)
        handle = self.collection(collection, namespace)
        return self.searcher.search(
            handle,
            self.lexical_index(handle),
            query,
            k=k,
            mode=mode,
            where=where_,
            where_document=where_document_,
            min_score=min_score,
            chunks_per_item=chunks_per_item,
        )

    def fuse(self, rankings: Sequence[Sequence[str]]) -> list[tuple[str, float]]:
        """Fused ranking with this knowledge base's RRF constant and weights, scores in [0, 1]."""
        return self.fusion.fuse(rankings)

    def check_filters(
        self, where: Mapping[str, Any] | None, where_document: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The filters checked (:class:`InvalidRequestError` naming the culprit's path)."""
        return (
            validate_where(where, reserved_prefix=RESERVED_PREFIX) if where else None,
            validate_where_document(where_document) if where_document else None,
        )


def _checked(items: Iterable[Item | Mapping[str, Any]], limits: KnowledgeLimits) -> Iterator[Item]:
    """Items checked and normalised, ids unique within the call."""
    seen: set[str] = set()
    for n, raw in enumerate(items):
        item = coerce_item(raw, f"items.{n}", limits)
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
