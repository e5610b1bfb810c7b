"""The engine: the lookup core and its sync and async drivers, single-flight and stats.

It imports no service or client code; storage and embedding come in through the seams of
:mod:`semcached.index` and :mod:`semcached.embeddings`, decisions from :mod:`semcached.policy`.
"""

from __future__ import annotations

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import SemanticCache
from semcached.engine.results import CallResult, LookupResult, Source
from semcached.engine.stats import CacheStats

__all__ = [
    "AsyncSemanticCache",
    "CacheStats",
    "CallResult",
    "LookupResult",
    "SemanticCache",
    "Source",
]
