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

from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.embeddings.store import PersistentEmbedder
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.quality.evaluation import replay_feedback_stream
from semcached.quality.pairs import load_pairs, sample_pairs_path


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
    learned = replay_feedback_stream(pairs, embedder, start=args.start, adaptive=adaptive, **common)  # type: ignore[arg-type]
    static = replay_feedback_stream(pairs, embedder, start=args.start, adaptive=None, **common)  # type: ignore[arg-type]
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
