"""Replay a stream of labelled pairs through the real cache with adaptive thresholds.

For each pair: the provider's answer to ``a`` is stored; then ``b`` is asked through
``get_or_call``. The provider answers ``b`` with ``a``'s answer when they are duplicates and
with another one when not, so a served hit is wrong exactly on non-duplicates. Every served
semantic hit gets ``feedback(correct=...)`` (with probability ``--feedback-rate``), and near
misses are probed by comparing the cached answer with the fresh one. Printed every
``--every`` lookups: the threshold in force, hits so far, and the observed false-hit rate (wrong
share of semantic hits) against the bound, next to a static threshold on the same stream.

    .venv/bin/python benchmarks/quality_adaptive.py --data ../shared/data/qqp/pairs.jsonl.gz \\
        --limit 20000 --max-false-hit-rate 0.05 --start 0.98 --embedding-cache /tmp/semcached-emb
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from semcached.adaptive import AdaptiveThresholds
from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.embedstore import PersistentEmbedder
from semcached.engine import SemanticCache
from semcached.index.exact import MemoryExactStore
from semcached.memindex import MemoryVectorBackend
from semcached.pairs import Pair, load_pairs, sample_pairs_path


def _req(text: str) -> dict[str, Any]:
    return {"model": "replay", "temperature": 0, "messages": [{"role": "user", "content": text}]}


def stream(
    pairs: list[Pair],
    embedder: Any,
    *,
    start: float,
    adaptive: AdaptiveThresholds | None,
    verify: bool,
    feedback_rate: float,
    every: int,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Replay ``pairs`` in order; one row per ``every`` lookups (cumulative figures)."""
    rng = random.Random(seed)
    cache = SemanticCache(
        embedder=embedder,
        exact_store=MemoryExactStore(max_entries=10_000),
        vector_backend=MemoryVectorBackend(),
        threshold=start,
        guards=None if verify else (),
        adaptive=adaptive,
    )
    ns = "replay"
    duplicates = hits = right = 0
    rows: list[dict[str, Any]] = []
    window_hits = window_wrong = 0
    for i, pair in enumerate(pairs, 1):
        answer_a = {"answer": f"a{i}"}
        fresh_b = answer_a if pair.label == 1 else {"answer": f"b{i}"}
        cache.store(_req(pair.a), answer_a, namespace=ns)
        result = cache.get_or_call(_req(pair.b), lambda fresh=fresh_b: fresh, namespace=ns,
                                   skip_store=True)  # fmt: skip
        duplicates += pair.label
        if result.source == "semantic":
            hits += 1
            window_hits += 1
            correct = pair.label == 1
            right += correct
            window_wrong += not correct
            if adaptive is not None and rng.random() < feedback_rate:
                assert result.lookup.entry_id is not None
                cache.feedback(result.lookup.entry_id, correct=correct, namespace=ns)
        cache.delete(cache.canonicalize(_req(pair.a), ns).exact_key, namespace=ns)
        if i % every == 0 or i == len(pairs):
            rows.append(
                {
                    "lookups": i,
                    "threshold": round(cache.threshold_for(ns), 4),
                    "hits": hits,
                    "hit_rate_dup": round(right / duplicates, 4) if duplicates else 0.0,
                    "false_hit_rate": round((hits - right) / hits, 4) if hits else 0.0,
                    "window_false_hit_rate": round(window_wrong / window_hits, 4)
                    if window_hits
                    else 0.0,
                }
            )
            window_hits = window_wrong = 0
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="a labelled pairs file (default: the sample)")
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--max-false-hit-rate", type=float, default=0.05)
    parser.add_argument("--start", type=float, default=0.98, help="the configured threshold")
    parser.add_argument("--floor", type=float, default=0.80)
    parser.add_argument("--feedback-rate", type=float, default=1.0)
    parser.add_argument("--every", type=int, default=2000)
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--shuffle", type=int, default=0, help="shuffle with this seed (0: no)")
    parser.add_argument("--embedding-cache", type=Path)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()

    path = args.data or sample_pairs_path()
    if args.data is None:
        print(f"no --data; replaying the bundled sample {path}", file=sys.stderr)
    pairs = load_pairs(path, limit=args.limit)
    if args.shuffle:
        random.Random(args.shuffle).shuffle(pairs)
    base = SentenceTransformerEmbedder()
    inner: Any = PersistentEmbedder(base, args.embedding_cache) if args.embedding_cache else base
    embedder = CachedEmbedder(inner, max_entries=2 * len(pairs) + 10)
    embedder.embed([t for p in pairs for t in (p.a, p.b)])
    every = min(args.every, len(pairs))
    adaptive = AdaptiveThresholds(
        max_false_hit_rate=args.max_false_hit_rate,
        floor=args.floor,
        compare=lambda cached, fresh: cached == fresh,
    )
    common = {"verify": not args.no_verify, "feedback_rate": args.feedback_rate, "every": every}
    learned = stream(pairs, embedder, start=args.start, adaptive=adaptive, **common)  # type: ignore[arg-type]
    static = stream(pairs, embedder, start=args.start, adaptive=None, **common)  # type: ignore[arg-type]
    print(
        f"bound: false-hit rate <= {args.max_false_hit_rate:.1%} of semantic hits; configured "
        f"threshold {args.start}; verifier {'off' if args.no_verify else 'on'}; {path}"
    )
    header = (
        f"{'lookups':>8} | {'adaptive: threshold':>19} {'hits':>6} {'dup hit rate':>12} "
        f"{'false-hit':>9} {'(window)':>8} | {'static: hits':>12} {'dup hit rate':>12} "
        f"{'false-hit':>9}"
    )
    print(header)
    for a, s in zip(learned, static, strict=True):
        print(
            f"{a['lookups']:>8} | {a['threshold']:>19.3f} {a['hits']:>6} "
            f"{a['hit_rate_dup']:>12.1%} "
            f"{a['false_hit_rate']:>9.1%} {a['window_false_hit_rate']:>8.1%} | {s['hits']:>12} "
            f"{s['hit_rate_dup']:>12.1%} {s['false_hit_rate']:>9.1%}"
        )
    if args.json:
        args.json.write_text(json.dumps({"adaptive": learned, "static": static}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
