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

__all__ = ["RECORD_VERSION", "PendingWrite", "WriteBehind"]

log = logging.getLogger("semcached.engine.write_behind")

RECORD_VERSION = 1
_RETRY_FIRST_S = 0.05
_RETRY_MAX_S = 5.0
_ADOPT_CHUNK = 1024  # replayed records journaled again per append


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """An entry acknowledged to its caller and not yet known to be in the vector index."""

    entry: CacheEntry
    vector: NDArray[np.float32]
    segment: int = -1  # the journal segment holding it (-1: no journal)

    def record(self, embedder: str) -> dict[str, Any]:
        """The journal's line for this write: the entry's fields, the embedding model that
        made the vector, and the vector (base64)."""
        vector = np.asarray(self.vector, dtype="<f4").tobytes()
        return {
            "v": RECORD_VERSION,
            "embedder": embedder,
            **asdict(self.entry),
            "vector": base64.b64encode(vector).decode(),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> PendingWrite:
        """The write a journal line holds (``KeyError``/``TypeError``/``ValueError`` for a
        bad one)."""
        if record.get("v") != RECORD_VERSION:
            raise ValueError(f"journal record version {record.get('v')!r}, expected 1")
        entry = CacheEntry(**{f.name: record[f.name] for f in fields(CacheEntry)})
        vector = np.frombuffer(base64.b64decode(record["vector"]), dtype="<f4").astype(np.float32)
        return cls(entry, vector)


_Writer = Callable[[list[CacheEntry], NDArray[np.float32]], int]


class WriteBehind:
    """The queue, the journal and the writer thread of one :class:`SemanticStore`.

    ``write_batch(entries, vectors)`` writes entries of one namespace to the index (and returns
    how many it evicted); it is called from the writer thread only. ``model_id`` names the
    embedding model: journal records of another model (a process that died before the model
    was changed) are left for a process of that model, never written into this one's index.
    """

    def __init__(
        self,
        write_batch: _Writer,
        *,
        journal_dir: Path | None,
        stats: CacheStats,
        model_id: str = "",
        fsync: bool = False,
        max_pending: int = 10_000,
        max_batch: int = 512,
        max_delay_s: float = 0.0,
    ) -> None:
        if max_pending < 1 or max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_pending and max_batch must be at least 1, max_delay_s >= 0")
        self._write_batch = write_batch
        self._stats = stats
        self.model_id = model_id
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
        self._dim: int | None = None
        self._submitted = 0
        self._written = 0
        self._closing = False  # close() began: no new submissions
        self._closed = False  # the writer stops once the queue is empty
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="semcached-writer", daemon=True)
        self._thread.start()
        _open.add(self)
        if self.journal is not None:
            self._adopt_orphans()

    # -- the caller's side --------------------------------------------------------------------

    def submit(self, entry: CacheEntry, vector: NDArray[np.float32]) -> bool:
        """Journal and queue one entry; ``False`` (not stored) when the queue is full."""
        flat = np.asarray(vector, dtype=np.float32).reshape(-1)
        with self._lock:
            if self._closing:
                raise BackendError("vector_index", "the cache is closing")
            if self._dim is not None and flat.shape[0] != self._dim:
                raise BackendError(
                    "vector_index",
                    f"a {flat.shape[0]}-dimensional vector among {self._dim}-dimensional ones",
                )
            if len(self._queue) + len(self._in_flight) >= self.max_pending:
                self._stats.incr("write_behind.dropped")
                return False
            write = PendingWrite(entry, flat)
            if self.journal is not None:
                segment = self.journal.append([write.record(self.model_id)])
                write = PendingWrite(entry, flat, segment)
            self._dim = flat.shape[0]
            self._enqueue(write)
        return True

    def nearest(
        self, namespace: str, scope_key: str, query: NDArray[np.float32], k: int, now: float
    ) -> tuple[list[Neighbor], set[str]]:
        """The ``k`` queued entries of the scope nearest ``query`` that are alive at ``now``
        (cosine similarity), and the ids of every queued entry of the namespace (whose older
        copies in the index they replace)."""
        with self._lock:
            found = self._pending.get(namespace)
            writes = list(found.values()) if found else []
        ids = {w.entry.id for w in writes}
        mine = [
            w
            for w in writes
            if w.entry.scope_key == scope_key
            and (w.entry.expires_at is None or w.entry.expires_at > now)
        ]
        if not mine:
            return [], ids
        matrix = np.stack([w.vector for w in mine])
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        norms = np.linalg.norm(matrix, axis=1) * (float(np.linalg.norm(q)) or 1.0)
        sims = (matrix @ q) / np.where(norms == 0, 1.0, norms)
        order = np.argsort(-sims)[:k] if len(mine) > k else np.argsort(-sims)
        return [
            Neighbor(
                id=mine[i].entry.id,
                similarity=float(max(-1.0, min(1.0, sims[i]))),
                metadata=mine[i].entry.metadata(),
                document=mine[i].entry.text,
            )
            for i in order
        ], ids

    def pending(self, namespace: str) -> list[PendingWrite]:
        """The namespace's entries that the index may not have yet."""
        with self._lock:
            found = self._pending.get(namespace)
            return list(found.values()) if found else []

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

    def close(self, timeout_s: float = 10.0) -> None:
        """Refuse new writes, write what is queued (within ``timeout_s``), stop the writer,
        close the journal; what could not be written stays journaled for the next start."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
        try:
            self.flush(timeout_s)
        except BackendError as exc:
            log.warning("closing with writes still queued (kept in the journal): %s", exc)
        with self._lock:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(timeout=1.0)  # a writer stuck in a hung index is a daemon
        with self._lock:
            unwritten = self._written < self._submitted
        if self.journal is not None:
            self.journal.close(keep=unwritten or self.journal.outstanding > 0)
        _open.discard(self)

    # -- the writer thread --------------------------------------------------------------------

    def _enqueue(self, write: PendingWrite) -> None:
        self._queue.append(write)
        self._pending.setdefault(write.entry.namespace, {})[write.entry.id] = write
        self._submitted += 1
        self._changed.notify_all()

    def _take(self) -> list[PendingWrite] | None:
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
            if self.journal is not None:
                self.journal.rotate()  # a segment then never outgrows what is outstanding
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            delay = _RETRY_FIRST_S
            while True:
                try:
                    evicted = self._write(batch)
                except Exception as exc:  # the index is down or failing: keep and retry
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self._stats.incr("write_behind.retries")
                    log.warning("vector write of %d entries failed, retrying: %s", len(batch), exc)
                    with self._lock:
                        # only closing cuts the wait short (new submissions must not)
                        if self._changed.wait_for(lambda: self._closed, timeout=delay):
                            return  # closing without the index: the journal keeps them
                    delay = min(_RETRY_MAX_S, delay * 2)
                    continue
                self.last_error = None
                break
            if evicted:
                self._stats.incr("evictions", evicted)
            self._stats.incr("write_behind.batches")
            self._stats.incr("write_behind.written", len(batch))
            if self.journal is not None:
                self.journal.written(w.segment for w in batch)
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
        """Journal again, and queue, what processes that died left unwritten (of this
        embedding model; another model's records stay for a process of that model)."""
        assert self.journal is not None
        for orphan in self.journal.orphans():
            writes: list[tuple[dict[str, Any], PendingWrite]] = []
            foreign = 0
            for record in orphan.records():
                if record.get("embedder") != self.model_id:
                    foreign += 1
                    continue
                try:
                    writes.append((record, PendingWrite.from_record(record)))
                except (KeyError, TypeError, ValueError) as exc:
                    log.warning("skipping a bad journal record in %s: %s", orphan.path, exc)
            with self._lock:
                if writes and self._dim is None:
                    self._dim = writes[0][1].vector.shape[0]
                fitting = [(r, w) for r, w in writes if w.vector.shape[0] == self._dim]
                if len(fitting) < len(writes):
                    log.warning("skipping %d journal records of another dimension",
                                len(writes) - len(fitting))  # fmt: skip
                for start in range(0, len(fitting), _ADOPT_CHUNK):  # one append per chunk
                    chunk = fitting[start : start + _ADOPT_CHUNK]
                    segment = self.journal.append([record for record, _ in chunk])
                    for _, write in chunk:
                        self._enqueue(PendingWrite(write.entry, write.vector, segment))
                writes = fitting
            if foreign:
                log.warning(
                    "%d journaled writes in %s are of another embedding model; left for a "
                    "process of that model",
                    foreign,
                    orphan.path,
                )
                orphan.release()
            else:
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
