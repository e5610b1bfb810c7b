"""What the scope-and-expiry filter costs a ChromaDB query as a namespace fills, against the
same query unfiltered with the filter applied to the few results (the fast path of
:meth:`semcached.engine.entries.SemanticStore.search`).

Every entry is in one scope (the common case: one model, one system prompt) with a far
expiry, so both paths return the same candidates; the figures are medians of 200 queries at
each size, in one run. Rerun::

    .venv/bin/python benchmarks/vector_filter.py --sizes 1000 10000 30000 100000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

import numpy as np

from semcached.index.vector.chroma import ChromaBackend


def _unit(rows: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=(rows, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=4, help="candidates (SEMCACHED_TOP_K)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, object] = {"cores": os.cpu_count(), "k": args.k, "sizes": []}
    with tempfile.TemporaryDirectory() as tmp:
        index = ChromaBackend(path=tmp).index("bench", metadata={"dim": 384})
        have = 0
        for size in sorted(args.sizes):
            while have < size:
                n = min(2000, size - have)
                vectors = _unit(n, 384, rng)
                ids = [f"e{have + i}" for i in range(n)]
                meta = [{"scope": "s1", "expires_at": 4e9, "created_at": 1.0}] * n
                index.add(ids, vectors, meta)
                have += n
            queries = _unit(args.queries, 384, rng)
            filtered, unfiltered = [], []
            where = {"$and": [{"scope": {"$eq": "s1"}}, {"expires_at": {"$gt": time.time()}}]}
            for q in queries:  # interleaved, so both see the same machine
                start = time.perf_counter()
                index.query(q, args.k, where)
                filtered.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                wide = index.query(q, max(4 * args.k, 16), None)  # the fast path's query
                [n for n in wide if n.metadata.get("scope") == "s1"][: args.k]
                unfiltered.append((time.perf_counter() - start) * 1000)
            row = {
                "entries": size,
                "filtered_median_ms": round(statistics.median(filtered), 2),
                "fast_path_median_ms": round(statistics.median(unfiltered), 2),
            }
            row["ratio"] = round(row["filtered_median_ms"] / row["fast_path_median_ms"], 1)
            out["sizes"].append(row)  # type: ignore[union-attr]
            print(json.dumps(row), flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
