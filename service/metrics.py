"""Prometheus metrics for ``GET /metrics``.

Two sources, one registry per app (so several apps in one process never collide):

* the engine's :class:`~semcached.engine.CacheStats`, read at scrape time by a custom collector:
  hits by kind, misses by reason, false-hit reports, backend errors, provider calls, and a
  latency histogram per stage (exact, embed, vector, decide, provider, writes);
* the service's own counters: upstream outcomes and errors, responses by cache outcome,
  namespace, model and endpoint, tokens saved by hits (by namespace and model too), and HTTP
  request latency per route.

Namespace and model labels are bounded (:class:`BoundedLabel`): the first 50 distinct values
get their own series, later ones count as ``other``, so a tenant inventing namespaces cannot
grow the scrape without end. Counters export no ``_created`` series.

Example::

    metrics = ServiceMetrics(cache.stats)
    metrics.count_response("semantic", namespace="support", model="gpt-4o-mini")
    body = metrics.render()          # Prometheus text exposition
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from semcached.engine.stats import LATENCY_BUCKETS_S, CacheStats

__all__ = [
    "CONTENT_TYPE",
    "OTHER",
    "BoundedLabel",
    "CacheStatsCollector",
    "ServiceMetrics",
    "usage_tokens",
]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class CacheStatsCollector(Collector):
    """Exposes a :class:`CacheStats` as Prometheus metrics, computed at scrape time."""

    def __init__(self, stats: CacheStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        counters = self.stats.counters()
        hits = CounterMetricFamily(
            "semcached_cache_hits", "Cache hits by kind (exact or semantic).", labels=["kind"]
        )
        for kind in ("exact", "semantic"):
            hits.add_metric([kind], counters.get(f"hits.{kind}", 0))
        yield hits
        yield CounterMetricFamily(
            "semcached_cache_misses", "Cache misses.", value=counters.get("misses", 0)
        )
        reasons = CounterMetricFamily(
            "semcached_cache_miss_reasons", "Cache misses by reason.", labels=["reason"]
        )
        errors = CounterMetricFamily(
            "semcached_backend_errors",
            "Backend failures the engine failed open on, by backend.",
            labels=["backend"],
        )
        rejections = CounterMetricFamily(
            "semcached_guard_rejections", "Candidates vetoed by a guard.", labels=["guard"]
        )
        for name, value in sorted(counters.items()):
            prefix, _, rest = name.partition(".")
            if prefix == "misses" and rest:
                reasons.add_metric([rest], value)
            elif prefix == "errors" and rest:
                errors.add_metric([rest], value)
            elif prefix == "rejections" and rest:
                rejections.add_metric([rest], value)
        yield reasons
        yield errors
        yield rejections
        yield CounterMetricFamily(
            "semcached_false_hit_reports",
            "Hits reported wrong by callers (POST /v1/cache/feedback with correct=false).",
            value=counters.get("feedback.wrong", 0),
        )
        yield CounterMetricFamily(
            "semcached_correct_hit_reports",
            "Hits reported correct by callers.",
            value=counters.get("feedback.correct", 0),
        )
        for metric, key, doc in (
            ("semcached_provider_calls", "provider.calls", "Calls made to the provider."),
            ("semcached_provider_errors", "provider.errors", "Provider calls that raised."),
            (
                "semcached_provider_coalesced",
                "provider.coalesced",
                "Requests that waited for an identical in-flight call instead of calling.",
            ),
            ("semcached_stores", "stores", "Answers stored in both layers."),
            ("semcached_store_failures", "store.failed", "Stores a backend failed."),
            ("semcached_evictions", "evictions", "Entries evicted by the size bound."),
        ):
            yield CounterMetricFamily(metric, doc, value=counters.get(key, 0))
        stages = HistogramMetricFamily(
            "semcached_stage_latency_seconds",
            "Latency of each engine stage (exact, embed, vector, decide, provider, writes).",
            labels=["stage"],
        )
        for stage, summary in sorted(self.stats.stages().items()):
            buckets: list[tuple[str, float]] = [
                (_bound(bound), float(count)) for bound, count in summary.buckets
            ]
            buckets.append(("+Inf", float(summary.count)))
            stages.add_metric([stage], buckets, sum_value=summary.sum_s)
        yield stages


def _bound(value: float) -> str:
    return repr(float(value))


disable_created_metrics()  # type: ignore[no-untyped-call]  # one series per counter, no `_created`

OTHER = "other"


class BoundedLabel:
    """A label's values, bounded: the first ``limit`` distinct ones are kept, the rest are
    ``other`` (thread-safe)."""

    def __init__(self, limit: int = 50) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return "none"
        if value in self._seen:
            return value
        with self._lock:
            if value in self._seen or len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


class ServiceMetrics:
    """The service's registry: the engine's stats plus upstream, proxy and HTTP metrics."""

    def __init__(self, stats: CacheStats) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(CacheStatsCollector(stats))
        self.upstream_requests = Counter(
            "semcached_upstream_requests",
            "Requests forwarded to the upstream provider, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.upstream_errors = Counter(
            "semcached_upstream_errors",
            "Upstream failures (HTTP error status, unreachable, timeout, stream cut), by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.namespaces = BoundedLabel()
        self.models = BoundedLabel()
        self.proxy_responses = Counter(
            "semcached_proxy_responses",
            "Responses of the cached provider routes by cache outcome, namespace, model and "
            "endpoint (namespace and model: the first 50 values, then `other`).",
            ["cache", "namespace", "model", "endpoint"],
            registry=self.registry,
        )
        self.backend_up = Gauge(
            "semcached_backend_up",
            "Whether each backend answered the last readiness probe (1) or not (0).",
            ["backend"],
            registry=self.registry,
        )
        self.passthrough_requests = Counter(
            "semcached_passthrough_requests",
            "Requests relayed to the upstream as they are (routes the cache does not handle).",
            ["method"],
            registry=self.registry,
        )
        self.tokens_saved = Counter(
            "semcached_tokens_saved",
            "Provider tokens (usage.total_tokens of the cached answer) not spent thanks to hits.",
            ["kind", "namespace", "model"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "semcached_http_request_duration_seconds",
            "HTTP request latency by route template, method and status class.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )

    def count_response(
        self,
        cache: str,
        *,
        namespace: str | None = None,
        model: str | None = None,
        endpoint: str = "chat",
    ) -> None:
        """One response of a cached provider route."""
        self.proxy_responses.labels(
            cache=cache, namespace=self.namespaces(namespace), model=self.models(model),
            endpoint=endpoint,
        ).inc()  # fmt: skip

    def record_tokens_saved(
        self, kind: str, response: Any, *, namespace: str | None = None, model: str | None = None
    ) -> int:
        """Count the tokens a cached answer saved; returns how many."""
        tokens = usage_tokens(response)
        if tokens:
            self.tokens_saved.labels(
                kind=kind, namespace=self.namespaces(namespace), model=self.models(model)
            ).inc(tokens)
        return tokens

    def render(self) -> bytes:
        return generate_latest(self.registry)


def usage_tokens(response: Any) -> int:
    """``usage.total_tokens`` of an OpenAI answer, or of a recorded stream's last usage chunk."""
    if not isinstance(response, dict):
        return 0
    usage = response.get("usage")
    if isinstance(usage, dict):
        total = usage.get("total_tokens")
        if isinstance(total, int) and not isinstance(total, bool) and total > 0:
            return total
        parts = [usage.get("input_tokens"), usage.get("output_tokens")]  # Anthropic's usage
        counted = [p for p in parts if isinstance(p, int) and not isinstance(p, bool)]
        if counted and sum(counted) > 0:
            return sum(counted)
    events = response.get("events")
    if isinstance(events, list):
        from semcached.service.sse import event_usage_tokens

        return event_usage_tokens(events)
    return 0
