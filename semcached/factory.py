"""Build the default components from :class:`~semcached.settings.Settings`.

The only place (with the CLI and the service) where settings become objects; backends that
are not configured are never imported.
"""

from __future__ import annotations

from semcached.embeddings.base import Embedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.index.exact.base import ExactStore, MemoryExactStore
from semcached.index.vector.base import VectorBackend
from semcached.settings import Settings

__all__ = ["build_embedder", "build_exact_store", "build_vector_backend"]


def build_embedder(settings: Settings) -> Embedder:
    """The configured sentence-transformers model behind a micro-batcher and a vector cache."""
    from semcached.embeddings.batcher import MicroBatchingEmbedder
    from semcached.embeddings.sentence_transformer import SentenceTransformerEmbedder

    options = settings.embedding
    model = SentenceTransformerEmbedder(
        options.model_path, device=options.device, batch_size=options.batch_size
    )
    # Cache first (a repeated text costs nothing), then batch what concurrent callers miss.
    batched = MicroBatchingEmbedder(model, max_batch=options.batch_size)
    return CachedEmbedder(batched, max_entries=options.cache_size)


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
            url=settings.chroma_url, tenant=options.tenant, database=options.database
        )
    return ChromaBackend(
        path=settings.data_dir / "chroma", tenant=options.tenant, database=options.database
    )
