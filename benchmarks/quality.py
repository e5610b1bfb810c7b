"""Hit quality of the real cache at its default policy, on semcached's dev sets and the public
pair sets, and what the verifier costs a lookup.

Every set is replayed through the real cache (:mod:`semcached.quality.replay`: canonical keys,
scope, segments, rules, the packaged pair model), on in-memory stores:

* ``short``: semcached's hand-written short LLM-app prompts (``benchmarks/data/short_dev_*``):
  near misses that must miss, rewordings that should hit;
* ``long``: prompts over 256 tokens (``benchmarks/data/long_sources_dev.json``): RAG templates
  and document tasks, the same document with another task or a late edit, reworded tasks;
* with ``--data``: the held-out halves of PAWS dev (adversarial pairs) and of GPTCache's mock
  set (retrieval: every origin stored, every paraphrase looked up), and the Quora pairs
  (measured, never trained on).

The pair model was trained on none of these (the dev sets, the held-out halves and Quora;
``semcached/data/verifier/manifest.json`` says what it was trained on). Rerun::

    .venv/bin/python benchmarks/quality.py --data ../shared/data \
        --embedding-cache /tmp/semcached-emb

``--json`` prints the figures for machines; ``--min-score`` and ``--threshold`` replay another
operating point; ``--skip-qqp`` leaves out the slowest set.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # tiny products: BLAS threads only fight
os.environ.setdefault("OMP_NUM_THREADS", "1")

from semcached import factory
from semcached.embeddings.store import PersistentEmbedder
from semcached.quality.metrics import Replay, metrics_at, served_at
from semcached.quality.pairs import Pair
from semcached.quality.replay import (
    build_replay_cache,
    evaluate_path,
    replay_pairs,
    replay_retrieval,
)
from semcached.quality.verifier_data import gptcache_held_out, judged_pair, paws_held_out
from semcached.settings import Settings

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "data"


def dev_short() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted(DATA.glob("short_dev_*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return rows


def dev_long() -> list[dict[str, Any]]:
    sys.path.insert(0, str(ROOT))
    from long_pairs import build_pairs

    sources = json.loads((DATA / "long_sources_dev.json").read_text(encoding="utf-8"))
    return list(build_pairs(sources, seed=0))


def by_kind(
    rows: list[dict[str, Any]], replay: Replay, threshold: float, min_score: float | None
) -> dict[str, str]:
    served: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    for row, outcome in zip(rows, replay.outcomes, strict=True):
        entry, _ = served_at(replay, outcome, threshold, min_score)
        key = f"{row['label']}:{row.get('kind')}"
        served[key][0] += 1
        served[key][1] += entry is not None
    return {k: f"{v[1]}/{v[0]}" for k, v in sorted(served.items())}


def pair_figures(
    name: str, replay: Replay, threshold: float, min_score: float | None
) -> dict[str, Any]:
    m = metrics_at(replay, threshold, min_score=min_score)
    low, high = m.precision_interval()
    return {
        "set": name,
        "pairs": len(replay.outcomes),
        "near_misses": replay.negatives,
        "should_hit": replay.positives,
        "false_hit_rate": round(m.false_hit_rate, 4),
        "hit_rate": round(m.hit_rate, 4),
        "precision": round(m.precision, 4),
        "precision_ci95": [round(low, 4), round(high, 4)],
    }


SWEEP_THRESHOLDS = (0.7, 0.75, 0.8, 0.85, 0.9, 0.94)
SWEEP_SCORES = (0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9)


def sweep(replay: Replay, floor: float) -> dict[str, dict[str, list[float]]]:
    """False-hit (or wrong-hit) and hit rates at each threshold and minimum score, from the
    one replay (exact: every decision follows from the verdicts kept at the floor)."""
    out: dict[str, dict[str, list[float]]] = {}
    for t in SWEEP_THRESHOLDS:
        if t < floor - 1e-9:
            continue
        out[f"{t:g}"] = {}
        for score in SWEEP_SCORES:
            m = metrics_at(replay, t, min_score=score)
            out[f"{t:g}"][f"{score:g}"] = [round(m.false_hit_rate, 4), round(m.hit_rate, 4)]
    return out


def latency(cache: Any, rows: list[dict[str, Any]]) -> dict[str, float]:
    """What the verifier adds to a lookup: its decide stage, median and p99, over lookups that
    each meet a close candidate (the stored side of a dev pair), pair model memo cleared."""
    scorer = cache.verifier.scorer
    ns = "latency"
    decide, total = [], []
    for i, row in enumerate(rows):
        cache.store(_request(row["a"]), {"i": i}, namespace=ns)
        if scorer is not None and hasattr(scorer, "_memo"):
            scorer._memo.clear()
        start = time.perf_counter()
        result = cache.lookup(_request(row["b"]), namespace=ns)
        total.append((time.perf_counter() - start) * 1000)
        decide.append(result.timings_ms.get("decide", 0.0))
        cache.invalidate(ns)
    decide.sort()
    out = {
        "decide_median_ms": round(statistics.median(decide), 3),
        "decide_p99_ms": round(decide[int(0.99 * (len(decide) - 1))], 3),
        "lookup_median_ms": round(statistics.median(total), 3),
        "lookups": len(rows),
    }
    if scorer is not None:  # one pair model call, on what the verifier reads for each pair
        calls: list[float] = []
        for row in rows:
            judged = judged_pair(row["a"], row["b"]) or (row["a"], row["b"])
            if hasattr(scorer, "_memo"):
                scorer._memo.clear()
            start = time.perf_counter()
            scorer.score(*judged)
            calls.append((time.perf_counter() - start) * 1000)
        calls.sort()
        out["pair_model_median_ms"] = round(statistics.median(calls), 3)
        out["pair_model_p99_ms"] = round(calls[int(0.99 * (len(calls) - 1))], 3)
    return out


def _request(text: str) -> dict[str, Any]:
    return {"model": "bench", "temperature": 0, "messages": [{"role": "user", "content": text}]}


def print_report(out: dict[str, Any], threshold: float) -> None:
    print(f"{out['cores']} cores; threshold {threshold}, pair model score >= {out['min_score']}")
    print(
        f"{'set':>9} | {'pairs':>6} | {'false-hit rate':>14} | {'hit rate':>8} | precision (95% CI)"
    )
    for s in out["sets"]:
        low, high = s["precision_ci95"]
        print(
            f"{s['set']:>9} | {s['pairs']:>6} | {s['false_hit_rate']:>14.1%} | "
            f"{s['hit_rate']:>8.1%} | {s['precision']:.3f} ({low:.3f}-{high:.3f})"
        )
        if "by_kind" in s:
            print("          served/total by kind:", json.dumps(s["by_kind"]))
        for t, row in s.get("sweep", {}).items():
            cells = "  ".join(f">={k}: {v[0]:.1%}/{v[1]:.1%}" for k, v in row.items())
            print(f"          threshold {t}: false/hit by score {cells}")
    cost = out["verifier_cost"]
    print(
        f"verifier cost per lookup: decide {cost['decide_median_ms']} ms median, "
        f"{cost['decide_p99_ms']} ms p99 (whole lookup {cost['lookup_median_ms']} ms median, "
        f"{cost['lookups']} lookups)"
    )
    if "pair_model_median_ms" in cost:
        print(
            f"pair model, one call: {cost['pair_model_median_ms']} ms median, "
            f"{cost['pair_model_p99_ms']} ms p99"
        )


def public_replays(
    args: argparse.Namespace, settings: Settings, cache: Any, floor: float
) -> list[tuple[str, Replay]]:
    """PAWS and GPTCache (only the halves build-verifier never trains on, with --paws and
    --gptcache) and the Quora pairs (never trained on)."""
    out: list[tuple[str, Replay]] = []
    paws = paws_held_out(args.data)
    if paws:
        out.append(("paws", replay_pairs(cache, paws, floor=floor)))
    sets = gptcache_held_out(args.data)
    if sets:
        out.append(("gptcache", replay_retrieval(cache, sets, floor=floor)))
    qqp = args.data / "qqp" / "pairs.jsonl.gz"
    if not args.skip_qqp and qqp.exists():
        replay = evaluate_path(qqp, settings, cache=cache, floor=floor, limit=args.qqp_limit)
        out.append(("qqp", replay))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="folder with paws/, gptcache_mock/, qqp/")
    parser.add_argument("--threshold", type=float, help="default: the configured threshold")
    parser.add_argument("--min-score", type=float, help="default: the configured minimum")
    parser.add_argument("--floor", type=float, default=0.5, help="lowest threshold replayed")
    parser.add_argument("--embedding-cache", type=Path, help="keep embeddings on disk")
    parser.add_argument("--skip-qqp", action="store_true")
    parser.add_argument("--qqp-limit", type=int)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--sweep", action="store_true", help="also print each set's threshold x score grid"
    )
    args = parser.parse_args()

    settings = Settings(_env_file=None)
    embedder = factory.build_embedder(settings)
    if args.embedding_cache is not None:
        embedder = PersistentEmbedder(getattr(embedder, "inner", embedder), args.embedding_cache)
    cache = build_replay_cache(settings, embedder=embedder)
    threshold = args.threshold if args.threshold is not None else cache.threshold
    min_score = args.min_score
    out: dict[str, Any] = {
        "cores": os.cpu_count(),
        "threshold": threshold,
        "min_score": min_score if min_score is not None else cache.verifier.min_score,
        "pair_model": getattr(cache.verifier.scorer, "name", None),
        "sets": [],
    }
    for name, rows in (("short", dev_short()), ("long", dev_long())):
        pairs = [Pair(r["a"], r["b"], int(r["label"])) for r in rows]
        replay = replay_pairs(cache, pairs, floor=min(args.floor, threshold))
        figures = pair_figures(name, replay, threshold, min_score)
        figures["by_kind"] = by_kind(rows, replay, threshold, min_score)
        if args.sweep:
            figures["sweep"] = sweep(replay, replay.floor)
        out["sets"].append(figures)
        if name == "short":
            out["verifier_cost"] = latency(cache, rows[:400])
    if args.data is not None and args.data.is_dir():
        for name, replay in public_replays(args, settings, cache, min(args.floor, threshold)):
            out["sets"].append(pair_figures(name, replay, threshold, min_score))
            if args.sweep:
                out["sets"][-1]["sweep"] = sweep(replay, replay.floor)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_report(out, threshold)
    return 0


if __name__ == "__main__":
    with tempfile.TemporaryDirectory():
        sys.exit(main())
