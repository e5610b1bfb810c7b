"""In-process lookup latency: exact hit, semantic hit and semantic miss (median, p95).

Rerun with:

    .venv/bin/python benchmarks/latency.py                    # embedded defaults
    .venv/bin/python benchmarks/latency.py --redis redis://127.0.0.1:6379/0

``miss + store`` is what a miss adds to the provider's call on the caller's path (lookup,
then storing the answer; the provider here answers at once), with vector writes off the path
(the default: journaled, written by a background thread) and, in the same run for reference,
written before the store returns.

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


def measure_once(fn: Callable[[int], object], i: int) -> list[float]:
    start = time.perf_counter()
    fn(i)
    return [(time.perf_counter() - start) * 1000]


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
        embedder = factory.build_embedder(settings)  # the service's own pipeline
        backend = ChromaBackend(path=Path(tmp) / "chroma")
        cache = SemanticCache(
            settings.model_copy(update={"data_dir": Path(tmp)}),
            embedder=embedder,
            exact_store=store,
            vector_backend=backend,
            namespace="bench",
        )
        synchronous = SemanticCache(
            embedder=embedder,
            exact_store=MemoryExactStore(),
            vector_backend=backend,
            namespace="bench-sync",
            write_behind=False,
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

        def miss_and_store(target: SemanticCache, label: str) -> Callable[[int], object]:
            def run(i: int) -> None:
                text = f"A new question {i} about {label} number {i * 13} and nothing else"
                result = target.get_or_call(ask(text), lambda: {"answer": i})
                assert result.source == "provider"
                assert result.stored

            return run

        rows = [
            ("exact hit", measure(exact, args.n)),
            ("semantic lookup (hit)", measure(semantic_hit, args.n)),
            ("semantic lookup (miss)", measure(semantic_miss, args.n)),
        ]
        behind, direct = [], []
        for i in range(args.n):  # interleaved, so noise hits both alike
            behind += measure_once(miss_and_store(cache, "geology"), i)
            cache.semantic.settle()  # untimed: its background write never overlaps the other
            direct += measure_once(miss_and_store(synchronous, "botany"), i)
        rows += [
            ("miss + store (behind)", behind),
            ("miss + store (sync)", direct),
        ]
        stages = cache.stats.stages()
        sync_stages = synchronous.stats.stages()
        cache.invalidate()
        synchronous.invalidate()
        cache.close()
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
    write = sync_stages.get("vector_write")
    if write is not None:
        print(f"synchronous vector write, mean: {write.mean_ms:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
