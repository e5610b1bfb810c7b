"""Vector writes taken off the caller's path: journaled, batched, written by one thread.

A miss's answer used to reach the caller only after its vector entry was in ChromaDB (8 ms of
an upsert on the caller's path, more with a Chroma server). Now :meth:`WriteBehind.submit`
appends the entry to a write-ahead journal (:class:`~semcached.index.vector.journal.WriteJournal`,
tens of microseconds) and to an in-memory queue, and returns; one writer thread takes whatever
is queued, writes it to the vector index in one upsert per namespace (batches form by
themselves under load: everything that arrived while the last upsert ran), and then runs the
sweeps and evictions that used to run on the caller's path too.

What is promised:

* **durability**: once a store returns ``True`` the entry is in the journal; it survives the
  process being killed (and, with ``fsync``, the machine losing power) and reaches the vector
  index from the journal at the next start of any process on the same journal root;
* **read your writes**: this process's lookups search the queued entries as well as the
  index (exactly: cosine over the few queued vectors), so a paraphrase asked right after a
  miss is a hit before the upsert lands; other replicas find it once it lands, normally
  within one upsert's time;
* **order**: maintenance (delete, clear, sweep, count) first waits for the queue to drain, so
  a delete is never undone by a queued write of the same entry;
* **bounded memory**: at most ``max_pending`` entries wait; past that a store fails open (the
  caller still has the answer, it is not cached, ``write_behind.dropped`` counts it) while
  the vector index is down or slower than the writes.
"""

from __future__ import annotations

import atexit
import base64
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from semcached.engine.entries import CacheEntry
from semcached.engine.stats import CacheStats
from semcached.errors import BackendError
from semcached.index.vector.base import Neighbor
from semcached.index.vector.journal import WriteJournal

__all__ = ["PendingWrite", "WriteBehind"]

log = logging.getLogger("semcached.engine.write_behind")

_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 5.0


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """An entry acknowledged to its caller and not yet known to be in the vector index."""

    entry: CacheEntry
    vector: NDArray[np.float32]

    def record(self) -> dict[str, Any]:
        """The journal's line for this write: the entry's fields and the vector (base64)."""
        vector = np.asarray(self.vector, dtype="<f4").tobytes()
        return {**asdict(self.entry), "vector": base64.b64encode(vector).decode()}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PendingWrite:
        """The write a journal line holds (``KeyError``/``TypeError`` for a bad one)."""
        entry = CacheEntry(**{f.name: record[f.name] for f in fields(CacheEntry)})
        vector = np.frombuffer(base64.b64decode(record["vector"]), dtype="<f4").astype(np.float32)
        return cls(entry, vector)


_Writer = Callable[[list[CacheEntry], NDArray[np.float32]], int]


class WriteBehind:
    """The queue, the journal and the writer thread of one :class:`SemanticStore`.

    ``write_batch(entries, vectors)`` writes entries of one namespace to the index (and returns
    how many it evicted); it is called from the writer thread only.
    """

    def __init__(
        self,
        write_batch: _Writer,
        *,
        journal_dir: Path | None,
        stats: CacheStats,
        fsync: bool = False,
        max_pending: int = 10_000,
        max_batch: int = 512,
        max_delay_s: float = 0.0,
    ) -> None:
        if max_pending < 1 or max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_pending and max_batch must be at least 1, max_delay_s >= 0")
        self._write_batch = write_batch
        self._stats = stats
        self.max_pending = max_pending
        self.max_batch = max_batch
        self.max_delay_s = max_delay_s
        self._flushers = 0  # threads waiting in flush(): the writer then waits no longer
        self.journal = WriteJournal(journal_dir, fsync=fsync) if journal_dir else None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: list[PendingWrite] = []  # submitted, not yet taken by the writer
        self._in_flight: list[PendingWrite] = []  # taken, being written
        # namespace -> id -> write: what lookups search besides the index
        self._pending: dict[str, dict[str, PendingWrite]] = {}
        self._submitted = 0
        self._written = 0
        self._closed = False
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="semcached-writer", daemon=True)
        self._thread.start()
        _open.add(self)
        if self.journal is not None:
            self._adopt_orphans()

    # -- the caller's side --------------------------------------------------------------------

    def submit(self, entry: CacheEntry, vector: NDArray[np.float32]) -> bool:
        """Journal and queue one entry; ``False`` (not stored) when the queue is full."""
        write = PendingWrite(entry, np.asarray(vector, dtype=np.float32).reshape(-1))
        with self._lock:
            if self._closed:
                raise BackendError("vector_index", "the cache is closed")
            if len(self._queue) + len(self._in_flight) >= self.max_pending:
                self._stats.incr("write_behind.dropped")
                return False
            if self.journal is not None:
                self.journal.append([write.record()])
            self._enqueue(write)
        return True

    def pending(self, namespace: str) -> list[PendingWrite]:
        """The namespace's entries that lookups must see and the index may not have yet."""
        with self._lock:
            found = self._pending.get(namespace)
            return list(found.values()) if found else []

    def nearest(self, namespace: str, query: NDArray[np.float32]) -> list[Neighbor]:
        """The namespace's pending entries as neighbours of ``query`` (cosine similarity)."""
        writes = self.pending(namespace)
        if not writes:
            return []
        matrix = np.stack([w.vector for w in writes])
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        norms = np.linalg.norm(matrix, axis=1) * (float(np.linalg.norm(q)) or 1.0)
        sims = (matrix @ q) / np.where(norms == 0, 1.0, norms)
        return [
            Neighbor(
                id=w.entry.id,
                similarity=float(max(-1.0, min(1.0, s))),
                metadata=w.entry.metadata(),
                document=w.entry.text,
            )
            for w, s in zip(writes, sims, strict=True)
        ]

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every entry submitted before this call is in the index; raises
        :class:`BackendError` if that takes longer than ``timeout_s`` (index down)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            target = self._submitted
            self._flushers += 1
            self._changed.notify_all()
            try:
                while self._written < target:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise BackendError(
                            "vector_index",
                            f"{target - self._written} queued writes not in the index after "
                            f"{timeout_s:g}s ({self.last_error or 'still writing'})",
                        )
                    self._changed.wait(left)
            finally:
                self._flushers -= 1

    @property
    def queued(self) -> int:
        with self._lock:
            return len(self._queue) + len(self._in_flight)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued (within ``timeout_s``), stop the writer, close the journal;
        what could not be written stays journaled for the next start."""
        with self._lock:
            if self._closed:
                return
        drained = True
        try:
            self.flush(timeout_s)
        except BackendError as exc:
            drained = False
            log.warning("closing with writes still queued (kept in the journal): %s", exc)
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=1.0)  # a writer stuck in a hung index is a daemon
        if self.journal is not None:
            self.journal.close(keep=not drained)
        _open.discard(self)

    # -- the writer thread --------------------------------------------------------------------

    def _enqueue(self, write: PendingWrite) -> None:
        self._queue.append(write)
        self._pending.setdefault(write.entry.namespace, {})[write.entry.id] = write
        self._submitted += 1
        self._changed.notify_all()

    def _take(self) -> tuple[list[PendingWrite], int | None] | None:
        with self._lock:
            while not self._queue and not self._closed:
                self._changed.wait()
            if self.max_delay_s > 0:  # let a batch form: until full, due, or someone waits
                due = time.monotonic() + self.max_delay_s
                while (
                    len(self._queue) < self.max_batch
                    and not self._closed
                    and not self._flushers
                    and (left := due - time.monotonic()) > 0
                ):
                    self._changed.wait(left)
            if not self._queue:
                return None  # closed and drained
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            self._in_flight = batch
            # Rotate only when the whole queue was taken: the closed segment then holds
            # exactly the batch and older, already written, records.
            segment = self.journal.rotate() if self.journal and not self._queue else None
            return batch, segment

    def _run(self) -> None:
        delay = _RETRY_FIRST_S
        while True:
            taken = self._take()
            if taken is None:
                return
            batch, segment = taken
            while True:
                try:
                    evicted = self._write(batch)
                except Exception as exc:  # the index is down or failing: keep and retry
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._stats.incr("write_behind.retries")
                    log.warning("vector write of %d entries failed, retrying: %s", len(batch), exc)
                    with self._lock:
                        if self._closed:
                            return  # closing without the index: the journal keeps them
                        self._changed.wait(delay)
                    delay = min(_RETRY_MAX_S, delay * 2)
                    continue
                delay = _RETRY_FIRST_S
                self.last_error = None
                break
            if evicted:
                self._stats.incr("evictions", evicted)
            self._stats.incr("write_behind.batches")
            self._stats.incr("write_behind.written", len(batch))
            if segment is not None and self.journal is not None:
                self.journal.discard(segment)
            with self._lock:
                self._in_flight = []
                for write in batch:
                    found = self._pending.get(write.entry.namespace)
                    if found is not None and found.get(write.entry.id) is write:
                        del found[write.entry.id]
                        if not found:
                            del self._pending[write.entry.namespace]
                self._written += len(batch)
                self._changed.notify_all()

    def _write(self, batch: list[PendingWrite]) -> int:
        evicted = 0
        by_namespace: dict[str, list[PendingWrite]] = {}
        for write in batch:
            by_namespace.setdefault(write.entry.namespace, []).append(write)
        for group in by_namespace.values():
            latest: dict[str, PendingWrite] = {}
            for write in group:  # the same id twice in a batch: the later write wins
                latest[write.entry.id] = write
            writes = list(latest.values())
            matrix = np.stack([w.vector for w in writes])
            evicted += self._write_batch([w.entry for w in writes], matrix)
        return evicted

    def _adopt_orphans(self) -> None:
        """Journal again, and queue, what processes that died left unwritten."""
        assert self.journal is not None
        for orphan in self.journal.orphans():
            writes = []
            for record in orphan.records():
                try:
                    writes.append(PendingWrite.from_record(record))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("skipping a bad journal record in %s: %s", orphan.path, exc)
            with self._lock:
                for start in range(0, len(writes), 1024):
                    chunk = writes[start : start + 1024]
                    self.journal.append([w.record() for w in chunk])
                    for write in chunk:
                        self._enqueue(write)
            orphan.delete()
            if writes:
                self._stats.incr("write_behind.replayed", len(writes))
                log.info("replaying %d journaled vector writes from %s", len(writes), orphan.path)


_open: weakref.WeakSet[WriteBehind] = weakref.WeakSet()


@atexit.register
def _drain_at_exit() -> None:
    """A program that never closed its cache: write what is queued (briefly), else leave it
    in the journal for the next start."""
    for writer in list(_open):
        try:
            writer.close(timeout_s=2.0)
        except Exception as exc:  # never fail interpreter shutdown
            log.warning("could not drain vector writes at exit: %s", exc)
