"""Several replicas sharing one Redis and one ChromaDB server; settings pick the backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from semcached import SemanticCache, Settings
from semcached.embeddings import Embedder
from semcached.factory import build_exact_store, build_vector_backend
from semcached.index import ChromaBackend, MemoryExactStore, RedisExactStore
from tests.helpers import PASSWORD, Provider, ask


def test_replicas_share_redis_and_chroma_server(
    embedder: Embedder,
    redis_url: str,
    key_prefix: str,
    chroma_url: str,
    request: pytest.FixtureRequest,
) -> None:
    """What replica A stores, replica B serves: exactly from Redis, semantically from Chroma."""
    namespace = f"replicas-{request.node.name}"

    def replica() -> SemanticCache:
        return SemanticCache(
            embedder=embedder,
            exact_store=RedisExactStore(redis_url, key_prefix=key_prefix),
            vector_backend=ChromaBackend(url=chroma_url),
            namespace=namespace,
        )

    a, b = replica(), replica()
    provider = Provider({"answer": "from A"})
    assert a.get_or_call(ask(PASSWORD), provider).source == "provider"
    assert b.get_or_call(ask(PASSWORD), provider).source == "exact"
    para = b.get_or_call(ask("How can I reset my password?"), provider)
    assert para.source == "semantic" and para.response == {"answer": "from A"}
    assert provider.calls == 1
    b.invalidate()
    assert not a.lookup(ask(PASSWORD)).hit
    a.close()
    b.close()


def test_settings_choose_the_backends(tmp_path: Path, redis_url: str, chroma_url: str) -> None:
    embedded = Settings(data_dir=tmp_path)
    assert isinstance(build_exact_store(embedded), MemoryExactStore)
    backend = build_vector_backend(embedded)
    assert isinstance(backend, ChromaBackend) and backend.location == str(tmp_path / "chroma")
    remote = Settings(redis_url=SecretStr(redis_url), chroma_url=chroma_url)
    assert isinstance(build_exact_store(remote), RedisExactStore)
    assert build_vector_backend(remote).location == chroma_url  # type: ignore[attr-defined]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEMCACHED_THRESHOLD", "0.9")
    monkeypatch.setenv("SEMCACHED_NAMESPACE_THRESHOLDS", '{"support": 0.97}')
    monkeypatch.setenv("SEMCACHED_REDIS__TIMEOUT_S", "0.1")
    monkeypatch.setenv("SEMCACHED_REDIS_URL", "redis://user:secret@localhost:6379/0")
    settings = Settings()
    assert settings.data_dir == tmp_path and settings.threshold == 0.9
    assert settings.namespace_thresholds == {"support": 0.97}
    assert settings.redis.timeout_s == 0.1
    assert "secret" not in repr(settings)
    monkeypatch.setenv("SEMCACHED_THRESHOLD", "1.5")
    with pytest.raises(ValueError, match="threshold"):
        Settings()


def test_no_argument_cache_uses_embedded_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`SemanticCache()` needs no server: in-process exact store, embedded Chroma in DATA_DIR."""
    monkeypatch.setenv("SEMCACHED_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SEMCACHED_REDIS_URL", raising=False)
    monkeypatch.delenv("SEMCACHED_CHROMA_URL", raising=False)
    with SemanticCache() as cache:
        assert isinstance(cache.exact_store, MemoryExactStore)
        cache.store(ask(PASSWORD), {"answer": "embedded"})
        assert cache.lookup(ask(PASSWORD)).hit
    assert (tmp_path / "data" / "chroma").is_dir()
