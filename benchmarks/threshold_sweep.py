"""Sweep the cosine threshold over labelled pairs: hit rate, false-hit rate, precision.

How the default threshold was chosen. Rerun with:

    .venv/bin/python benchmarks/threshold_sweep.py --data ../shared/data

Without ``--data`` (or when the folder is absent) it runs on semcached's own hand-written
sample. Pair sets: Quora question pairs (``qqp/pairs.jsonl.gz``), PAWS (``paws/dev.tsv``,
adversarial non-paraphrases) and GPTCache's mock set (``gptcache_mock/mock_data.json``,
replayed as a retrieval test: store every origin, look up every paraphrase; a hit on another
origin is a wrong hit).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from semcached.embeddings import SentenceTransformerEmbedder
from semcached.quality.pairs import Pair, load_pairs, load_paraphrase_sets, sample_pairs_path

THRESHOLDS = [round(t, 2) for t in np.arange(0.80, 1.0001, 0.01)]


def pair_similarities(embedder: SentenceTransformerEmbedder, pairs: list[Pair]) -> np.ndarray:
    a = embedder.embed([p.a for p in pairs])
    b = embedder.embed([p.b for p in pairs])
    return np.einsum("ij,ij->i", a, b)


def pair_table(sims: np.ndarray, labels: np.ndarray) -> list[dict[str, float]]:
    rows = []
    positives, negatives = int(labels.sum()), int((1 - labels).sum())
    for t in THRESHOLDS:
        hit = sims >= t
        tp, fp = int((hit & (labels == 1)).sum()), int((hit & (labels == 0)).sum())
        rows.append(
            {
                "threshold": t,
                "hit_rate_dup": tp / positives if positives else 0.0,
                "false_hit_rate_nondup": fp / negatives if negatives else 0.0,
                "precision": tp / (tp + fp) if tp + fp else 1.0,
            }
        )
    return rows


def retrieval_table(
    embedder: SentenceTransformerEmbedder, sets: list[tuple[str, str]]
) -> list[dict[str, float]]:
    stored = embedder.embed([origin for origin, _ in sets])
    queries = embedder.embed([similar for _, similar in sets])
    sims = queries @ stored.T
    best = sims.argmax(axis=1)
    best_sim = sims[np.arange(len(sets)), best]
    correct = best == np.arange(len(sets))
    rows = []
    for t in THRESHOLDS:
        hit = best_sim >= t
        rows.append(
            {
                "threshold": t,
                "hit_rate": float((hit & correct).mean()),
                "wrong_hit_rate": float((hit & ~correct).mean()),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="folder with qqp/, paws/, gptcache_mock/")
    parser.add_argument(
        "--qqp-limit",
        type=int,
        default=20_000,
        help="first N Quora pairs (embedding all 71,812 takes minutes)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()

    embedder = SentenceTransformerEmbedder()
    report: dict[str, object] = {"model_id": embedder.model_id}
    sets: dict[str, list[Pair]] = {}
    if args.data and args.data.is_dir():
        sets["qqp"] = load_pairs(args.data / "qqp" / "pairs.jsonl.gz", limit=args.qqp_limit)
        sets["paws"] = load_pairs(args.data / "paws" / "dev.tsv")
        mock = args.data / "gptcache_mock" / "mock_data.json"
    else:
        print(f"no --data folder; using the bundled sample {sample_pairs_path()}", file=sys.stderr)
        sets["sample"] = load_pairs(sample_pairs_path())
        mock = None
    for name, pairs in sets.items():
        start = time.perf_counter()
        sims = pair_similarities(embedder, pairs)
        labels = np.array([p.label for p in pairs])
        report[name] = {
            "pairs": len(pairs),
            "positives": int(labels.sum()),
            "embed_s": round(time.perf_counter() - start, 1),
            "table": pair_table(sims, labels),
        }
    if mock is not None and mock.exists():
        report["gptcache_mock"] = {"table": retrieval_table(embedder, load_paraphrase_sets(mock))}

    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, body in report.items():
        if not isinstance(body, dict):
            continue
        print(f"\n== {name} " + " ".join(f"{k}={v}" for k, v in body.items() if k != "table"))
        table = body["table"]
        columns = list(table[0])
        print("  ".join(f"{c:>22}" for c in columns))
        for row in table:
            print("  ".join(f"{row[c]:>22.4f}" for c in columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
