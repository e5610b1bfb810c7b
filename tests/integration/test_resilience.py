"""Fail open: Redis or ChromaDB dying mid-run never fails a call, and the cache recovers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from semcached import SemanticCache
from semcached.embeddings import Embedder
from semcached.index import ChromaBackend, MemoryExactStore, RedisExactStore
from tests.helpers import PASSWORD, Provider, ask
from tests.servers import RedisProcess, chroma_server


def test_redis_stopped_mid_run_without_a_failed_call(
    embedder: Embedder, redis_process: RedisProcess, chroma_backend: ChromaBackend
) -> None:
    store = RedisExactStore(
        redis_process.url, key_prefix="resilience", timeout_s=0.2, retry_after_s=0.2
    )
    cache = SemanticCache(embedder=embedder, exact_store=store, vector_backend=chroma_backend)
    provider = Provider()
    assert cache.get_or_call(ask(PASSWORD), provider).source == "provider"
    assert cache.get_or_call(ask(PASSWORD), provider).source == "exact"

    redis_process.stop()
    questions = ["How do I delete my account?", "Where is my invoice?", PASSWORD]
    results = [cache.get_or_call(ask(q), provider) for q in questions]
    # Every call succeeded; the answer stored before the outage is still served from the
    # vector index (which carries the response), new questions went to the provider.
    assert [r.source for r in results] == ["provider", "provider", "exact"]
    assert "exact_store" in results[0].lookup.failed_backends
    counters = cache.stats.counters()
    assert counters["errors.exact_store"] >= 1
    assert "failed open: exact_store" in results[0].lookup.explain()

    redis_process.start()
    time.sleep(0.3)  # past retry_after_s: the breaker lets the next command probe Redis
    cache.store(ask("Is Redis back?"), {"answer": "yes"})
    raw = store.get("default", cache.canonicalize(ask("Is Redis back?")).exact_key)
    assert raw is not None and json.loads(raw)["response"] == {"answer": "yes"}
    before = cache.stats.counters().get("errors.exact_store", 0)
    assert cache.get_or_call(ask("Is Redis back?"), provider).source == "exact"
    assert cache.stats.counters().get("errors.exact_store", 0) == before
    store.close()


def test_chroma_server_stopped_mid_run_without_a_failed_call(
    embedder: Embedder, tmp_path: Path
) -> None:
    with chroma_server(tmp_path) as url:
        cache = SemanticCache(
            embedder=embedder, exact_store=MemoryExactStore(), vector_backend=ChromaBackend(url=url)
        )
        provider = Provider()
        cache.get_or_call(ask(PASSWORD), provider)
        assert cache.get_or_call(ask("How can I reset my password?"), provider).source == (
            "semantic"
        )
    with pytest.raises(httpx.ConnectError):  # the server is really gone
        httpx.get(f"{url}/api/v2/heartbeat", timeout=2.0)
    # The server is gone: semantic lookups and vector writes fail open.
    result = cache.get_or_call(ask("How can I reset my password, please?"), provider)
    assert result.source == "provider"
    assert "vector_index" in result.lookup.failed_backends
    assert not result.stored
    # The exact layer still answers what it holds.
    assert cache.get_or_call(ask(PASSWORD), provider).source == "exact"
    counters: dict[str, Any] = cache.stats.counters()
    assert counters["errors.vector_index"] >= 2
