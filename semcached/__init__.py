"""semcached: an embeddable semantic cache and vector knowledge service for LLM applications.

Example::

    from semcached import SemanticCache

    cache = SemanticCache()   # embedded defaults: in-process exact store, embedded ChromaDB
    result = cache.get_or_call(request, call_the_provider)
"""

from __future__ import annotations

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import CallResult, LookupResult, SemanticCache
from semcached.engine.stats import CacheStats
from semcached.errors import (
    BackendError,
    ConfigurationError,
    EmbeddingError,
    ExactStoreError,
    InvalidRequestError,
    ModelLoadError,
    ProviderError,
    SemcachedError,
    VectorIndexError,
)
from semcached.index.knowledge.base import KnowledgeBase
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Candidate, Decision, Guard, HitKind, MissReason, Rejection
from semcached.request import CanonicalRequest, ChatRequest, canonicalize
from semcached.settings import DEFAULT_THRESHOLD, Settings

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "AdaptiveThresholds",
    "AsyncSemanticCache",
    "BackendError",
    "CacheStats",
    "CallResult",
    "Candidate",
    "CanonicalRequest",
    "ChatRequest",
    "ConfigurationError",
    "Decision",
    "EmbeddingError",
    "ExactStoreError",
    "Guard",
    "HitKind",
    "InvalidRequestError",
    "KnowledgeBase",
    "LookupResult",
    "MissReason",
    "ModelLoadError",
    "ProviderError",
    "Rejection",
    "SemanticCache",
    "SemcachedError",
    "Settings",
    "VectorIndexError",
    "__version__",
    "canonicalize",
]
