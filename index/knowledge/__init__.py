"""Knowledge search: documents chunked, embedded, searched by meaning and by words.

The pieces: :class:`KnowledgeBase` (the facade), the :class:`KnowledgeStore` seam with
:class:`ChromaKnowledgeStore` and :class:`MemoryKnowledgeStore`, the lexical index
(:class:`LexicalIndex`, tantivy on local disk), limits and quotas (:class:`KnowledgeLimits`).
"""

from __future__ import annotations

from semcached.index.knowledge.base import (
    DEFAULT_COLLECTION,
    CollectionNotFoundError,
    KnowledgeBase,
)
from semcached.index.knowledge.chroma import ChromaKnowledgeStore
from semcached.index.knowledge.lexical import LexicalIndex
from semcached.index.knowledge.limits import KnowledgeLimits
from semcached.index.knowledge.memory import MemoryKnowledgeStore
from semcached.index.knowledge.search import SearchHit, SearchMode, SearchResults
from semcached.index.knowledge.store import KnowledgeCollection, KnowledgeStore
from semcached.index.knowledge.types import CollectionInfo, Item, StoredItem, UpsertReport

__all__ = [
    "DEFAULT_COLLECTION",
    "ChromaKnowledgeStore",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Item",
    "KnowledgeBase",
    "KnowledgeCollection",
    "KnowledgeLimits",
    "KnowledgeStore",
    "LexicalIndex",
    "MemoryKnowledgeStore",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "StoredItem",
    "UpsertReport",
]
