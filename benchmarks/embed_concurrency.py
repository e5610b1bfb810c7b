"""Concurrent single-text embeds with and without the micro-batcher (throughput, latency).

Rerun with:  .venv/bin/python benchmarks/embed_concurrency.py --threads 16 --per-thread 20

It models a service's worker threads each embedding one new prompt per request. Both
variants run in the same process, one after the other; compare their ratio, not the absolutes.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

from semcached.embeddings import Embedder, MicroBatchingEmbedder, SentenceTransformerEmbedder


def run(embedder: Embedder, threads: int, per_thread: int, tag: str) -> tuple[float, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            start = time.perf_counter()
            embedder.embed([f"{tag} request {t}-{i}: how do I reset my password on device {i}?"])
            with lock:
                latencies.append((time.perf_counter() - start) * 1000)

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    return threads * per_thread / elapsed, statistics.median(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--per-thread", type=int, default=20)
    args = parser.parse_args()
    model = SentenceTransformerEmbedder()
    model.embed(["warm-up"])
    plain = run(model, args.threads, args.per_thread, "plain")
    batched_embedder = MicroBatchingEmbedder(model)
    batched = run(batched_embedder, args.threads, args.per_thread, "batched")
    print(f"\n{args.threads} threads x {args.per_thread} single-text embeds\n")
    print(f"{'variant':<16}{'texts/s':>10}{'median ms':>12}")
    print(f"{'model lock':<16}{plain[0]:>10.1f}{plain[1]:>12.2f}")
    print(f"{'micro-batched':<16}{batched[0]:>10.1f}{batched[1]:>12.2f}")
    print(
        f"\nthroughput ratio {batched[0] / plain[0]:.2f}x; "
        f"{batched_embedder.requests} requests in {batched_embedder.batches} model calls"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
