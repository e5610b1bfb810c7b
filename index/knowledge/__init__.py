"""Knowledge search: documents chunked, embedded, searched by meaning and by words."""

from __future__ import annotations

from semcached.index.knowledge.base import (
    DEFAULT_COLLECTION,
    CollectionNotFoundError,
    KnowledgeBase,
)
from semcached.index.knowledge.search import SearchHit, SearchMode, SearchResults
from semcached.index.knowledge.types import CollectionInfo, Item, StoredItem, UpsertReport

__all__ = [
    "DEFAULT_COLLECTION",
    "CollectionInfo",
    "CollectionNotFoundError",
    "Item",
    "KnowledgeBase",
    "SearchHit",
    "SearchMode",
    "SearchResults",
    "StoredItem",
    "UpsertReport",
]
