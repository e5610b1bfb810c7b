"""Build the configured embedder from :class:`~semcached.settings.Settings`."""

from __future__ import annotations

from semcached.embeddings.base import Embedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.settings import Settings

__all__ = ["build_embedder"]


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
