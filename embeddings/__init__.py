"""Embeddings: the :class:`Embedder` seam, the sentence-transformers backend and a vector cache."""

from __future__ import annotations

from semcached.embeddings.base import Embedder, Vectors, aembed, l2_normalize
from semcached.embeddings.batcher import MicroBatchingEmbedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.embeddings.sentence_transformer import (
    SentenceTransformerEmbedder,
    default_model_path,
    model_fingerprint,
)

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "MicroBatchingEmbedder",
    "SentenceTransformerEmbedder",
    "Vectors",
    "aembed",
    "default_model_path",
    "l2_normalize",
    "model_fingerprint",
]
