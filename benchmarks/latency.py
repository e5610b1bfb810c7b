"""In-process lookup latency: exact hit, semantic hit and semantic miss (median, p95).

Rerun with:

    .venv/bin/python benchmarks/latency.py                    # embedded defaults
    .venv/bin/python benchmarks/latency.py --redis redis://127.0.0.1:6379/0

Each semantic lookup embeds a *new* text (a counter is appended), so the text-to-vector cache
never hides the model's cost; the exact hits repeat stored requests. Timings are wall-clock on
a shared machine: read medians and ratios from one run, not absolute promises.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from semcached import SemanticCache, factory
from semcached.index import ChromaBackend, ExactStore, MemoryExactStore, RedisExactStore
from semcached.settings import Settings

QUESTIONS = [
    "How do I reset my password?",
    "How do I delete my account?",
    "Where is my invoice?",
    "How do I change my shipping address?",
    "Can I get a refund?",
    "Do you ship to Canada?",
    "How do I update my billing information?",
    "What are your opening hours?",
]
PARAPHRASES = [
    "How can I reset my password?",
    "How can I delete my account?",
    "Where can I find my invoice?",
    "How can I change my shipping address?",
    "Can I get a refund, please?",
    "Do you deliver to Canada?",
    "How can I update my billing information?",
    "What are your opening hours, please?",
]


def ask(question: str) -> dict[str, Any]:
    return {"model": "bench", "temperature": 0, "messages": [{"role": "user", "content": question}]}


def measure(fn: Callable[[int], object], n: int) -> list[float]:
    fn(0)  # warm-up
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=300, help="lookups per case")
    parser.add_argument("--redis", help="Redis URL for the exact layer (default: in-process)")
    parser.add_argument(
        "--backend", choices=["onnx", "torch"], default="onnx", help="embedding backend"
    )
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    settings = settings.model_copy(
        update={"embedding": settings.embedding.model_copy(update={"backend": args.backend})}
    )

    store: ExactStore = (
        RedisExactStore(args.redis, key_prefix=f"bench-{time.time_ns()}")
        if args.redis
        else MemoryExactStore()
    )
    with tempfile.TemporaryDirectory() as tmp:
        cache = SemanticCache(
            embedder=factory.build_embedder(settings),  # the service's own pipeline
            exact_store=store,
            vector_backend=ChromaBackend(path=Path(tmp) / "chroma"),
            namespace="bench",
        )
        for i, question in enumerate(QUESTIONS):
            cache.store(ask(question), {"answer": i})
        for i in range(200):  # some unrelated entries so the index is not trivially small
            cache.store(ask(f"Unrelated stored question number {i} about topic {i * 7}"), {"i": i})

        def exact(i: int) -> None:
            assert cache.lookup(ask(QUESTIONS[i % len(QUESTIONS)])).kind == "exact"

        def semantic_hit(i: int) -> None:
            # A trailing counter makes each text new (no embedding-cache help) yet close enough.
            text = f"{PARAPHRASES[i % len(PARAPHRASES)]} {i}"
            cache.lookup(ask(text), threshold=0.8)

        def semantic_miss(i: int) -> None:
            assert not cache.lookup(ask(f"Completely different question {i} on astronomy")).hit

        rows = [
            ("exact hit", measure(exact, args.n)),
            ("semantic lookup (hit)", measure(semantic_hit, args.n)),
            ("semantic lookup (miss)", measure(semantic_miss, args.n)),
        ]
        stages = cache.stats.stages()
        cache.invalidate()
    backend = "Redis" if args.redis else "in-process"
    print(f"\nexact store: {backend}; embedded ChromaDB; {args.n} lookups per case\n")
    print(f"{'case':<26}{'median ms':>12}{'p95 ms':>10}")
    for name, samples in rows:
        median, p95 = summary(samples)
        print(f"{name:<26}{median:>12.3f}{p95:>10.3f}")
    print(
        "\nmean per stage (ms): "
        + ", ".join(f"{name} {s.mean_ms:.3f}" for name, s in sorted(stages.items()))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
