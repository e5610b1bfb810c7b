"""Embeddings: the :class:`Embedder` seam, the sentence-transformers and ONNX Runtime backends and
a vector cache."""

from __future__ import annotations

from semcached.embeddings.base import Embedder, Vectors, aembed, l2_normalize
from semcached.embeddings.batcher import MicroBatchingEmbedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.embeddings.onnx_embedder import OnnxEmbedder
from semcached.embeddings.onnx_export import default_onnx_dir, export_onnx
from semcached.embeddings.onnx_runtime import OnnxEncoder, Pooling
from semcached.embeddings.sentence_transformer import (
    SentenceTransformerEmbedder,
    default_model_path,
    model_fingerprint,
)

__all__ = [
    "CachedEmbedder",
    "Embedder",
    "MicroBatchingEmbedder",
    "OnnxEmbedder",
    "OnnxEncoder",
    "Pooling",
    "SentenceTransformerEmbedder",
    "Vectors",
    "aembed",
    "default_model_path",
    "default_onnx_dir",
    "export_onnx",
    "l2_normalize",
    "model_fingerprint",
]
