"""Cache entries in the vector index: one collection per namespace and embedding model.

Layout of an entry (ChromaDB has no TTL, no eviction and no scoping of its own, so they live
in the metadata and in this module):

* id: the request's exact key, so storing the same request twice replaces, never duplicates;
* vector: the embedding of the last user message; document: that message's text;
* metadata: ``scope`` (the scope key, compared with ``$eq`` on every query), ``model``,
  ``created_at`` and ``expires_at`` (epoch seconds; :data:`NO_EXPIRY` for none), and
  ``response``: the answer as JSON text, serialised once by the engine. The answer is written
  in the same upsert as the vector, so a crash can never leave a vector whose answer is
  missing. It is read as text and only the served candidate's is parsed.

Expired entries are filtered out on every query and swept (deleted) at most once per
``sweep_interval_s`` per namespace, on the write path. When a namespace holds more than
``max_entries`` entries the oldest are evicted, in batches of ``evict_batch`` to amortise the
scan. Nothing here is called on a hit except the query itself: the read path writes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from semcached.errors import BackendError
from semcached.index.vector.base import (
    Metadata,
    Neighbor,
    VectorBackend,
    VectorIndex,
    collection_name,
)
from semcached.policy.decision import Candidate

__all__ = [
    "ENTRY_VERSION",
    "NO_EXPIRY",
    "CacheEntry",
    "QueuedWrites",
    "SemanticStore",
]

log = logging.getLogger("semcached.engine.entries")

# Far-future expiry for entries without a TTL: one float comparison filters every entry.
NO_EXPIRY = 1e15
ENTRY_VERSION = 1
_MAX_EXTRA = 64  # neighbours asked beyond what the search needs, for queued rewrites


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A stored answer and what it answers."""

    id: str
    namespace: str
    scope_key: str
    model: str
    text: str
    response_json: str  # the answer, serialised once (semcached.jsonio.encode_text)
    created_at: float
    expires_at: float | None

    def metadata(self) -> Metadata:
        return {
            "scope": self.scope_key,
            "model": self.model,
            "created_at": self.created_at,
            "expires_at": NO_EXPIRY if self.expires_at is None else self.expires_at,
            "response": self.response_json,
            "entry_v": ENTRY_VERSION,
        }


class QueuedWrites(Protocol):
    """Where :meth:`SemanticStore.put` sends entries when writes are taken off the caller's
    path (:class:`~semcached.engine.write_behind.WriteBehind`)."""

    max_pending: int

    def submit(self, entry: CacheEntry, vector: NDArray[np.float32]) -> bool: ...

    def nearest(
        self, namespace: str, scope_key: str, query: NDArray[np.float32], k: int, now: float
    ) -> tuple[list[Neighbor], set[str]]: ...

    def flush(self, timeout_s: float = 30.0) -> None: ...

    def close(self, timeout_s: float = 10.0) -> None: ...


def _alive(neighbor: Neighbor, now: float) -> bool:
    expires = neighbor.metadata.get("expires_at", NO_EXPIRY)
    return isinstance(expires, int | float) and float(expires) > now


def _merged(
    found: list[Neighbor], queued: list[Neighbor], queued_ids: set[str], k: int
) -> list[Neighbor]:
    """The ``k`` nearest of the index's live neighbours of the scope and the queued ones; an
    index copy of any queued id is dropped (the queued write is newer, whatever its scope or
    expiry)."""
    if not queued_ids:
        return found[:k]
    merged = queued + [n for n in found if n.id not in queued_ids]
    merged.sort(key=lambda n: n.similarity, reverse=True)
    return merged[:k]


class SemanticStore:
    """Scoped, expiring, size-bounded cache entries on a :class:`VectorBackend`.

    Example::

        store = SemanticStore(ChromaBackend(path=".semcached/chroma"), model_id="minilm-abc")
        store.put(entry, vector)
        candidates = store.search("default", entry.scope_key, vector, k=4)
    """

    def __init__(
        self,
        backend: VectorBackend,
        *,
        model_id: str,
        prefix: str = "semcached",
        max_entries: int = 100_000,
        sweep_interval_s: float = 60.0,
        evict_batch: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.model_id = model_id
        self.prefix = prefix
        self.max_entries = max_entries
        self.sweep_interval_s = sweep_interval_s
        self.evict_batch = evict_batch or max(1, max_entries // 20)
        self._clock = clock
        self._last_sweep: dict[str, float] = {}
        self._write_lock = threading.Lock()
        self.overfetch = 4  # neighbours asked per candidate before falling back to a filter
        self.filtered_queries = 0  # searches that needed the filtered query (a rare scope)
        self.behind: QueuedWrites | None = None  # writes off the caller's path, when attached

    def write_behind(self, behind: QueuedWrites) -> None:
        """Send :meth:`put` through ``behind`` (journaled, queued, written by its thread),
        whose writer calls :meth:`put_now`; searches then see the queued entries too."""
        self.behind = behind

    def settle(self) -> None:
        """Wait until queued writes are in the index (before maintenance that must see them,
        or that a queued write would undo)."""
        if self.behind is not None:
            self.behind.flush()

    def collection(self, namespace: str) -> str:
        return collection_name(self.prefix, "cache", namespace, self.model_id)

    def index(self, namespace: str) -> VectorIndex:
        return self.backend.index(
            self.collection(namespace),
            metadata={
                "semcached_kind": "cache",
                "semcached_namespace": namespace,
                "semcached_model": self.model_id,
            },
        )

    def search(
        self, namespace: str, scope_key: str, vector: NDArray[np.float32], k: int
    ) -> list[Candidate]:
        """The ``k`` nearest live entries of this scope, as decision candidates.

        A ChromaDB query filtered on scope and expiry costs time in proportion to the entries
        the filter matches (27 ms at 10k entries, 75 ms at 30k, against 1.5-1.8 ms unfiltered:
        ``benchmarks/vector_filter.py``), so the collection is first asked unfiltered for a few
        times ``k`` neighbours, and scope and expiry are checked on those. When at least ``k``
        of them are live entries of the scope, they are exactly the ``k`` nearest the filtered
        query would return (or all there are, when the collection holds fewer); only a scope
        that is rare among its neighbours costs the filtered query as well.
        """
        index = self.index(namespace)
        now = self._clock()
        # The queue first: an entry written to the index meanwhile is then in the query's
        # answer, never in neither.
        queued: list[Neighbor] = []
        queued_ids: set[str] = set()
        if self.behind is not None:
            queued, queued_ids = self.behind.nearest(namespace, scope_key, vector, k, now)
        # Index copies of queued ids are dropped below: ask for that many more (bounded: with
        # thousands queued while the index is down, the query must stay a small one).
        extra = min(len(queued_ids), _MAX_EXTRA)
        wide = max(self.overfetch * k, 16) + extra
        nearest = index.query(vector, wide, None)
        live = [
            n
            for n in nearest
            if n.metadata.get("scope") == scope_key and _alive(n, now) and n.id not in queued_ids
        ]
        if len(live) >= k or len(nearest) < wide:
            neighbors = live
        else:
            self.filtered_queries += 1
            where = {"$and": [{"scope": {"$eq": scope_key}}, {"expires_at": {"$gt": now}}]}
            neighbors = index.query(vector, k + extra, where)
        neighbors = _merged(neighbors, queued, queued_ids, k)
        candidates = []
        for n in neighbors:
            raw = n.metadata.get("response")
            if not isinstance(raw, str):
                log.warning("entry %s has no stored response; ignoring it", n.id)
                continue
            candidates.append(
                Candidate(
                    id=n.id,
                    similarity=n.similarity,
                    text=n.document or "",
                    metadata={k: v for k, v in n.metadata.items() if k != "response"},
                    raw_response=raw,
                )
            )
        return candidates

    def put(self, entry: CacheEntry, vector: NDArray[np.float32]) -> int:
        """Write one entry (replacing any with the same id); returns how many were evicted.

        With a write-behind attached the entry is journaled and queued instead (evictions
        then happen on the writer's thread); a full queue raises :class:`BackendError`.
        """
        if self.behind is not None:
            if not self.behind.submit(entry, vector):
                raise BackendError(
                    "vector_index",
                    f"{self.behind.max_pending} vector writes are queued (the index is down or "
                    "slower than the writes); this answer is not cached",
                )
            return 0
        return self.put_now([entry], vector.reshape(1, -1))

    def put_many(self, entries: Sequence[CacheEntry], vectors: NDArray[np.float32]) -> int:
        """Write entries of one namespace in one upsert now (after queued ones, if any);
        returns how many were evicted."""
        self.settle()
        return self.put_now(entries, vectors)

    def put_now(self, entries: Sequence[CacheEntry], vectors: NDArray[np.float32]) -> int:
        """Write entries of one namespace in one upsert, on this thread."""
        if not entries:
            return 0
        namespace = entries[0].namespace
        if any(e.namespace != namespace for e in entries):
            raise ValueError("put_many writes entries of one namespace at a time")
        index = self.index(namespace)
        index.add(
            [e.id for e in entries],
            np.asarray(vectors, dtype=np.float32).reshape(len(entries), -1),
            [e.metadata() for e in entries],
            [e.text for e in entries],
        )
        with self._write_lock:
            swept = self._maybe_sweep(namespace, index)
            return swept + self._maybe_evict(index)

    def delete(self, namespace: str, entry_ids: Sequence[str]) -> None:
        self.settle()
        self.index(namespace).delete(ids=list(entry_ids))

    def clear(self, namespace: str) -> bool:
        """Drop the namespace's whole collection."""
        self.settle()
        self._last_sweep.pop(namespace, None)
        return self.backend.drop(self.collection(namespace))

    def count(self, namespace: str) -> int:
        self.settle()
        return self.index(namespace).count()

    def close(self) -> None:
        """Write what is queued (what cannot be stays journaled for the next start)."""
        if self.behind is not None:
            self.behind.close()

    def sweep(self, namespace: str) -> int:
        """Delete the namespace's expired entries now; returns how many went."""
        self.settle()
        index = self.index(namespace)
        with self._write_lock:
            return self._sweep(namespace, index)

    def _maybe_sweep(self, namespace: str, index: VectorIndex) -> int:
        now = self._clock()
        if now - self._last_sweep.get(namespace, 0.0) < self.sweep_interval_s:
            return 0
        return self._sweep(namespace, index)

    def _sweep(self, namespace: str, index: VectorIndex) -> int:
        now = self._clock()
        self._last_sweep[namespace] = now
        expired = index.get(where={"expires_at": {"$lte": now}})
        if expired:
            index.delete(ids=[r.id for r in expired])
            log.info("swept %d expired entries from %s", len(expired), index.name)
        return len(expired)

    def _maybe_evict(self, index: VectorIndex) -> int:
        count = index.count()
        if count <= self.max_entries:
            return 0
        # Evict down to max - batch so the full scan below runs once per batch of writes.
        excess = count - max(0, self.max_entries - self.evict_batch + 1)
        records = index.get()
        oldest = sorted(records, key=lambda r: float(r.metadata.get("created_at", 0.0)))
        doomed = [r.id for r in oldest[:excess]]
        index.delete(ids=doomed)
        log.info(
            "evicted %d oldest entries from %s (limit %d)",
            len(doomed),
            index.name,
            self.max_entries,
        )
        return len(doomed)
