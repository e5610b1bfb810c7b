"""semcached's exceptions.

Every error semcached raises on purpose derives from :class:`SemcachedError`; third-party
exceptions (redis-py, ChromaDB, sentence-transformers, httpx) are caught at the boundary and
re-raised as one of these with ``raise ... from exc``, so callers never need another library's
exception types.

The tree::

    SemcachedError
    ├── ConfigurationError            bad settings or arguments, found before any work is done
    │   └── ModelLoadError            the embedding model could not be loaded (names the path tried)
    ├── InvalidRequestError           a request that cannot be cached as given (names the field)
    ├── BackendError                  a storage backend failed; the engine fails open on these
    │   ├── ExactStoreError           Redis / the in-process store
    │   ├── VectorIndexError          ChromaDB
    │   └── EmbeddingError            the embedder failed on input it should have handled
    └── ProviderError                 an upstream LLM failed (service/client); never cached

Messages follow one rule: what was expected, what came, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigurationError",
    "EmbeddingError",
    "ExactStoreError",
    "InvalidRequestError",
    "ModelLoadError",
    "ProviderError",
    "SemcachedError",
    "VectorIndexError",
]


class SemcachedError(Exception):
    """Base class of every exception semcached raises on purpose."""


class ConfigurationError(SemcachedError, ValueError):
    """A setting or constructor argument is invalid."""


class ModelLoadError(ConfigurationError):
    """The embedding model could not be loaded.

    ``path`` is the location that was tried, so the message and the attribute both tell the
    user which directory to fix.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class InvalidRequestError(SemcachedError, ValueError):
    """A request cannot be canonicalised; ``field`` names the offending part (dotted path)."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class BackendError(SemcachedError):
    """A storage backend failed. The engine catches these and falls through to the provider."""

    backend: str = "backend"


class ExactStoreError(BackendError):
    """The exact store (Redis or in-process) failed or timed out."""

    backend = "exact_store"


class VectorIndexError(BackendError):
    """The vector index (ChromaDB) failed or timed out."""

    backend = "vector_index"


class EmbeddingError(BackendError):
    """The embedder failed on a batch of texts."""

    backend = "embedder"


class ProviderError(SemcachedError):
    """Wraps nothing: provider exceptions propagate unchanged.

    This class exists for callers (the HTTP service, the client) that need to report an
    upstream failure as semcached's own type; the engine itself re-raises the provider's
    original exception to every single-flight waiter so that ``except openai.APIError`` in
    user code keeps working.
    """
