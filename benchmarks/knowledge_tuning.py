"""Sweep BM25 and fusion settings on a BEIR dataset already ingested by ``semcached eval-search``.

Dense rankings are computed once (ChromaDB), lexical ones in memory per BM25 setting, and
fusion is replayed offline, so a sweep costs seconds and never re-embeds the corpus.

    .venv/bin/semcached eval-search ../shared/data/scifact --data-dir /tmp/semcached-scifact
    .venv/bin/python benchmarks/knowledge_tuning.py ../shared/data/scifact \
        --data-dir /tmp/semcached-scifact
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from semcached.embeddings import SentenceTransformerEmbedder
from semcached.index.knowledge.base import KnowledgeBase
from semcached.index.knowledge.beir import load_beir, ndcg_at, recall_at
from semcached.index.knowledge.bm25 import ENGLISH_STOPWORDS, BM25Index, Tokenizer
from semcached.index.knowledge.fusion import reciprocal_rank_fusion
from semcached.index.vector.chroma import ChromaBackend


def item_ranking(scored: list[tuple[str, float]], depth: int) -> list[str]:
    """Chunk ranking -> item ranking (an item at its best chunk)."""
    seen: dict[str, None] = {}
    for chunk_id, _ in scored:
        seen.setdefault(chunk_id.rsplit("#", 1)[0], None)
        if len(seen) >= depth:
            break
    return list(seen)


def score(runs: dict[str, list[str]], data: object, qids: list[str]) -> tuple[float, float]:
    ndcg = statistics.fmean(
        ndcg_at([d for d in runs[q] if d != q], data.qrels[q], 10)  # type: ignore[attr-defined]
        for q in qids
    )
    recall = statistics.fmean(
        recall_at([d for d in runs[q] if d != q], data.qrels[q], 100)  # type: ignore[attr-defined]
        for q in qids
    )
    return ndcg, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", default="beir")
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()

    data = load_beir(args.folder)
    qids = sorted(data.queries)
    kb = KnowledgeBase(
        embedder=SentenceTransformerEmbedder(),
        backend=ChromaBackend(path=args.data_dir / "chroma"),
    )
    store = kb.collection(args.collection)
    chunks = list(store.all_chunks())
    print(f"{len(chunks)} chunks, {len(qids)} queries")

    dense_runs = {
        q: kb.search(data.queries[q], k=args.depth, mode="dense", collection=args.collection).ids
        for q in qids
    }
    print(f"{'dense':<44} nDCG@10 {score(dense_runs, data, qids)[0]:.4f}")

    variants = {
        "stem+stop k1=1.2 b=0.75 (default)": (Tokenizer(), 1.2, 0.75),
        "stem+stop k1=0.9 b=0.4 (Anserini)": (Tokenizer(), 0.9, 0.4),
        "stem+stop k1=1.5 b=0.75": (Tokenizer(), 1.5, 0.75),
        "stem+stop k1=1.2 b=0.9": (Tokenizer(), 1.2, 0.9),
        "no stemming": (Tokenizer(stem=False), 1.2, 0.75),
        "no stopwords": (Tokenizer(stopwords=frozenset()), 1.2, 0.75),
        "stem+stop, min length 2": (
            Tokenizer(stopwords=ENGLISH_STOPWORDS, min_length=2),
            1.2,
            0.75,
        ),
    }
    lexical_runs: dict[str, dict[str, list[str]]] = {}
    for name, (tokenizer, k1, b) in variants.items():
        index = BM25Index(k1=k1, b=b, tokenizer=tokenizer)
        index.add_many(chunks)
        runs = {
            q: item_ranking(index.search(data.queries[q], args.depth * 4), args.depth) for q in qids
        }
        lexical_runs[name] = runs
        ndcg, recall = score(runs, data, qids)
        print(f"lexical {name:<36} nDCG@10 {ndcg:.4f}  recall@100 {recall:.4f}")

    lexical = lexical_runs["stem+stop k1=1.2 b=0.75 (default)"]
    for rrf_k in (5, 10, 20, 40, 60, 100):
        for weights in ((1.0, 1.0), (1.0, 1.5), (1.5, 1.0)):
            runs = {
                q: [
                    item
                    for item, _ in reciprocal_rank_fusion(
                        [dense_runs[q], lexical[q]], k=rrf_k, weights=weights
                    )
                ][: args.depth]
                for q in qids
            }
            ndcg, recall = score(runs, data, qids)
            label = f"hybrid rrf_k={rrf_k} weights={weights}"
            print(f"{label:<44} nDCG@10 {ndcg:.4f}  recall@100 {recall:.4f}")


if __name__ == "__main__":
    main()
