"""The values knowledge search takes and returns, and the checks on what callers send."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from semcached.errors import InvalidRequestError
from semcached.index.knowledge.store import REVISION_ID, MetadataValue

__all__ = [
    "MAX_ID_LENGTH",
    "CollectionInfo",
    "Item",
    "StoredItem",
    "UpsertReport",
    "check_id",
    "check_namespace",
]

MAX_ID_LENGTH = 512


@dataclass(frozen=True, slots=True)
class Item:
    """One document to store: an id of your choosing, its text and optional flat metadata.

    Example::

        Item("faq-12", "To reset your password, open Settings > Account.", {"lang": "en"})
    """

    id: str
    text: str
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredItem:
    """An item's acknowledged version as stored: its text (empty in listings), metadata,
    chunk count and content hash. ``pending`` is true while a newer version is being written
    (or one was interrupted and awaits its roll-back): searches keep serving this version."""

    id: str
    text: str
    metadata: dict[str, Any]
    chunks: int
    content_hash: str
    pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "metadata": self.metadata,
            "chunks": self.chunks,
            "content_hash": self.content_hash,
            "pending": self.pending,
        }


@dataclass(slots=True)
class UpsertReport:
    """What an upsert did: ``written`` items were (re)chunked and embedded, ``unchanged`` skipped,
    ``metadata_only`` had new metadata but the same text (no re-embedding); ``timings_s`` says
    where the time went (chunk, embed, store, lexical)."""

    items: int = 0
    written: int = 0
    unchanged: int = 0
    metadata_only: int = 0
    chunks: int = 0
    removed_chunks: int = 0
    seconds: float = 0.0
    timings_s: dict[str, float] = field(default_factory=dict)

    def add_time(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` spent in ``stage`` (chunk, embed, store, lexical)."""
        self.timings_s[stage] = self.timings_s.get(stage, 0.0) + seconds

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "written": self.written,
            "unchanged": self.unchanged,
            "metadata_only": self.metadata_only,
            "chunks": self.chunks,
            "removed_chunks": self.removed_chunks,
            "seconds": round(self.seconds, 3),
            "items_per_s": round(self.items_per_s, 2),
            "timings_s": {stage: round(s, 3) for stage, s in self.timings_s.items()},
        }


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A knowledge collection of a namespace and its size (``text_bytes``: UTF-8 bytes of its
    items' text, what the namespace's byte quota counts)."""

    name: str
    namespace: str
    items: int
    chunks: int
    text_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "items": self.items,
            "chunks": self.chunks,
            "text_bytes": self.text_bytes,
        }


def check_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not namespace or len(namespace) > 256:
        raise InvalidRequestError(
            f"namespace: expected a non-empty string of at most 256 characters, got "
            f"{namespace!r}. Fix: name the namespace",
            field="namespace",
        )
    return namespace


def check_id(item_id: Any, field: str) -> str:
    if (
        not isinstance(item_id, str)
        or not item_id.strip()
        or len(item_id) > MAX_ID_LENGTH
        or item_id == REVISION_ID
    ):
        raise InvalidRequestError(
            f"{field}: expected a non-blank string id of at most {MAX_ID_LENGTH} characters "
            f"(not {REVISION_ID!r}), got {item_id!r}. Fix: give every item a stable id",
            field=field,
        )
    return item_id
