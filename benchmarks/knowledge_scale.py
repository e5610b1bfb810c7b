"""Knowledge ingest and search at a given number of chunks (10k and 100k by default).

Ingest reports items/s and where the time went (chunking, embedding, store writes, lexical
indexing). Search reports the median and p95 of whole ``kb.search`` calls (query embedding
with the real model included) per mode, one query at a time, after a warm-up.

Documents are embedded by the real model with ``--embedder model`` (slow on CPU: that is the
measured ceiling of ingest), or by a hashing embedder (the default) that costs nothing, so the
store and lexical parts are measured alone and 100k chunks can be built in minutes; dense
similarities are then meaningless but the search path and its latency are the real ones.

    .venv/bin/python benchmarks/knowledge_scale.py --data ../shared/data/scifact
    .venv/bin/python benchmarks/knowledge_scale.py --sizes 2000 --embedder model
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from semcached.embeddings import SentenceTransformerEmbedder, Vectors
from semcached.embeddings.base import l2_normalize
from semcached.index.knowledge.base import Item, KnowledgeBase
from semcached.index.knowledge.beir import load_data
from semcached.index.knowledge.chroma import ChromaKnowledgeStore

SAMPLE = Path(__file__).resolve().parents[1] / "semcached" / "data" / "knowledge_sample.jsonl"


class HashEmbedder:
    """Bag-of-words random projections under the real model's id and size: free vectors."""

    def __init__(self, model_id: str, dim: int) -> None:
        self.model_id = model_id
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in set(re.findall(r"\w+", text.lower())[:64]):
                seed = xxhash.xxh3_64_intdigest(word.encode())
                rows[i] += np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows[i, 0] += 1e-3
        return l2_normalize(rows)


def replicated(items: list[Item], chunks_per_item: float, size: int) -> Iterator[Item]:
    """Copies of the corpus (ids suffixed) until about ``size`` chunks."""
    wanted = int(size / chunks_per_item)
    for n in range(wanted):
        base = items[n % len(items)]
        copy = n // len(items)
        yield base if copy == 0 else Item(f"{base.id}~{copy}", base.text, base.metadata)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=SAMPLE, help="BEIR folder or JSONL items")
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts to build")
    parser.add_argument("--embedder", choices=["hash", "model"], default="hash")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    data = load_data(args.data)
    items = list(data.items())
    queries = [data.queries[q] for q in sorted(data.queries)][: args.queries]
    model = SentenceTransformerEmbedder()
    writer_embedder: Any = (
        model if args.embedder == "model" else HashEmbedder(model.model_id, model.dim)
    )
    probe = KnowledgeBase(embedder=model, store=ChromaKnowledgeStore(path=tempfile.mkdtemp()))
    sample = items[: min(len(items), 500)]
    chunks_per_item = sum(len(probe.chunker.split(i.text)) for i in sample) / len(sample)
    print(
        f"{args.data}: {len(items)} items, {chunks_per_item:.2f} chunks per item; documents "
        f"embedded by {args.embedder}; {os.cpu_count()} cores"
    )
    rows: list[dict[str, Any]] = []
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = Path(tempfile.mkdtemp(prefix="semcached-scale-"))
        store = ChromaKnowledgeStore(path=folder / "chroma")
        writer = KnowledgeBase(
            embedder=writer_embedder,
            store=store,
            lexical_dir=folder / "lexical",
            batch_size=args.batch_size,
            limits=None,
        )
        writer.chunker = probe.chunker  # the model's tokenizer, whichever embedder writes
        writer.writer.chunker = probe.chunker
        report = writer.upsert(replicated(items, chunks_per_item, size), collection="scale")
        reader = KnowledgeBase(embedder=model, store=store, lexical_dir=folder / "lexical")
        row: dict[str, Any] = {
            "chunks": report.chunks,
            "items": report.items,
            "ingest_items_per_s": round(report.items_per_s, 1),
            "ingest_s": round(report.seconds, 1),
            **{f"{k}_s": round(v, 1) for k, v in report.timings_s.items()},
        }
        for query in queries:
            model.embed([query])  # PyTorch's first call per input length is slow
        for mode in ("dense", "lexical", "hybrid"):
            reader.search("warm up", k=10, mode=mode, collection="scale")  # type: ignore[arg-type]
            latencies = []
            for query in queries:
                t0 = time.perf_counter()
                reader.search(query, k=10, mode=mode, collection="scale")  # type: ignore[arg-type]
                latencies.append((time.perf_counter() - t0) * 1000)
            row[f"{mode}_median_ms"] = round(statistics.median(latencies), 1)
            row[f"{mode}_p95_ms"] = round(percentile(latencies, 0.95), 1)
        rows.append(row)
        print(json.dumps(row) if args.json else f"built {report.chunks} chunks", flush=True)
    if args.json:
        return
    print(
        f"{'chunks':>8} {'items/s':>8} {'embed s':>8} {'store s':>8} {'lexical s':>9} "
        f"{'dense ms':>9} {'lexical ms':>10} {'hybrid ms':>10} {'hybrid p95':>10}"
    )
    for row in rows:
        print(
            f"{row['chunks']:>8} {row['ingest_items_per_s']:>8} {row.get('embed_s', 0):>8} "
            f"{row.get('store_s', 0):>8} {row.get('lexical_s', 0):>9} "
            f"{row['dense_median_ms']:>9} {row['lexical_median_ms']:>10} "
            f"{row['hybrid_median_ms']:>10} {row['hybrid_p95_ms']:>10}"
        )
    print("(medians over one query at a time, k=10, query embedding included)")


if __name__ == "__main__":
    main()
