"""Build the default components from :class:`~semcached.settings.Settings`.

The one place (with the CLI and the service) where settings become objects for the engine; it
composes the builders of :mod:`semcached.embeddings.factory` and :mod:`semcached.index.factory`.
"""

from __future__ import annotations

from semcached.embeddings.factory import build_embedder
from semcached.index.factory import build_exact_store, build_vector_backend

__all__ = ["build_embedder", "build_exact_store", "build_vector_backend"]
