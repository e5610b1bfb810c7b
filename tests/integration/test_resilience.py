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
from semcached.errors import VectorIndexError
from semcached.index import ChromaBackend, MemoryExactStore, RedisExactStore
from tests.helpers import PASSWORD, Provider, ask
from tests.servers import CHROMA_PIDS, RedisProcess, chroma_server, free_port


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


def test_a_chroma_server_down_at_start_is_connected_to_when_it_returns(
    embedder: Embedder, tmp_path: Path
) -> None:
    """Start-up tolerates a Chroma server that is down: lookups fail open meanwhile, and the
    cache connects once the server answers (no restart)."""
    port = free_port()
    backend = ChromaBackend(url=f"http://user:s3cret@127.0.0.1:{port}", timeout_s=2)
    assert "s3cret" not in backend.location and "user:***@" in backend.location
    cache = SemanticCache(embedder=embedder, exact_store=MemoryExactStore(), vector_backend=backend)
    provider = Provider()
    first = cache.get_or_call(ask(PASSWORD), provider)
    assert first.source == "provider" and "vector_index" in first.lookup.failed_backends
    with pytest.raises(VectorIndexError) as failure:
        backend.heartbeat()
    assert "s3cret" not in str(failure.value)
    with chroma_server(tmp_path, port=port):
        cache.get_or_call(ask("How do I delete my account?"), provider)
        reworded = cache.get_or_call(ask("How can I delete my account?"), provider)
        assert reworded.source == "semantic"


def test_a_hung_chroma_server_costs_a_bounded_wait_and_the_exact_layer_still_answers(
    embedder: Embedder, tmp_path: Path
) -> None:
    """SIGSTOP: ChromaDB's own client would wait forever; ours gives up at its timeout, the
    lookup fails open, and exact hits are still served."""
    import os
    import signal
    import threading

    with chroma_server(tmp_path) as url:
        backend = ChromaBackend(url=url, timeout_s=1.0)
        cache = SemanticCache(
            embedder=embedder, exact_store=MemoryExactStore(), vector_backend=backend
        )
        provider = Provider()
        cache.get_or_call(ask(PASSWORD), provider)
        os.kill(CHROMA_PIDS[url], signal.SIGSTOP)
        try:
            results: list[Any] = []
            worker = threading.Thread(
                target=lambda: results.append(
                    cache.get_or_call(ask("How can I reset my password, please?"), provider)
                ),
                daemon=True,
            )
            worker.start()
            worker.join(timeout=60)  # a bound on a hang, not a timing assertion
            assert not worker.is_alive(), "a lookup hung behind a stopped Chroma server"
            assert results[0].source == "provider"
            assert "vector_index" in results[0].lookup.failed_backends
            assert cache.get_or_call(ask(PASSWORD), provider).source == "exact"
        finally:
            os.kill(CHROMA_PIDS[url], signal.SIGCONT)


def test_a_hung_redis_costs_its_timeout_and_the_cache_still_answers(
    embedder: Embedder, redis_process: RedisProcess, chroma_backend: ChromaBackend
) -> None:
    """SIGSTOP of Redis: every exact-store command gives up at its timeout, calls succeed
    (stored answers still come from the vector index), and after SIGCONT the exact layer
    serves again."""
    import signal

    store = RedisExactStore(
        redis_process.url, key_prefix="resilience-hung", timeout_s=0.2, retry_after_s=0.2
    )
    cache = SemanticCache(embedder=embedder, exact_store=store, vector_backend=chroma_backend)
    provider = Provider()
    assert cache.get_or_call(ask(PASSWORD), provider).source == "provider"
    assert redis_process.process is not None
    redis_process.process.send_signal(signal.SIGSTOP)
    try:
        results = [
            cache.get_or_call(ask(q), provider)
            for q in (PASSWORD, "How can I reset my password?", "Where is my invoice?")
        ]
        assert [r.source for r in results] == ["exact", "semantic", "provider"]
        assert all("exact_store" in r.lookup.failed_backends for r in results)
        assert cache.stats.counters()["errors.exact_store"] >= 1
    finally:
        redis_process.process.send_signal(signal.SIGCONT)
    try:
        time.sleep(0.3)  # past retry_after_s
        cache.store(ask("Is Redis awake?"), {"answer": "yes"})
        raw = store.get("default", cache.canonicalize(ask("Is Redis awake?")).exact_key)
        assert raw is not None  # written to Redis itself, not only to the vector index
        before = cache.stats.counters()["errors.exact_store"]
        served = cache.get_or_call(ask("Is Redis awake?"), provider)
        assert served.source == "exact" and "embed" not in served.lookup.timings_ms  # Redis'
        assert cache.stats.counters()["errors.exact_store"] == before
    finally:
        store.close()
