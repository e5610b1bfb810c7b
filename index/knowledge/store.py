"""The :class:`KnowledgeStore` seam: what knowledge search needs of a database.

A store holds, per (namespace, knowledge collection, embedding model), a
:class:`KnowledgeCollection`: **chunks** (id, text, vector, the item's metadata) and **item
records** (one per item: the acknowledged text and metadata, and which version of the item's
chunks is the committed one). Two implementations pass one contract test
(``tests/integration/test_knowledge_store_contract.py``):
:class:`~semcached.index.knowledge.chroma.ChromaKnowledgeStore` (embedded or a server) and
:class:`~semcached.index.knowledge.memory.MemoryKnowledgeStore`.

**Versions.** Every write of an item makes a new version: its chunks get fresh ids
``{item_id}#{n}@{version}`` and the item record names the committed version. A chunk is
visible only while its version is the committed one, so a half-written version is never
served and the acknowledged one stays whole until the record switches (one atomic record
write). :mod:`~semcached.index.knowledge.writer` runs that protocol; the store only keeps rows.

**Namespaces.** Each namespace has a registry of its own collections: listing reads that
registry only, never another tenant's names, and every physical name carries the namespace.

Example::

    store = MemoryKnowledgeStore()
    handle = store.open("tenant-a", "docs", model_id="m", create=True)
    handle.put_chunks([ChunkRecord("a#0@v1", "a", "v1", 0, "text", 0, 4, {})], vectors)
    handle.query(vector, n=10)          # [("a#0@v1", 0.93)]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from semcached.errors import InvalidRequestError

__all__ = [
    "RESERVED_PREFIX",
    "REVISION_ID",
    "ChunkRecord",
    "CollectionEntry",
    "ItemRecord",
    "KnowledgeCollection",
    "KnowledgeStore",
    "MetadataValue",
    "Where",
    "check_collection_name",
    "chunk_id",
    "chunk_ids",
    "parse_chunk_id",
    "user_metadata",
]

MetadataValue = str | int | float | bool
Where = Mapping[str, Any]
RESERVED_PREFIX = "_kb_"
# Not an item id a caller may use (it once named the revision row; kept reserved).
REVISION_ID = "__kb_revision__"
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_collection_name(name: Any, field: str = "collection") -> str:
    """A knowledge collection name: 1-63 of ``[A-Za-z0-9._-]``, starting alphanumeric."""
    if not isinstance(name, str) or not _COLLECTION.match(name):
        raise InvalidRequestError(
            f"{field}: expected 1-63 characters of [A-Za-z0-9._-] starting with a letter or "
            f"digit, got {name!r}. Fix: choose a name such as 'docs' or 'support-faq'",
            field=field,
        )
    return name


def chunk_id(item_id: str, index: int, version: str) -> str:
    """``{item_id}#{index}@{version}``: item ids may hold ``#`` and ``@``, the tail never does."""
    return f"{item_id}#{index}@{version}"


def chunk_ids(item_id: str, version: str, count: int) -> list[str]:
    """The ids of every chunk of one version of an item."""
    return [chunk_id(item_id, n, version) for n in range(count)]


def parse_chunk_id(value: str) -> tuple[str, int, str]:
    """(item id, chunk index, version) of a chunk id; ``ValueError`` when it is not one."""
    item_id, _, tail = value.rpartition("#")
    index, _, version = tail.partition("@")
    if not item_id or not index.isdigit() or not version:
        raise ValueError(f"expected a chunk id like 'item#0@version', got {value!r}")
    return item_id, int(index), version


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """One chunk of one version of an item: where it lies in the item's text and its metadata
    (the item's own metadata, without semcached's keys)."""

    id: str
    item_id: str
    version: str
    index: int
    text: str
    start: int
    end: int
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item's record: the acknowledged version, and a write in flight or left over.

    ``version`` is the committed version ("" for an item that was never committed or is
    deleted); ``text``/``metadata``/``content_hash``/``chunks``/``size`` describe it.
    ``pending`` is the version being written (with ``pending_chunks``, ``pending_at`` in ms
    and the ``writer`` that started it); ``stale`` lists ``version:count`` chunk sets a
    committed write still has to delete; ``dirty`` is set from the first step of a write until
    its clean-up is done. ``seq`` (ms) is when the record last changed: readers follow it to
    update their lexical index. A deleted item stays as a tombstone (``deleted``) so other
    processes learn of the delete.
    """

    id: str
    version: str = ""
    text: str = ""
    metadata: dict[str, MetadataValue] = field(default_factory=dict)
    content_hash: str = ""
    chunks: int = 0
    size: int = 0
    seq: int = 0
    pending: str = ""
    pending_chunks: int = 0
    pending_at: int = 0
    writer: str = ""
    stale: tuple[str, ...] = ()
    dirty: bool = False
    deleted: bool = False

    @property
    def live(self) -> bool:
        """Whether the item has an acknowledged version (what reads show)."""
        return bool(self.version) and not self.deleted

    def but(self, **changes: Any) -> ItemRecord:
        """A copy with ``changes``."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class CollectionEntry:
    """A knowledge collection in its namespace's registry, with what it holds."""

    name: str
    namespace: str
    epoch: str
    items: int = 0
    chunks: int = 0
    size: int = 0


class KnowledgeCollection(Protocol):
    """One knowledge collection of one namespace: chunks and item records.

    Writes are upserts by id; a record is replaced whole. Every method takes and returns
    batches of any size (the implementation splits them to what its database accepts).
    """

    @property
    def namespace(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def epoch(self) -> str:
        """Changes when the collection is dropped and made again (local caches then rebuild)."""
        ...

    # -- item records ---------------------------------------------------------------------

    def records(self, ids: Sequence[str], *, text: bool = True) -> dict[str, ItemRecord]:
        """The records of those ids that have one (tombstones included)."""
        ...

    def put_records(self, records: Sequence[ItemRecord]) -> None:
        """Insert or replace records whole; each record is written atomically."""
        ...

    def delete_records(self, ids: Sequence[str]) -> None: ...

    def list_records(self, limit: int, offset: int) -> list[ItemRecord]:
        """A page of live records (no text), in a stable order."""
        ...

    def changed_since(self, seq: int) -> list[ItemRecord]:
        """Every record (tombstones too, no text) whose ``seq`` is at least ``seq``."""
        ...

    def dirty_records(self) -> list[ItemRecord]:
        """The records of writes that have not finished their clean-up (no text)."""
        ...

    def tombstones_before(self, seq: int) -> list[str]:
        """Ids of tombstones older than ``seq``."""
        ...

    def revision(self) -> str:
        """A token that changes on every committed write ("" before any)."""
        ...

    def bump_revision(self) -> str: ...

    # -- chunks ---------------------------------------------------------------------------

    def put_chunks(self, chunks: Sequence[ChunkRecord], vectors: NDArray[np.float32]) -> None:
        """Insert or replace chunks with their unit vectors (one row each)."""
        ...

    def delete_chunks(self, ids: Sequence[str]) -> None: ...

    def get_chunks(
        self,
        ids: Sequence[str],
        *,
        where: Where | None = None,
        where_document: Where | None = None,
    ) -> dict[str, ChunkRecord]:
        """Those chunks of ``ids`` that exist and pass the filters."""
        ...

    def get_vectors(self, ids: Sequence[str]) -> dict[str, NDArray[np.float32]]:
        """The stored vectors of those chunks of ``ids`` that exist."""
        ...

    def query(
        self,
        vector: NDArray[np.float32],
        n: int,
        *,
        where: Where | None = None,
        where_document: Where | None = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` chunks nearest to ``vector`` that pass the filters, as (chunk id,
        cosine similarity), most similar first. Chunks of every version are candidates."""
        ...

    def chunk_count(self) -> int:
        """Stored chunk rows, of every version."""
        ...

    def all_chunk_ids(self) -> list[str]:
        """Every stored chunk id, of every version (maintenance and tests)."""
        ...


class KnowledgeStore(Protocol):
    """Holds the knowledge collections of every namespace.

    ``open`` finds or (with ``create``) makes one collection; ``entries`` reads the registry
    of one namespace and nothing else; ``set_usage`` records what a collection holds (for
    listings and quotas); ``drop`` deletes a collection with all its data.
    """

    @property
    def location(self) -> str:
        """Where the data lives (a path or a URL), for messages."""
        ...

    def open(
        self, namespace: str, name: str, *, model_id: str, create: bool = False
    ) -> KnowledgeCollection | None:
        """The collection, or ``None`` when it does not exist and ``create`` is false."""
        ...

    def entries(self, namespace: str, *, model_id: str) -> list[CollectionEntry]:
        """The registry of ``namespace``: its collections for ``model_id``, by name."""
        ...

    def set_usage(
        self, namespace: str, name: str, *, model_id: str, items: int, chunks: int, size: int
    ) -> None: ...

    def drop(self, namespace: str, name: str, *, model_id: str) -> bool:
        """Delete the collection and its data; ``False`` when it did not exist."""
        ...


def user_metadata(metadata: Mapping[str, Any] | None) -> dict[str, MetadataValue]:
    """The item's own metadata: everything but semcached's ``_kb_`` keys."""
    return {k: v for k, v in (metadata or {}).items() if not k.startswith(RESERVED_PREFIX)}
