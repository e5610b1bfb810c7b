"""The read side of knowledge search: dense, lexical and hybrid rankings, per item.

A ranker returns chunks best first; only chunks of an item's committed version count (the
lexical index's version map says which, and the store decides when the two disagree), so a
half-written version is never returned. Chunks are grouped by item (an item ranks at its best
chunk, "MaxP"), and for ``hybrid`` the two item rankings are fused by reciprocal rank. Each
ranker fetches chunks deep enough to fill ``depth`` items, fetching deeper when filters,
invisible versions or long items use up the first round. Texts and metadata are read only for
the chunks shown.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from semcached.embeddings.base import Embedder
from semcached.errors import InvalidRequestError
from semcached.index.knowledge.fusion import Fusion
from semcached.index.knowledge.lexical import LexicalIndex
from semcached.index.knowledge.store import (
    KnowledgeCollection,
    Where,
    parse_chunk_id,
)

__all__ = [
    "MAX_K",
    "SEARCH_MODES",
    "ChunkHit",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "Searcher",
    "check_search_args",
]

SearchMode = Literal["dense", "lexical", "hybrid"]
SEARCH_MODES: tuple[str, ...] = get_args(SearchMode)
MAX_K = 200
MAX_QUERY_CHARS = 10_000
MAX_CHUNKS_PER_ITEM = 10
# Chunks fetched per wanted item on the first round (items have a few chunks each).
_OVERFETCH = 3
_MAX_ROUNDS = 4


@dataclass(frozen=True, slots=True)
class ChunkHit:
    """One matching chunk of an item: its text, where it lies in the item, and its scores."""

    id: str
    index: int
    text: str
    start: int
    end: int
    score: float
    similarity: float | None
    lexical_score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "index": self.index,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": self.score,
            "similarity": self.similarity,
            "lexical_score": self.lexical_score,
        }


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One item found: its id, score (on the mode's scale), metadata and best chunks.

    ``similarity`` is the cosine similarity of its best chunk to the query and
    ``lexical_score`` the BM25 of its best chunk, whatever the mode (``None`` when that side
    did not score it); ``dense_rank``/``lexical_rank`` are its 1-based ranks in each list.
    """

    id: str
    score: float
    metadata: dict[str, Any]
    chunks: list[ChunkHit]
    similarity: float | None = None
    lexical_score: float | None = None
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": self.score,
            "similarity": self.similarity,
            "lexical_score": self.lexical_score,
            "dense_rank": self.dense_rank,
            "lexical_rank": self.lexical_rank,
            "metadata": self.metadata,
            "chunks": [chunk.to_dict() for chunk in self.chunks],
        }


@dataclass(frozen=True, slots=True)
class SearchResults:
    """The answer of a search: hits best first and where the time went."""

    query: str
    mode: SearchMode
    collection: str
    namespace: str
    hits: list[SearchHit]
    timings_ms: dict[str, float]

    @property
    def ids(self) -> list[str]:
        return [hit.id for hit in self.hits]

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "mode": self.mode,
            "collection": self.collection,
            "namespace": self.namespace,
            "hits": [hit.to_dict() for hit in self.hits],
            "timings_ms": self.timings_ms,
        }


# An item's chunks from one ranker, best first, with that ranker's chunk scores.
_Ranked = list[tuple[str, list[tuple[str, float]]]]


class Searcher:
    """Runs searches on one collection handle and its lexical index.

    Example::

        searcher = Searcher(embedder=embedder, fusion=Fusion(rrf_k=60), depth=100)
        searcher.search(handle, lexical, "insulin", k=5, mode="hybrid")
    """

    def __init__(self, *, embedder: Embedder, fusion: Fusion, depth: int = 100) -> None:
        self.embedder = embedder
        self.fusion = fusion
        self.depth = depth

    def search(
        self,
        handle: KnowledgeCollection,
        lexical: LexicalIndex,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        where: Where | None = None,
        where_document: Where | None = None,
        min_score: float | None = None,
        chunks_per_item: int = 1,
    ) -> SearchResults:
        """The ``k`` best items for ``query`` (arguments checked by :func:`check_search_args`,
        filters by :mod:`~semcached.index.knowledge.filters`)."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        depth = max(k, self.depth) if mode == "hybrid" else k
        vector: np.ndarray[Any, np.dtype[np.float32]] | None = None
        dense: _Ranked = []
        lexical_ranked: _Ranked = []
        if mode in ("dense", "hybrid"):
            t0 = time.perf_counter()
            vector = self.embedder.embed([query])[0]
            timings["embed"] = _ms(t0)
            t0 = time.perf_counter()
            dense = self._dense(
                handle, lexical, vector, depth, where=where, where_document=where_document
            )
            timings["dense"] = _ms(t0)
        if mode in ("lexical", "hybrid"):
            t0 = time.perf_counter()
            lexical_ranked = self._lexical(
                handle, lexical, query, depth, where=where, where_document=where_document
            )
            timings["lexical"] = _ms(t0)
        t0 = time.perf_counter()
        chunk_scores: dict[str, float] = {}
        if mode == "dense":
            picked = _single(dense, k, chunks_per_item)
        elif mode == "lexical":
            picked = _single(lexical_ranked, k, chunks_per_item)
        else:
            picked, chunk_scores = self._fused(dense, lexical_ranked, k, chunks_per_item)
        hits = self._hits(
            handle,
            lexical,
            query,
            picked,
            vector=vector,
            mode=mode,
            dense=dense,
            lexical_ranked=lexical_ranked,
            chunk_scores=chunk_scores,
        )
        if min_score is not None:
            hits = [hit for hit in hits if hit.score >= min_score]
        timings["fuse"] = _ms(t0)
        timings["total"] = _ms(started)
        return SearchResults(
            query=query,
            mode=mode,
            collection=handle.name,
            namespace=handle.namespace,
            hits=hits,
            timings_ms=timings,
        )

    # -- rankers --------------------------------------------------------------------------

    def _visible(
        self, handle: KnowledgeCollection, lexical: LexicalIndex, ids: list[str]
    ) -> set[str]:
        """Those chunk ids whose version is their item's committed one."""
        parsed = {c: parse_chunk_id(c) for c in ids}
        items = list(dict.fromkeys(item for item, _, _ in parsed.values()))
        versions = lexical.versions(items)
        doubtful = list(
            dict.fromkeys(item for item, _, v in parsed.values() if versions.get(item) != v)
        )
        if doubtful:
            # The local index may lag behind another writer: the store decides.
            for item_id, record in handle.records(doubtful, text=False).items():
                versions[item_id] = record.version if record.live else ""
            for item_id in doubtful:
                versions.setdefault(item_id, "")
        return {c for c, (item, _, v) in parsed.items() if versions.get(item) == v}

    def _dense(
        self,
        handle: KnowledgeCollection,
        lexical: LexicalIndex,
        vector: np.ndarray[Any, np.dtype[np.float32]],
        depth: int,
        *,
        where: Where | None,
        where_document: Where | None,
    ) -> _Ranked:
        n = depth * _OVERFETCH
        ranked: _Ranked = []
        for _ in range(_MAX_ROUNDS):
            rows = handle.query(vector, n, where=where, where_document=where_document)
            visible = self._visible(handle, lexical, [c for c, _ in rows])
            ranked = _group((c, s) for c, s in rows if c in visible)
            if len(ranked) >= depth or len(rows) < n:
                break
            n *= 2
        return ranked[:depth]

    def _lexical(
        self,
        handle: KnowledgeCollection,
        lexical: LexicalIndex,
        query: str,
        depth: int,
        *,
        where: Where | None,
        where_document: Where | None,
    ) -> _Ranked:
        n = depth * _OVERFETCH
        ranked: _Ranked = []
        for _ in range(_MAX_ROUNDS):
            scored = lexical.search(query, n)
            ids = [c for c, _ in scored]
            if where or where_document:
                passing = set(handle.get_chunks(ids, where=where, where_document=where_document))
                ids = [c for c in ids if c in passing]
            visible = self._visible(handle, lexical, ids)
            ranked = _group((c, s) for c, s in scored if c in visible)
            if len(ranked) >= depth or len(scored) < n:
                break
            n *= 2
        return ranked[:depth]

    def _fused(
        self, dense: _Ranked, lexical: _Ranked, k: int, chunks_per_item: int
    ) -> tuple[list[tuple[str, float, list[str]]], dict[str, float]]:
        fused = self.fusion.fuse([[i for i, _ in dense], [i for i, _ in lexical]])[:k]
        # Chunk-level fused scores (in [0, 1]) order the chunks shown within an item.
        chunk_scores = dict(self.fusion.fuse([_chunk_order(dense), _chunk_order(lexical)]))
        by_item: dict[str, set[str]] = {}
        for item_id, chunks in (*dense, *lexical):
            by_item.setdefault(item_id, set()).update(c for c, _ in chunks)
        picked: list[tuple[str, float, list[str]]] = []
        for item_id, score in fused:
            best = sorted(
                by_item[item_id], key=lambda c: (-chunk_scores.get(c, 0.0), parse_chunk_id(c)[1])
            )
            picked.append((item_id, score, best[:chunks_per_item]))
        return picked, chunk_scores

    # -- results ----------------------------------------------------------------------------

    def _hits(
        self,
        handle: KnowledgeCollection,
        lexical: LexicalIndex,
        query: str,
        picked: list[tuple[str, float, list[str]]],
        *,
        vector: np.ndarray[Any, np.dtype[np.float32]] | None,
        mode: SearchMode,
        dense: _Ranked,
        lexical_ranked: _Ranked,
        chunk_scores: dict[str, float],
    ) -> list[SearchHit]:
        """Read the shown chunks and give every hit the scores its mode promises."""
        wanted = [c for _, _, chunks in picked for c in chunks]
        rows = handle.get_chunks(wanted)
        similarity = {c: s for _, chunks in dense for c, s in chunks}
        bm25 = {c: s for _, chunks in lexical_ranked for c, s in chunks}
        dense_rank = {item: n for n, (item, _) in enumerate(dense, start=1)}
        lexical_rank = {item: n for n, (item, _) in enumerate(lexical_ranked, start=1)}
        if mode == "hybrid":
            assert vector is not None
            # Every hybrid hit carries both scores, even when one ranker missed it.
            no_similarity = [c for c in wanted if c not in similarity and c in rows]
            for c, v in handle.get_vectors(no_similarity).items():
                similarity[c] = float(np.dot(v, vector))
            no_bm25 = [c for c in wanted if c not in bm25 and c in rows]
            bm25.update(lexical.score(query, no_bm25) if no_bm25 else {})
            for c in no_bm25:
                bm25.setdefault(c, 0.0)
        item_best_sim = {item: chunks[0][1] for item, chunks in dense}
        item_best_bm25 = {item: chunks[0][1] for item, chunks in lexical_ranked}
        hits: list[SearchHit] = []
        for item_id, score, chunk_list in picked:
            shown = [rows[c] for c in chunk_list if c in rows]
            if not shown:  # deleted since it was ranked
                continue
            chunk_hits = [
                ChunkHit(
                    id=row.id,
                    index=row.index,
                    text=row.text,
                    start=row.start,
                    end=row.end,
                    score=chunk_scores.get(row.id, 0.0)
                    if mode == "hybrid"
                    else (similarity if mode == "dense" else bm25)[row.id],
                    similarity=similarity.get(row.id) if mode != "lexical" else None,
                    lexical_score=bm25.get(row.id) if mode != "dense" else None,
                )
                for row in shown
            ]
            item_similarity = _best(item_best_sim.get(item_id), [c.similarity for c in chunk_hits])
            item_bm25 = _best(item_best_bm25.get(item_id), [c.lexical_score for c in chunk_hits])
            hits.append(
                SearchHit(
                    id=item_id,
                    score=score,
                    metadata=dict(shown[0].metadata),
                    chunks=chunk_hits,
                    similarity=item_similarity if mode != "lexical" else None,
                    lexical_score=item_bm25 if mode != "dense" else None,
                    dense_rank=dense_rank.get(item_id) if mode != "lexical" else None,
                    lexical_rank=lexical_rank.get(item_id) if mode != "dense" else None,
                )
            )
        return hits


def _best(current: float | None, candidates: list[float | None]) -> float | None:
    known = [value for value in (current, *candidates) if value is not None]
    return max(known) if known else None


def _group(scored: Any) -> _Ranked:
    """Chunks (best first) grouped by item, items in the order of their best chunk."""
    order: dict[str, list[tuple[str, float]]] = {}
    for cid, score in scored:
        order.setdefault(parse_chunk_id(cid)[0], []).append((cid, score))
    return list(order.items())


def _chunk_order(ranked: _Ranked) -> list[str]:
    """Every chunk of a ranking, best score first."""
    flat = sorted(((c, s) for _, chunks in ranked for c, s in chunks), key=lambda p: -p[1])
    return [c for c, _ in flat]


def _single(ranked: _Ranked, k: int, chunks_per_item: int) -> list[tuple[str, float, list[str]]]:
    return [
        (item_id, chunks[0][1], [c for c, _ in chunks[:chunks_per_item]])
        for item_id, chunks in ranked[:k]
    ]


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def check_search_args(query: Any, k: Any, mode: Any, min_score: Any, chunks_per_item: Any) -> None:
    """Refuse bad search arguments with an :class:`~semcached.errors.InvalidRequestError`
    naming the field (``query``, ``k``, ``mode``, ``min_score``, ``chunks_per_item``)."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequestError(
            f"query: expected non-blank text, got {query!r:.80}. Fix: send what to search for",
            field="query",
        )
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidRequestError(
            f"query: expected at most {MAX_QUERY_CHARS} characters, got {len(query)}. Fix: "
            "search with a shorter query",
            field="query",
        )
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidRequestError(
            f"k: expected an integer within [1, {MAX_K}], got {k!r}. Fix: ask for at most "
            f"{MAX_K} results",
            field="k",
        )
    if mode not in SEARCH_MODES:
        raise InvalidRequestError(
            f"mode: expected one of {', '.join(SEARCH_MODES)}, got {mode!r}. Fix: use 'hybrid' "
            "unless you need one ranker alone",
            field="mode",
        )
    if min_score is not None and (
        isinstance(min_score, bool)
        or not isinstance(min_score, int | float)
        or not math.isfinite(min_score)
    ):
        raise InvalidRequestError(
            f"min_score: expected a finite number or null, got {min_score!r}",
            field="min_score",
        )
    if (
        isinstance(chunks_per_item, bool)
        or not isinstance(chunks_per_item, int)
        or not 1 <= chunks_per_item <= MAX_CHUNKS_PER_ITEM
    ):
        raise InvalidRequestError(
            f"chunks_per_item: expected an integer within [1, {MAX_CHUNKS_PER_ITEM}], got "
            f"{chunks_per_item!r}",
            field="chunks_per_item",
        )
