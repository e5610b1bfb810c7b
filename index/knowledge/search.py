"""The read side of knowledge search: dense, lexical and hybrid rankings, per item.

A ranker returns chunks best first; they are grouped by item (an item ranks at its best
chunk, "MaxP"), and for ``hybrid`` the two item rankings are fused by reciprocal rank. Each
ranker fetches chunks deep enough to fill ``depth`` items, fetching deeper when filters or
long items use up the first round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from semcached.errors import InvalidRequestError
from semcached.index.knowledge.store import ChunkRow, KnowledgeCollection
from semcached.index.vector.base import similarity_from_distance

if TYPE_CHECKING:
    from semcached.index.knowledge.base import KnowledgeBase

__all__ = [
    "MAX_K",
    "SEARCH_MODES",
    "ChunkHit",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "Searcher",
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
_Ranked = list[tuple[str, list[tuple[ChunkRow, float]]]]


class Searcher:
    """Runs searches for a :class:`~semcached.index.knowledge.base.KnowledgeBase`."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: SearchMode = "hybrid",
        collection: str = "default",
        namespace: str | None = None,
        where: Mapping[str, Any] | None = None,
        where_document: Mapping[str, Any] | None = None,
        min_score: float | None = None,
        chunks_per_item: int = 1,
    ) -> SearchResults:
        """The ``k`` best items for ``query`` in ``collection`` of ``namespace``.

        ``where`` filters on item metadata and ``where_document`` on chunk text (ChromaDB's filter
        language, see :mod:`semcached.index.knowledge.filters`); ``min_score`` drops hits scoring
        below it on the mode's scale; ``chunks_per_item`` best chunks come with each hit. Bad
        arguments raise :class:`~semcached.errors.InvalidRequestError` naming the field.
        """
        _check_search_args(query, k, mode, min_score, chunks_per_item)
        where_, where_document_ = self.kb.check_filters(where, where_document)
        store = self.kb.collection(collection, namespace)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        depth = max(k, self.kb.fusion_depth) if mode == "hybrid" else k
        query_vector: np.ndarray[Any, np.dtype[np.float32]] | None = None
        dense: _Ranked = []
        lexical: _Ranked = []
        if mode in ("dense", "hybrid"):
            t0 = time.perf_counter()
            query_vector = self.kb.embedder.embed([query])[0]
            timings["embed"] = _ms(t0)
            t0 = time.perf_counter()
            dense = self._dense(store, query_vector, depth, where_, where_document_)
            timings["dense"] = _ms(t0)
        if mode in ("lexical", "hybrid"):
            t0 = time.perf_counter()
            lexical = self._lexical(store, query, depth, where_, where_document_)
            timings["lexical"] = _ms(t0)
        t0 = time.perf_counter()
        if mode == "dense":
            hits = _single(dense, k, chunks_per_item, "dense")
        elif mode == "lexical":
            hits = _single(lexical, k, chunks_per_item, "lexical")
        else:
            assert query_vector is not None
            hits = self._hybrid(
                store, query, query_vector, dense, lexical, k=k, chunks_per_item=chunks_per_item
            )
        if min_score is not None:
            hits = [hit for hit in hits if hit.score >= min_score]
        timings["fuse"] = _ms(t0)
        timings["total"] = _ms(started)
        return SearchResults(
            query=query,
            mode=mode,
            collection=store.name,
            namespace=store.namespace,
            hits=hits,
            timings_ms=timings,
        )

    def _dense(
        self,
        store: KnowledgeCollection,
        vector: np.ndarray[Any, np.dtype[np.float32]],
        depth: int,
        where: dict[str, Any] | None,
        where_document: dict[str, Any] | None,
    ) -> _Ranked:
        n = depth * _OVERFETCH
        for _ in range(_MAX_ROUNDS):
            rows = store.query(vector, n, where, where_document)
            ranked = _group((row, similarity_from_distance(d)) for row, d in rows)
            if len(ranked) >= depth or len(rows) < n:
                break
            n *= 2
        return ranked[:depth]

    def _lexical(
        self,
        store: KnowledgeCollection,
        query: str,
        depth: int,
        where: dict[str, Any] | None,
        where_document: dict[str, Any] | None,
    ) -> _Ranked:
        index = self.kb.lexical_index(store)
        n = depth * _OVERFETCH
        ranked: _Ranked = []
        for _ in range(_MAX_ROUNDS):
            scored = index.search(query, n)
            # ChromaDB has the texts and metadata, applies the filters, and drops chunks
            # another process deleted since the index was built.
            rows = store.chunks_by_id([chunk_id for chunk_id, _ in scored], where, where_document)
            ranked = _group((rows[c], s) for c, s in scored if c in rows)
            if len(ranked) >= depth or len(scored) < n:
                break
            n *= 2
        return ranked[:depth]

    def _hybrid(
        self,
        store: KnowledgeCollection,
        query: str,
        vector: np.ndarray[Any, np.dtype[np.float32]],
        dense: _Ranked,
        lexical: _Ranked,
        *,
        k: int,
        chunks_per_item: int,
    ) -> list[SearchHit]:
        fused = self.kb.fuse([[i for i, _ in dense], [i for i, _ in lexical]])[:k]
        dense_by = {item: (rank, chunks) for rank, (item, chunks) in enumerate(dense, start=1)}
        lexical_by = {item: (rank, chunks) for rank, (item, chunks) in enumerate(lexical, start=1)}
        # Chunk-level fused scores (in [0, 1]) order the chunks shown within an item.
        chunk_scores = dict(self.kb.fuse([_chunk_order(dense), _chunk_order(lexical)]))
        hits: list[SearchHit] = []
        missing_similarity: list[str] = []
        missing_lexical: list[str] = []
        for item_id, score in fused:
            rows: dict[str, ChunkRow] = {}
            similarity: dict[str, float] = {}
            lexical_scores: dict[str, float] = {}
            d_rank = l_rank = None
            if item_id in dense_by:
                d_rank, chunks = dense_by[item_id]
                for row, s in chunks:
                    rows[row.id] = row
                    similarity[row.id] = s
            if item_id in lexical_by:
                l_rank, chunks = lexical_by[item_id]
                for row, s in chunks:
                    rows[row.id] = row
                    lexical_scores[row.id] = s

            best = sorted(rows, key=lambda c: (-chunk_scores.get(c, 0.0), rows[c].index))
            best = best[:chunks_per_item]
            chunk_hits = [
                ChunkHit(
                    id=c,
                    index=rows[c].index,
                    text=rows[c].text,
                    start=rows[c].start,
                    end=rows[c].end,
                    score=chunk_scores.get(c, 0.0),
                    similarity=similarity.get(c),
                    lexical_score=lexical_scores.get(c),
                )
                for c in best
            ]
            missing_similarity.extend(c.id for c in chunk_hits if c.similarity is None)
            missing_lexical.extend(c.id for c in chunk_hits if c.lexical_score is None)
            first = next(iter(rows.values()))
            hits.append(
                SearchHit(
                    id=item_id,
                    score=score,
                    metadata=dict(first.metadata),
                    chunks=chunk_hits,
                    similarity=max(similarity.values()) if similarity else None,
                    lexical_score=max(lexical_scores.values()) if lexical_scores else None,
                    dense_rank=d_rank,
                    lexical_rank=l_rank,
                )
            )
        return self._complete_scores(
            store,
            query,
            vector,
            hits,
            missing_similarity=missing_similarity,
            missing_lexical=missing_lexical,
        )

    def _complete_scores(
        self,
        store: KnowledgeCollection,
        query: str,
        vector: np.ndarray[Any, np.dtype[np.float32]],
        hits: list[SearchHit],
        *,
        missing_similarity: list[str],
        missing_lexical: list[str],
    ) -> list[SearchHit]:
        """Give every hybrid hit both scores, even when only one ranker found it."""
        if not missing_similarity and not missing_lexical:
            return hits
        vectors = store.vectors(missing_similarity)
        sims = {c: float(np.dot(v, vector)) for c, v in vectors.items()}
        index = self.kb.lexical_index(store)
        bm25 = index.score_docs(query, missing_lexical) if missing_lexical else {}
        completed: list[SearchHit] = []
        for hit in hits:
            chunks = [
                ChunkHit(
                    id=c.id,
                    index=c.index,
                    text=c.text,
                    start=c.start,
                    end=c.end,
                    score=c.score,
                    similarity=c.similarity if c.similarity is not None else sims.get(c.id),
                    lexical_score=c.lexical_score
                    if c.lexical_score is not None
                    else bm25.get(c.id),
                )
                for c in hit.chunks
            ]
            similarity = _best(hit.similarity, [c.similarity for c in chunks])
            lexical_score = _best(hit.lexical_score, [c.lexical_score for c in chunks])
            completed.append(
                SearchHit(
                    id=hit.id,
                    score=hit.score,
                    metadata=hit.metadata,
                    chunks=chunks,
                    similarity=similarity,
                    lexical_score=lexical_score,
                    dense_rank=hit.dense_rank,
                    lexical_rank=hit.lexical_rank,
                )
            )
        return completed


def _best(current: float | None, candidates: list[float | None]) -> float | None:
    known = [value for value in (current, *candidates) if value is not None]
    return max(known) if known else None


def _group(scored: Any) -> _Ranked:
    """Chunks (best first) grouped by item, items in the order of their best chunk."""
    order: dict[str, list[tuple[ChunkRow, float]]] = {}
    for row, score in scored:
        order.setdefault(row.item_id, []).append((row, score))
    return list(order.items())


def _chunk_order(ranked: _Ranked) -> list[str]:
    """Every chunk of a ranking, best score first."""
    flat = sorted(
        ((row.id, score) for _, chunks in ranked for row, score in chunks), key=lambda p: -p[1]
    )
    return [chunk_id for chunk_id, _ in flat]


def _single(ranked: _Ranked, k: int, chunks_per_item: int, side: str) -> list[SearchHit]:
    hits: list[SearchHit] = []
    for rank, (item_id, chunks) in enumerate(ranked[:k], start=1):
        best = chunks[:chunks_per_item]
        dense = side == "dense"
        hits.append(
            SearchHit(
                id=item_id,
                score=chunks[0][1],
                metadata=dict(chunks[0][0].metadata),
                chunks=[
                    ChunkHit(
                        id=row.id,
                        index=row.index,
                        text=row.text,
                        start=row.start,
                        end=row.end,
                        score=score,
                        similarity=score if dense else None,
                        lexical_score=None if dense else score,
                    )
                    for row, score in best
                ],
                similarity=chunks[0][1] if dense else None,
                lexical_score=None if dense else chunks[0][1],
                dense_rank=rank if dense else None,
                lexical_rank=None if dense else rank,
            )
        )
    return hits


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _check_search_args(query: Any, k: Any, mode: Any, min_score: Any, chunks_per_item: Any) -> None:
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
