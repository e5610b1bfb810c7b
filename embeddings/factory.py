"""Build the configured embedder from :class:`~semcached.settings.Settings`."""

from __future__ import annotations

from semcached.embeddings.base import Embedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.settings import Settings

__all__ = ["build_embedder"]


def build_embedder(settings: Settings) -> Embedder:
    """The configured model (ONNX Runtime by default, or sentence-transformers) behind a
    micro-batcher and a vector cache."""
    from semcached.embeddings.batcher import MicroBatchingEmbedder

    options = settings.embedding
    model: Embedder
    if options.backend == "onnx":
        from semcached.embeddings.onnx_embedder import OnnxEmbedder

        model = OnnxEmbedder(
            options.onnx_dir,
            model_path=options.model_path if options.onnx_dir is None else None,
            threads=options.threads,
            batch_size=options.batch_size,
        )
    else:
        from semcached.embeddings.sentence_transformer import SentenceTransformerEmbedder

        model = SentenceTransformerEmbedder(
            options.model_path, device=options.device, batch_size=options.batch_size
        )
    # Cache first (a repeated text costs nothing), then batch what concurrent callers miss.
    batched = MicroBatchingEmbedder(model, max_batch=options.batch_size)
    return CachedEmbedder(batched, max_entries=options.cache_size)
