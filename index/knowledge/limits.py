"""Input limits and per-namespace quotas, checked before anything is written.

One knowledge upload with a 6,000-key metadata map once broke its ChromaDB collection for good:
every later read and write on it failed. Every item is therefore checked up front, whole batch
first, against :class:`KnowledgeLimits`; a bad item is an
:class:`~semcached.errors.InvalidRequestError` (a 422) or, when it is too large, a
:class:`~semcached.errors.LimitExceededError` (a 413), both naming the field
(``items.3.metadata``). Quotas are per namespace (a
:class:`~semcached.errors.QuotaExceededError`, a 429), so one tenant cannot exhaust what the
others share (file handles, memory, disk).

Example::

    limits = KnowledgeLimits(max_metadata_keys=16)
    item = coerce_item({"id": "a", "text": "x", "metadata": {"lang": "en"}}, "items.0", limits)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from semcached.errors import InvalidRequestError, LimitExceededError
from semcached.index.knowledge.store import RESERVED_PREFIX, MetadataValue
from semcached.index.knowledge.types import Item, check_id

__all__ = ["KnowledgeLimits", "coerce_item"]

_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class KnowledgeLimits:
    """What one item may hold, and what one namespace may store.

    The defaults fit documents and their usual metadata (a title, a language, a year, a few
    tags); settings ``SEMCACHED_KNOWLEDGE__*`` change them for the service and the CLI.
    """

    max_item_chars: int = 1_000_000
    max_metadata_keys: int = 32
    max_metadata_key_chars: int = 128
    max_metadata_value_chars: int = 4096
    max_metadata_bytes: int = 16_384
    max_collections_per_namespace: int = 32
    max_items_per_namespace: int = 1_000_000
    max_bytes_per_namespace: int = 1 << 30


def _utf8(value: str, path: str, what: str) -> int:
    try:
        return len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidRequestError(
            f"{path}: expected valid Unicode {what}, got a lone surrogate at position "
            f"{exc.start}. Fix: send well-formed UTF-8 text",
            field=path,
        ) from exc


def coerce_item(raw: Item | Mapping[str, Any], field: str, limits: KnowledgeLimits) -> Item:
    """``raw`` checked and normalised into an :class:`Item`, or an error naming the field."""
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
            f"{type(raw).__name__}. Fix: send {{'id': ..., 'text': ...}}",
            field=field,
        )
    check_id(item_id, f"{field}.id")
    _utf8(item_id, f"{field}.id", "in the id")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(
            f"{field}.text: expected non-blank text, got {text!r:.80}. Fix: skip empty items",
            field=f"{field}.text",
        )
    if len(text) > limits.max_item_chars:
        raise LimitExceededError(
            f"{field}.text: expected at most {limits.max_item_chars} characters, got "
            f"{len(text)}. Fix: split the document into several items",
            field=f"{field}.text",
            limit="max_item_chars",
        )
    _utf8(text, f"{field}.text", "text")
    return Item(id=str(item_id), text=text, metadata=_metadata(metadata, field, limits))


def _metadata(metadata: Any, field: str, limits: KnowledgeLimits) -> dict[str, MetadataValue]:
    path = f"{field}.metadata"
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError(
            f"{path}: expected an object of str/int/float/bool values, got "
            f"{type(metadata).__name__}. Fix: send a flat JSON object",
            field=path,
        )
    if len(metadata) > limits.max_metadata_keys:
        raise LimitExceededError(
            f"{path}: expected at most {limits.max_metadata_keys} keys, got {len(metadata)}. "
            "Fix: keep the fields you filter on and put the rest into the text",
            field=path,
            limit="max_metadata_keys",
        )
    clean: dict[str, MetadataValue] = {}
    for key, value in metadata.items():
        key_path = f"{path}.{key}"
        if (
            not isinstance(key, str)
            or not key
            or key.startswith(("$", "#", RESERVED_PREFIX))
            or any(ord(c) < 32 for c in key)
        ):
            raise InvalidRequestError(
                f"{key_path}: expected a non-empty key without control characters, not "
                f"starting with '$', '#' or {RESERVED_PREFIX!r} (reserved), got {key!r:.80}. "
                "Fix: rename the key",
                field=key_path,
            )
        if len(key) > limits.max_metadata_key_chars:
            raise LimitExceededError(
                f"{path}: expected keys of at most {limits.max_metadata_key_chars} characters, "
                f"got one of {len(key)} ({key[:40]!r}...). Fix: use a shorter key",
                field=path,
                limit="max_metadata_key_chars",
            )
        _utf8(key, key_path, "in the key")
        clean[key] = _value(value, key_path, limits)
    size = len(json.dumps(clean, ensure_ascii=False).encode("utf-8"))
    if size > limits.max_metadata_bytes:
        raise LimitExceededError(
            f"{path}: expected at most {limits.max_metadata_bytes} bytes of metadata (as JSON), "
            f"got {size}. Fix: keep short filterable fields in metadata, long text in the text",
            field=path,
            limit="max_metadata_bytes",
        )
    return clean


def _value(value: Any, path: str, limits: KnowledgeLimits) -> MetadataValue:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise InvalidRequestError(
                f"{path}: expected an integer within 64 bits, got {value}. Fix: send it as a "
                "string",
                field=path,
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidRequestError(
                f"{path}: expected a finite number, got {value!r}. Fix: drop the key or send "
                "a string",
                field=path,
            )
        return value
    if isinstance(value, str):
        if len(value) > limits.max_metadata_value_chars:
            raise LimitExceededError(
                f"{path}: expected at most {limits.max_metadata_value_chars} characters, got "
                f"{len(value)}. Fix: put long text into the item's text",
                field=path,
                limit="max_metadata_value_chars",
            )
        _utf8(value, path, "text")
        return value
    raise InvalidRequestError(
        f"{path}: expected a str, int, finite float or bool, got {value!r:.80}. Fix: flatten "
        "lists and objects into strings or separate keys",
        field=path,
    )
