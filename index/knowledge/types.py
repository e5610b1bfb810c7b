"""The values knowledge search takes and returns, and the checks on what callers send."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from semcached.errors import InvalidRequestError
from semcached.index.knowledge.store import RESERVED_PREFIX, REVISION_ID

__all__ = [
    "MAX_ID_LENGTH",
    "CollectionInfo",
    "Item",
    "MetadataValue",
    "StoredItem",
    "UpsertReport",
    "check_id",
    "check_namespace",
    "coerce_item",
]

MAX_ID_LENGTH = 512
MetadataValue = str | int | float | bool


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
    """An item as stored: ``complete`` is false while (or after an interrupted) write."""

    id: str
    text: str
    metadata: dict[str, Any]
    chunks: int
    content_hash: str
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "metadata": self.metadata,
            "chunks": self.chunks,
            "content_hash": self.content_hash,
            "complete": self.complete,
        }


@dataclass(slots=True)
class UpsertReport:
    """What an upsert did: ``written`` items were (re)chunked and embedded, ``unchanged`` skipped,
    ``metadata_only`` had new metadata but the same text (no re-embedding)."""

    items: int = 0
    written: int = 0
    unchanged: int = 0
    metadata_only: int = 0
    chunks: int = 0
    removed_chunks: int = 0
    seconds: float = 0.0

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
        }


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    """A knowledge collection of a namespace and its size."""

    name: str
    namespace: str
    items: int
    chunks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "items": self.items,
            "chunks": self.chunks,
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


def coerce_item(raw: Item | Mapping[str, Any], field: str) -> Item:
    item_id: Any
    text: Any
    metadata: Any
    if isinstance(raw, Item):
        item_id, text, metadata = raw.id, raw.text, raw.metadata
    elif isinstance(raw, Mapping):
        item_id, text, metadata = raw.get("id"), raw.get("text"), raw.get("metadata") or {}
    else:
        raise InvalidRequestError(
            f"{field}: expected an Item or an object with id, text and metadata, got "
            f"{type(raw).__name__}",
            field=field,
        )
    check_id(item_id, f"{field}.id")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(
            f"{field}.text: expected non-blank text, got {text!r:.80}. Fix: skip empty items",
            field=f"{field}.text",
        )
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError(
            f"{field}.metadata: expected an object of str/int/float/bool values, got "
            f"{type(metadata).__name__}",
            field=f"{field}.metadata",
        )
    clean: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        path = f"{field}.metadata.{key}"
        if (
            not isinstance(key, str)
            or not key
            or key.startswith(RESERVED_PREFIX)
            or key == "#document"
        ):
            raise InvalidRequestError(
                f"{path}: expected a non-empty key not starting with {RESERVED_PREFIX!r}, got "
                f"{key!r}. Fix: rename the key",
                field=path,
            )
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise InvalidRequestError(
                f"{path}: expected a str, int, finite float or bool, got {value!r:.80}. Fix: "
                "flatten lists and objects into strings or separate keys",
                field=path,
            )
        clean[key] = value
    return Item(id=str(item_id), text=text, metadata=clean)
