"""Build the configured stores from :class:`~semcached.settings.Settings`; backends that are not
configured are never imported."""

from __future__ import annotations

from semcached.index.exact.base import ExactStore, MemoryExactStore
from semcached.index.vector.base import VectorBackend
from semcached.settings import Settings

__all__ = ["build_exact_store", "build_vector_backend"]


def build_exact_store(settings: Settings) -> ExactStore:
    """Redis when ``redis_url`` is set, else the in-process LRU."""
    if settings.redis_url is None:
        return MemoryExactStore(max_entries=settings.memory_max_entries)
    from semcached.index.exact.redis import RedisExactStore

    options = settings.redis
    return RedisExactStore(
        settings.redis_url.get_secret_value(),
        key_prefix=options.key_prefix,
        timeout_s=options.timeout_s,
        retry_after_s=options.retry_after_s,
        max_connections=options.max_connections,
    )


def build_vector_backend(settings: Settings) -> VectorBackend:
    """A Chroma server when ``chroma_url`` is set, else embedded Chroma under ``data_dir``."""
    from semcached.index.vector.chroma import ChromaBackend

    options = settings.chroma
    if settings.chroma_url:
        return ChromaBackend(
            url=settings.chroma_url, tenant=options.tenant, database=options.database,
            timeout_s=options.http_timeout_s,
        )  # fmt: skip
    return ChromaBackend(
        path=settings.data_dir / "chroma", tenant=options.tenant, database=options.database
    )
