"""Bulk insert of N distinct prompts: one ``store`` per prompt against ``store_many`` in
batches, on the service's own pipeline (ONNX embedder, embedded ChromaDB, in-process exact
store), in one run, and what bounds it (the embedding alone, batched, measured beside it).

Rerun::

    .venv/bin/python benchmarks/bulk_insert.py -n 1000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from semcached import factory
from semcached.engine.cache import SemanticCache
from semcached.index import ChromaBackend, MemoryExactStore
from semcached.settings import Settings

TOPICS = ["billing", "passwords", "shipping", "refunds", "accounts", "invoices", "plans", "teams"]


def prompts(n: int, tag: str) -> list[dict[str, object]]:
    return [
        {"model": "m", "temperature": 0, "messages": [{"role": "user", "content":
            f"[{tag}] Question {i} about {TOPICS[i % len(TOPICS)]}: how does case {i * 7} work?"}]}
        for i in range(n)
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    embedder = factory.build_embedder(settings)
    out: dict[str, object] = {"cores": os.cpu_count(), "prompts": args.n}
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(
            embedder=embedder, exact_store=MemoryExactStore(max_entries=10 * args.n),
            vector_backend=ChromaBackend(path=Path(tmp) / "chroma"), namespace="bulk",
            max_entries_per_namespace=10 * args.n,
        )  # fmt: skip
        cache.store(prompts(1, "warm")[0], {"a": 0})  # load the model, open the collection
        one_by_one = prompts(args.n, "single")
        start = time.perf_counter()
        for i, request in enumerate(one_by_one):
            cache.store(request, {"answer": i})
        out["store_each_s"] = round(time.perf_counter() - start, 2)
        batched = [(r, {"answer": i}) for i, r in enumerate(prompts(args.n, "batched"))]
        start = time.perf_counter()
        cache.store_many(batched, batch_size=args.batch_size)
        out["store_many_s"] = round(time.perf_counter() - start, 2)
        texts = [str(r["messages"][0]["content"]) for r in prompts(args.n, "embed-only")]  # type: ignore[index]
        inner = getattr(embedder, "inner", embedder)
        start = time.perf_counter()
        for at in range(0, len(texts), args.batch_size):
            inner.embed(texts[at : at + args.batch_size])
        out["embed_only_s"] = round(time.perf_counter() - start, 2)
        cache.close()
    out["speedup"] = round(float(out["store_each_s"]) / float(out["store_many_s"]), 1)  # type: ignore[arg-type]
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
