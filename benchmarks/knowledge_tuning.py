"""Sweep BM25 and fusion settings on an ingested BEIR dataset, without re-embedding.

Dense rankings come from the knowledge base once; lexical ones from the in-memory reference
BM25 per setting (the tantivy index knowledge search uses has Lucene's k1 = 1.2, b = 0.75
built in, so the sweep shows what other settings would give); fusion is replayed offline. The
first run ingests into ``--data-dir`` (an ``eval-search`` folder works too); later runs reuse it.

    .venv/bin/python benchmarks/knowledge_tuning.py --data ../shared/data/scifact \\
        --data-dir /tmp/semcached-scifact
    .venv/bin/python benchmarks/knowledge_tuning.py      # the bundled sample, self-retrieval
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from semcached.embeddings import SentenceTransformerEmbedder
from semcached.index.knowledge.base import KnowledgeBase
from semcached.index.knowledge.beir import BeirData, load_data, ndcg_at, recall_at
from semcached.index.knowledge.bm25 import ENGLISH_STOPWORDS, BM25Index, Tokenizer
from semcached.index.knowledge.chroma import ChromaKnowledgeStore
from semcached.index.knowledge.fusion import reciprocal_rank_fusion
from semcached.index.knowledge.store import chunk_ids

SAMPLE = Path(__file__).resolve().parents[1] / "semcached" / "data" / "knowledge_sample.jsonl"


def item_ranking(scored: list[tuple[str, float]], depth: int) -> list[str]:
    """Chunk ranking -> item ranking (an item at its best chunk)."""
    seen: dict[str, None] = {}
    for chunk_id, _ in scored:
        seen.setdefault(chunk_id.rsplit("#", 1)[0], None)
        if len(seen) >= depth:
            break
    return list(seen)


def score(runs: dict[str, list[str]], data: BeirData, qids: list[str]) -> tuple[float, float]:
    ndcg = statistics.fmean(
        ndcg_at([d for d in runs[q] if d != q], data.qrels[q], 10) for q in qids
    )
    recall = statistics.fmean(
        recall_at([d for d in runs[q] if d != q], data.qrels[q], 100) for q in qids
    )
    return ndcg, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SAMPLE, help="BEIR folder or JSONL items")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the ingest here")
    parser.add_argument("--collection", default="beir")
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args()

    data = load_data(args.data)
    qids = sorted(data.queries)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="semcached-tuning-"))
    kb = KnowledgeBase(
        embedder=SentenceTransformerEmbedder(),
        store=ChromaKnowledgeStore(path=data_dir / "chroma"),
        lexical_dir=data_dir / "lexical",
    )
    report = kb.upsert(data.items(), collection=args.collection)
    handle = kb.collection(args.collection)
    records = [r for r in handle.changed_since(0) if r.live]
    rows = handle.get_chunks([c for r in records for c in chunk_ids(r.id, r.version, r.chunks)])
    chunks = [(row.id, row.text) for row in rows.values()]
    print(
        f"{args.data}: {len(records)} items ({report.written} embedded now), {len(chunks)} "
        f"chunks, {len(qids)} queries, {os.cpu_count()} cores"
    )
    rows_out: list[tuple[str, float, float, float]] = []

    latencies: list[float] = []
    dense_runs: dict[str, list[str]] = {}
    for q in qids:
        t0 = time.perf_counter()
        dense_runs[q] = kb.search(
            data.queries[q], k=args.depth, mode="dense", collection=args.collection
        ).ids
        latencies.append((time.perf_counter() - t0) * 1000)
    rows_out.append(("dense", *score(dense_runs, data, qids), statistics.median(latencies)))

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
        latencies = []
        runs = {}
        for q in qids:
            t0 = time.perf_counter()
            runs[q] = item_ranking(index.search(data.queries[q], args.depth * 4), args.depth)
            latencies.append((time.perf_counter() - t0) * 1000)
        lexical_runs[name] = runs
        rows_out.append((f"lexical {name}", *score(runs, data, qids), statistics.median(latencies)))

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
            rows_out.append(
                (f"hybrid rrf_k={rrf_k} weights={weights}", *score(runs, data, qids), 0.0)
            )

    print(f"{'setting':<46} {'nDCG@10':>8} {'recall@100':>10} {'median ms':>10}")
    for name, ndcg, recall, median in rows_out:
        shown = f"{median:>10.2f}" if median else f"{'':>10}"
        print(f"{name:<46} {ndcg:>8.4f} {recall:>10.4f} {shown}")


if __name__ == "__main__":
    main()
