"""Shared fixtures: the real model, real Redis (one key prefix per test), real ChromaDB."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# No config file unless a test sets one: a calibrated .semcached/semcached.json must not leak in.
os.environ.setdefault("SEMCACHED_CONFIG_FILE", "")

from semcached.embeddings import CachedEmbedder, Embedder, SentenceTransformerEmbedder
from semcached.index import ChromaBackend, MemoryExactStore, RedisExactStore
from tests.servers import RedisProcess, chroma_server, find_or_start_redis

# The service fixtures (a real uvicorn server, the fake upstream): see tests/servicekit.py.
pytest_plugins = ["tests.servicekit"]


@pytest.fixture(scope="session")
def st_embedder() -> SentenceTransformerEmbedder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    return SentenceTransformerEmbedder()


@pytest.fixture
def embedder(st_embedder: SentenceTransformerEmbedder) -> Embedder:
    """The real model behind a fresh text-to-vector cache."""
    return CachedEmbedder(st_embedder)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url, process = find_or_start_redis()
    yield url
    if process is not None:
        process.stop()


@pytest.fixture
def key_prefix(request: pytest.FixtureRequest, redis_url: str) -> Iterator[str]:
    """A Redis key prefix unique to this test (from its node id); its keys are removed after."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.nodeid)[-80:]
    prefix = f"semcached-test-{os.getpid()}-{slug}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.unlink(*keys)
    client.close()


@pytest.fixture
def redis_store(redis_url: str, key_prefix: str) -> Iterator[RedisExactStore]:
    store = RedisExactStore(redis_url, key_prefix=key_prefix, timeout_s=1.0)
    yield store
    store.close()


@pytest.fixture
def memory_store() -> MemoryExactStore:
    return MemoryExactStore(max_entries=1000)


@pytest.fixture
def chroma_backend(tmp_path: Path) -> ChromaBackend:
    """An embedded, persistent ChromaDB in this test's temporary directory."""
    return ChromaBackend(path=tmp_path / "chroma")


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ChromaDB server (`chroma run`) on a free port, for the whole session."""
    with chroma_server(tmp_path_factory.mktemp("chroma-server")) as url:
        yield url


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    """A private redis-server this test may stop and restart (the shared one must stay up)."""
    process = RedisProcess().start()
    yield process
    process.stop()
