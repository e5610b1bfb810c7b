"""Scaled out: two stateless service replicas on one Redis and one Chroma server share a cache."""

from __future__ import annotations

import os

import httpx
import pytest

from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.engine.cache import SemanticCache
from semcached.index import ChromaBackend, RedisExactStore
from semcached.service.app import create_app
from tests.servicekit import Service, chat, drop_redis_prefix, service_settings
from tests.upstream import Upstream, serving

pytestmark = [pytest.mark.model, pytest.mark.redis, pytest.mark.chroma_server]


def test_a_miss_on_one_replica_is_a_hit_on_the_other(
    service: Service,
    upstream: Upstream,
    st_embedder: SentenceTransformerEmbedder,
    redis_url: str,
    chroma_url: str,
    ns: str,
) -> None:
    prefix = f"semcached-test-{os.getpid()}-replicas"
    caches = [
        SemanticCache(
            embedder=CachedEmbedder(st_embedder),
            exact_store=RedisExactStore(redis_url, key_prefix=prefix, timeout_s=2.0),
            vector_backend=ChromaBackend(url=chroma_url),
        )
        for _ in range(2)
    ]
    settings = service_settings(service.settings.upstream_url)
    headers = {"X-Semcached-Namespace": ns}
    try:
        with (
            serving(create_app(settings, cache=caches[0])) as one,
            serving(create_app(settings, cache=caches[1])) as two,
        ):
            url = "/v1/chat/completions"
            first = httpx.post(
                one.url + url, json=chat("How do I reset my password?"), headers=headers
            )
            exact = httpx.post(
                two.url + url, json=chat("How do I reset my password?"), headers=headers
            )
            semantic = httpx.post(
                two.url + url, json=chat("How can I reset my password?"), headers=headers
            )
            ready = httpx.get(two.url + "/readyz").json()
    finally:
        caches[0].invalidate(ns)
        for cache in caches:
            cache.close()
        drop_redis_prefix(redis_url, prefix)
    assert first.headers["X-Semcached-Cache"] == "miss"
    assert exact.headers["X-Semcached-Cache"] == "exact"
    assert semantic.headers["X-Semcached-Cache"] == "semantic"
    assert exact.json() == semantic.json() == first.json()
    assert upstream.count == 1
    assert ready["status"] == "ready"
