"""Build the knowledge store and limits from :class:`~semcached.settings.Settings`."""

from __future__ import annotations

from pathlib import Path

from semcached.index.knowledge.chroma import ChromaKnowledgeStore
from semcached.index.knowledge.limits import KnowledgeLimits
from semcached.index.knowledge.store import KnowledgeStore
from semcached.settings import Settings

__all__ = ["build_knowledge_store", "knowledge_limits", "lexical_dir"]


def build_knowledge_store(settings: Settings) -> KnowledgeStore:
    """The Chroma server at ``chroma_url`` when set, else embedded Chroma under ``data_dir``."""
    options = settings.chroma
    if settings.chroma_url:
        return ChromaKnowledgeStore(
            url=settings.chroma_url,
            prefix=options.collection_prefix,
            tenant=options.tenant,
            database=options.database,
            timeout_s=options.http_timeout_s,
        )
    return ChromaKnowledgeStore(
        path=settings.data_dir / "chroma",
        prefix=options.collection_prefix,
        tenant=options.tenant,
        database=options.database,
    )


def lexical_dir(settings: Settings) -> Path:
    """Where this replica keeps its lexical index (local disk, also with a Chroma server)."""
    return settings.knowledge.lexical_dir or settings.data_dir / "lexical"


def knowledge_limits(settings: Settings) -> KnowledgeLimits:
    """The per-item limits and per-namespace quotas of ``SEMCACHED_KNOWLEDGE__*``."""
    o = settings.knowledge
    return KnowledgeLimits(
        max_item_chars=o.max_item_chars,
        max_metadata_keys=o.max_metadata_keys,
        max_metadata_key_chars=o.max_metadata_key_chars,
        max_metadata_value_chars=o.max_metadata_value_chars,
        max_metadata_bytes=o.max_metadata_bytes,
        max_collections_per_namespace=o.max_collections_per_namespace,
        max_items_per_namespace=o.max_items_per_namespace,
        max_bytes_per_namespace=o.max_bytes_per_namespace,
    )
