"""Hit quality of the real cache, with and without the verifier, on the public pair sets.

Replays each set through :mod:`semcached.quality.evaluation`
(store ``a``, look up ``b``; GPTCache's mock
set as retrieval), prints per-threshold tables with and without the verifier, the targets of
issue 5 at one operating point, and the verifier's added latency per lookup. Rerun with:

    .venv/bin/python benchmarks/quality.py --data ../shared/data \\
        --embedding-cache /tmp/semcached-emb

Without ``--data`` (or when the folder is absent) it runs on semcached's hand-written sample.
The threshold reported as the operating point is ``--threshold`` (default: the configured
default), never tuned on Quora or GPTCache data (see the README).

With ``--cross-encoder DIR`` (a model from ``semcached train-verifier``) each set is also
replayed with that cross-encoder in the verifier. Train it on one part of the Quora pairs and
measure on the part it never saw (``--qqp DIR/holdout.jsonl.gz``): the operating point
(threshold and minimum score) is calibrated for ``--target-precision`` on half of those unseen
pairs and reported on the other half, and on PAWS and GPTCache's set at that same point:

    semcached train-verifier ../shared/data/qqp/pairs.jsonl.gz --out /tmp/qqp-verifier \
        --holdout 0.5
    .venv/bin/python benchmarks/quality.py --data ../shared/data \
        --qqp /tmp/qqp-verifier/holdout.jsonl.gz --cross-encoder /tmp/qqp-verifier \
        --embedding-cache /tmp/semcached-emb
"""

from __future__ import annotations

import argparse
import dataclasses
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
from semcached.embeddings.store import PersistentEmbedder
from semcached.policy.guards import CrossEncoderGuard, default_guards
from semcached.quality.calibration import choose_operating_point
from semcached.quality.evaluation import (
    Replay,
    build_replay_cache,
    evaluate_path,
    format_report,
    metrics_at,
)
from semcached.quality.pairs import load_pairs, sample_pairs_path
from semcached.quality.training import split_by_question
from semcached.settings import DEFAULT_THRESHOLD, Settings


def replay(path: Path, settings: Settings, embedder: Any, *, verify: bool, limit: int | None,
           floor: float, guards: list[Any] | None = None) -> Replay:  # fmt: skip
    if guards is None and not verify:
        guards = []
    cache = build_replay_cache(settings, embedder=embedder, guards=guards)
    return evaluate_path(path, settings, limit=limit, floor=floor, cache=cache)


def split_replay(replay_: Replay, path: Path, limit: int | None) -> tuple[Replay, Replay]:
    """Two halves of a pairs replay that share no question: calibrate on one, report the other."""
    pairs = load_pairs(path, limit=limit)
    _, second = split_by_question(pairs, 0.5, purpose="calibration")
    held = {id(p) for p in second}
    first_half = [o for p, o in zip(pairs, replay_.outcomes, strict=True) if id(p) not in held]
    second_half = [o for p, o in zip(pairs, replay_.outcomes, strict=True) if id(p) in held]
    return (
        dataclasses.replace(replay_, outcomes=first_half),
        dataclasses.replace(replay_, outcomes=second_half),
    )


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
    parser.add_argument("--qqp", type=Path, help="Quora pairs file (default: DATA/qqp/...)")
    parser.add_argument("--qqp-limit", type=int, default=None, help="first N Quora pairs")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--floor", type=float, default=0.80)
    parser.add_argument("--embedding-cache", type=Path, help="keep embeddings in this folder")
    parser.add_argument("--cross-encoder", type=Path, help="also replay with this cross-encoder")
    parser.add_argument("--target-precision", type=float, default=0.95)
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
        sets["qqp"] = (args.qqp or args.data / "qqp" / "pairs.jsonl.gz", args.qqp_limit)
        sets["paws"] = (args.data / "paws" / "dev.tsv", None)
        sets["gptcache_mock"] = (args.data / "gptcache_mock" / "mock_data.json", None)
    else:
        print(f"no --data folder; using the bundled sample {sample_pairs_path()}", file=sys.stderr)
        sets["sample"] = (sample_pairs_path(), None)
    variants: dict[str, list[Any] | None] = {"verified": None, "cosine": []}
    if args.cross_encoder:
        cross = CrossEncoderGuard(args.cross_encoder)
        variants["cross_encoder"] = [*default_guards(), cross]

    report: dict[str, Any] = {"threshold": args.threshold}
    replays = run_sets(
        sets, variants=variants, settings=settings, embedder=embedder, args=args, report=report
    )
    if args.cross_encoder and "qqp" in replays:
        report["cross_encoder"] = cross_encoder_targets(replays, sets, args.target_precision)
    first = next(iter(sets.values()))[0]
    if first.name.endswith((".jsonl", ".jsonl.gz", ".tsv", ".csv")):
        latency = verifier_latency(settings, embedder, first, args.latency_lookups)
        if args.cross_encoder:
            latency.update(cross_encoder_latency(settings, embedder, first, args.cross_encoder))
        report["latency"] = latency
        print("verifier latency: " + ", ".join(f"{k} {v:.4f}" for k, v in latency.items()))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def run_sets(
    sets: dict[str, tuple[Path, int | None]],
    *,
    variants: dict[str, list[Any] | None],
    settings: Settings,
    embedder: Any,
    args: argparse.Namespace,
    report: dict[str, Any],
) -> dict[str, dict[str, Replay]]:
    """Replay every set under every variant (guards), print one line per set, fill ``report``."""
    replays: dict[str, dict[str, Replay]] = {}
    for name, (path, limit) in sets.items():
        if isinstance(embedder, PersistentEmbedder):
            if path.name.endswith(".json"):
                from semcached.quality.pairs import load_paraphrase_sets

                texts = [t for pair in load_paraphrase_sets(path) for t in pair]
            else:
                texts = [t for p in load_pairs(path, limit=limit) for t in (p.a, p.b)]
            embedder.warm(texts)
        body: dict[str, Any] = {}
        replays[name] = {}
        for key, guards in variants.items():
            r = replay(path, settings, embedder, verify=guards is None or bool(guards),
                       limit=limit, floor=args.floor, guards=guards)  # fmt: skip
            replays[name][key] = r
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
    return replays


def cross_encoder_targets(
    replays: dict[str, dict[str, Replay]],
    sets: dict[str, tuple[Path, int | None]],
    target: float,
) -> dict[str, Any]:
    """Calibrate threshold and minimum score on half of the Quora pairs, report the other half
    and the other sets at that point, with the cosine-only point of equal hit rate beside it."""
    path, limit = sets["qqp"]
    calibration, test = split_replay(replays["qqp"]["cross_encoder"], path, limit)
    point = choose_operating_point(calibration, target)
    if point is None:
        print(
            f"cross-encoder: no operating point reaches precision {target} on the calibration half"
        )
        return {"calibration_pairs": len(calibration.outcomes), "point": None}
    out: dict[str, Any] = {
        "calibration_pairs": len(calibration.outcomes),
        "test_pairs": len(test.outcomes),
        "point": point.to_dict(),
    }
    print(f"cross-encoder, calibrated on {len(calibration.outcomes)} unseen Quora pairs: "
          f"{point.describe()}")  # fmt: skip
    measured = {"qqp (test half)": test} | {
        name: runs["cross_encoder"] for name, runs in replays.items() if name != "qqp"
    }
    for name, r in measured.items():
        m = metrics_at(r, point.threshold, min_score=point.min_score)
        out[name] = m.to_dict()
        print(
            f"{name:>16} @ threshold {point.threshold:.3f}, score >= {point.min_score:g}: hit "
            f"{m.hit_rate:.1%}, false-hit {m.false_hit_rate:.1%}, precision {m.precision:.3f} "
            f"{[round(x, 4) for x in m.precision_interval()]}"
        )
    return out


def cross_encoder_latency(
    settings: Settings, embedder: Any, path: Path, model: Path, n: int = 300
) -> dict[str, float]:
    """Median time the cross-encoder adds to a lookup that reaches it (one candidate scored,
    no memo), on the same lookups as :func:`verifier_latency`."""
    pairs = load_pairs(path, limit=n)
    cross = CrossEncoderGuard(model, min_score=0.0, memo_size=0)
    times = []
    for p in pairs:
        start = time.perf_counter()
        cross.score(p.b, p.a)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "cross_encoder_median_ms": statistics.median(times),
        "cross_encoder_p99_ms": sorted(times)[int(0.99 * (len(times) - 1))],
    }


if __name__ == "__main__":
    raise SystemExit(main())
