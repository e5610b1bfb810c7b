"""Counters and per-stage latency histograms, kept in memory (never on the vector store)."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter

__all__ = ["LATENCY_BUCKETS_S", "CacheStats", "StageSummary"]

# Prometheus-style upper bounds, in seconds: sub-millisecond exact hits up to slow providers.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


@dataclass(frozen=True, slots=True)
class StageSummary:
    """Latency of one stage: count, total seconds and cumulative histogram buckets."""

    count: int
    sum_s: float
    buckets: tuple[tuple[float, int], ...]

    @property
    def mean_ms(self) -> float:
        return 0.0 if self.count == 0 else 1000 * self.sum_s / self.count


class _Histogram:
    __slots__ = ("counts", "sum_s", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self.sum_s = 0.0
        self.total = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS_S, seconds)] += 1
        self.sum_s += seconds
        self.total += 1

    def summary(self) -> StageSummary:
        cumulative, running = [], 0
        for bound, count in zip(LATENCY_BUCKETS_S, self.counts, strict=False):
            running += count
            cumulative.append((bound, running))
        return StageSummary(self.total, self.sum_s, tuple(cumulative))


class CacheStats:
    """Thread-safe counters (hits by kind, misses, errors by backend) and stage timings.

    Counter names: ``hits.exact``, ``hits.semantic``, ``misses``, ``misses.<reason>``,
    ``errors.<backend>``, ``provider.calls``, ``provider.errors``, ``provider.coalesced``,
    ``stores``, ``store.skipped``, ``rejections.<guard>``, ``evictions``, ``expired``.
    """

    def __init__(self) -> None:
        self._counters: Counter[str] = Counter()
        self._stages: dict[str, _Histogram] = {}
        self._lock = threading.Lock()

    def incr(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counters[name] += by

    def observe(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._stages.setdefault(stage, _Histogram()).observe(seconds)

    @contextmanager
    def counted(self, name: str) -> Iterator[None]:
        """Count a call as ``<name>.calls`` (and ``<name>.errors`` if it raises); time it."""
        self.incr(f"{name}.calls")
        start = perf_counter()
        try:
            yield
        except BaseException:
            self.incr(f"{name}.errors")
            raise
        finally:
            self.observe(name, perf_counter() - start)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def stages(self) -> dict[str, StageSummary]:
        with self._lock:
            return {name: h.summary() for name, h in self._stages.items()}

    def snapshot(self) -> dict[str, object]:
        """A JSON-friendly view: counters, hit rate and mean milliseconds per stage."""
        counters = self.counters()
        hits = counters.get("hits.exact", 0) + counters.get("hits.semantic", 0)
        lookups = hits + counters.get("misses", 0)
        return {
            "counters": counters,
            "lookups": lookups,
            "hit_rate": 0.0 if lookups == 0 else hits / lookups,
            "stages_ms": {
                name: {"count": s.count, "mean_ms": round(s.mean_ms, 4)}
                for name, s in self.stages().items()
            },
        }
