"""Hit quality of the real cache, with and without the verifier, on the public pair sets.

Replays each set through :mod:`semcached.evaluation` (store ``a``, look up ``b``; GPTCache's mock
set as retrieval), prints per-threshold tables with and without the verifier, the targets of
issue 5 at one operating point, and the verifier's added latency per lookup. Rerun with:

    .venv/bin/python benchmarks/quality.py --data ../shared/data \\
        --embedding-cache /tmp/semcached-emb

Without ``--data`` (or when the folder is absent) it runs on semcached's hand-written sample.
The threshold reported as the operating point is ``--threshold`` (default: the configured
default), never tuned on Quora or GPTCache data (see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

# One BLAS thread: a lookup's matrix products are tiny, and on a shared machine BLAS threads
# fighting for cores make latencies meaningless.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.embedstore import PersistentEmbedder
from semcached.evaluation import (
    Replay,
    build_replay_cache,
    evaluate_path,
    format_report,
    metrics_at,
)
from semcached.pairs import load_pairs, sample_pairs_path
from semcached.settings import DEFAULT_THRESHOLD, Settings


def replay(path: Path, settings: Settings, embedder: Any, *, verify: bool, limit: int | None,
           floor: float) -> Replay:  # fmt: skip
    cache = build_replay_cache(settings, embedder=embedder, guards=None if verify else ())
    return evaluate_path(path, settings, limit=limit, floor=floor, cache=cache)


def verifier_latency(settings: Settings, embedder: Any, path: Path, n: int) -> dict[str, float]:
    """Median and p99 of the lookup's decide stage (decision + guards) with and without the
    verifier, over the same lookups (k candidates each), plus the whole lookup's median."""
    pairs = load_pairs(path, limit=n)
    results: dict[str, float] = {}
    for verify in (False, True):
        cache = build_replay_cache(settings, embedder=embedder, guards=None if verify else ())
        ns = "latency"
        texts = [p.a for p in pairs]
        cache.embedder.embed(texts + [p.b for p in pairs])
        for i, text in enumerate(texts):
            cache.store(_req(text), {"i": i}, namespace=ns)
        decide, total = [], []
        for p in pairs:
            start = time.perf_counter()
            result = cache.lookup(_req(p.b), namespace=ns, threshold=0.0)
            total.append((time.perf_counter() - start) * 1000)
            decide.append(result.timings_ms.get("decide", 0.0))
        key = "verified" if verify else "cosine"
        results[f"{key}_decide_median_ms"] = statistics.median(decide)
        results[f"{key}_decide_p99_ms"] = sorted(decide)[int(0.99 * (len(decide) - 1))]
        results[f"{key}_lookup_median_ms"] = statistics.median(total)
    results["added_median_ms"] = (
        results["verified_decide_median_ms"] - results["cosine_decide_median_ms"]
    )
    return results


def _req(text: str) -> dict[str, Any]:
    return {"model": "bench", "temperature": 0, "messages": [{"role": "user", "content": text}]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="folder with qqp/, paws/, gptcache_mock/")
    parser.add_argument("--qqp-limit", type=int, default=None, help="first N Quora pairs")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--floor", type=float, default=0.80)
    parser.add_argument("--embedding-cache", type=Path, help="keep embeddings in this folder")
    parser.add_argument("--latency-lookups", type=int, default=2000)
    parser.add_argument("--json", type=Path, help="also write the full results here")
    parser.add_argument("--tables", action="store_true", help="print every per-threshold table")
    args = parser.parse_args()

    settings = Settings()
    base = SentenceTransformerEmbedder()
    embedder: Any = (
        PersistentEmbedder(base, args.embedding_cache)
        if args.embedding_cache
        else CachedEmbedder(base, max_entries=300_000)
    )
    sets: dict[str, tuple[Path, int | None]] = {}
    if args.data and args.data.is_dir():
        sets["qqp"] = (args.data / "qqp" / "pairs.jsonl.gz", args.qqp_limit)
        sets["paws"] = (args.data / "paws" / "dev.tsv", None)
        sets["gptcache_mock"] = (args.data / "gptcache_mock" / "mock_data.json", None)
    else:
        print(f"no --data folder; using the bundled sample {sample_pairs_path()}", file=sys.stderr)
        sets["sample"] = (sample_pairs_path(), None)

    report: dict[str, Any] = {"threshold": args.threshold}
    for name, (path, limit) in sets.items():
        if isinstance(embedder, PersistentEmbedder):
            if path.name.endswith(".json"):
                from semcached.pairs import load_paraphrase_sets

                texts = [t for pair in load_paraphrase_sets(path) for t in pair]
            else:
                texts = [t for p in load_pairs(path, limit=limit) for t in (p.a, p.b)]
            embedder.warm(texts)
        body: dict[str, Any] = {}
        for verify in (True, False):
            r = replay(path, settings, embedder, verify=verify, limit=limit, floor=args.floor)
            key = "verified" if verify else "cosine"
            at = metrics_at(r, args.threshold)
            body[key] = {
                "at_threshold": at.to_dict(),
                "table": [metrics_at(r, t / 100).to_dict() for t in range(80, 101)],
                "seconds": round(r.seconds, 1),
                "rejections": r.rejections,
            }
            if args.tables:
                print(f"\n== {name} ({key})\n{format_report(r)}")
        report[name] = body
        v, c = body["verified"]["at_threshold"], body["cosine"]["at_threshold"]
        print(
            f"{name:>14} @ {args.threshold:.3f}: verified hit {v['hit_rate']:.1%} "
            f"false-hit {v['false_hit_rate']:.1%} precision {v['precision']:.3f} "
            f"{v['precision_ci95']} | cosine hit {c['hit_rate']:.1%} false-hit "
            f"{c['false_hit_rate']:.1%} precision {c['precision']:.3f}"
        )
    first = next(iter(sets.values()))[0]
    if first.name.endswith((".jsonl", ".jsonl.gz", ".tsv", ".csv")):
        latency = verifier_latency(settings, embedder, first, args.latency_lookups)
        report["latency"] = latency
        print("verifier latency: " + ", ".join(f"{k} {v:.4f}" for k, v in latency.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
