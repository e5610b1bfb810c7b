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
    │   ├── CollectionNotFoundError   a read named a knowledge collection that does not exist
    │   ├── LimitExceededError        one input is too large (too many metadata keys...): 413
    │   └── QuotaExceededError        a namespace's quota is spent (collections, items, bytes): 429
    ├── BackendError                  a storage backend failed; the engine fails open on these
    │   ├── ExactStoreError           Redis / the in-process store
    │   ├── VectorIndexError          ChromaDB
    │   └── EmbeddingError            the embedder failed on input it should have handled
    ├── ProviderError                 an upstream LLM failed (service/client); never cached
    │   └── UpstreamError             the proxy's upstream answered an error, or none
    ├── ApiError                      the service's own 4xx/5xx answers (status, type, field, fix)
    └── ServiceError                  the semcached HTTP service answered an error (the client)
        ├── ServiceUnreachableError   no answer: connection refused, timeout (after retries)
        ├── AuthenticationError       401/403: missing or wrong API key, another namespace
        ├── ServiceRequestError       400/413/422: the request was rejected (also an
        │                             InvalidRequestError, naming the field)
        └── ServiceUnavailableError   503: a backend of the service is down (also a BackendError)

Messages follow one rule: what was expected, what came, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BackendError",
    "CollectionNotFoundError",
    "ConfigurationError",
    "EmbeddingError",
    "ExactStoreError",
    "InvalidRequestError",
    "LimitExceededError",
    "ModelLoadError",
    "ProviderError",
    "QuotaExceededError",
    "SemcachedError",
    "ServiceError",
    "ServiceRequestError",
    "ServiceUnavailableError",
    "ServiceUnreachableError",
    "UpstreamError",
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


class CollectionNotFoundError(InvalidRequestError):
    """A read named a knowledge collection that does not exist (``field`` is "collection")."""


class LimitExceededError(InvalidRequestError):
    """One input is over a size limit (an item's text, its metadata's keys or bytes); the
    service answers 413. ``limit`` is the limit's name, e.g. ``max_metadata_keys``."""

    def __init__(self, message: str, *, field: str, limit: str) -> None:
        super().__init__(message, field=field)
        self.limit = limit


class QuotaExceededError(InvalidRequestError):
    """A write would take a namespace over its quota (knowledge collections, items, bytes);
    the service answers 429. ``quota`` is the setting's name, e.g.
    ``max_collections_per_namespace``."""

    def __init__(self, message: str, *, field: str, quota: str) -> None:
        super().__init__(message, field=field)
        self.quota = quota


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


class UpstreamError(ProviderError):
    """The sidecar's upstream failed: ``status`` and ``body`` are what the caller receives.

    ``reason`` is a short code for metrics (``timeout``, ``unreachable``, ``http_429``,
    ``stream_cut``, ``stream_incomplete``...); ``headers`` the upstream's headers worth passing
    on (``retry-after``, rate limits, request id). ``done`` is set for a stream that sent its
    end marker although it is not stored (it carried an error event).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes,
        reason: str,
        headers: Mapping[str, str] | None = None,
        done: bool = False,
        own: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.reason = reason
        self.headers = dict(headers or {})
        self.done = done
        self.own = own


class ApiError(SemcachedError):
    """An error the HTTP service answers with its status, in the service's JSON error shape
    (raised by route code for its own 4xx/5xx cases; never by the engine).

    Example::

        raise ApiError(403, "forbidden_namespace", "this key may only use 'tenant-a'",
                       field="namespace", fix="use the key issued for 'tenant-b'")
    """

    def __init__(
        self,
        status: int,
        type: str,
        message: str,
        *,
        field: str | None = None,
        fix: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.field = field
        self.fix = fix
        self.headers = dict(headers or {})


class ServiceError(SemcachedError):
    """The semcached service answered an error, or none (raised by :mod:`semcached.clients`).

    ``status`` is the HTTP status (``None`` when no answer came); ``type``, ``field`` and
    ``fix`` are the service's error body fields.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        # Not super(): subclasses also derive from InvalidRequestError / BackendError, whose
        # constructors take other arguments; the message is all Exception needs.
        SemcachedError.__init__(self, message)
        self.status = status
        self.type = type
        self.field = field
        self.fix = fix


class ServiceUnreachableError(ServiceError):
    """The service could not be reached or did not answer in time, after the retries."""


class AuthenticationError(ServiceError):
    """401 or 403: the API key is missing or wrong, or it may not use that namespace."""


# `field` is `str | None` on ServiceError and `str` here: this class always sets it.
class ServiceRequestError(ServiceError, InvalidRequestError):  # type: ignore[misc]
    """400, 413 or 422: the service rejected the request; ``field`` names the offending part."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        ServiceError.__init__(self, message, status=status, type=type, field=field, fix=fix)
        self.field = field or "request"


class ServiceUnavailableError(ServiceError, BackendError):
    """503: a backend of the service (Redis, ChromaDB) is down, or no upstream is configured."""

    backend = "service"
