"""The lexical index: BM25 over chunk texts in tantivy, on local disk, following the store.

The store (ChromaDB) is the record; this index is a local, persistent follower of it, one per
knowledge collection: a tantivy index (``cid``, ``item`` and the tokenised ``terms`` of each
chunk of each item's committed version) and a small SQLite file with the version of every
indexed item and where the index stands (the store's revision and a cursor over the records'
``seq``). It is

* **incremental**: a write through this process updates it in place; other processes' writes
  are found by asking the store for the records changed since the cursor (when its revision
  token moved), never by rebuilding;
* **persistent**: a restart opens it where it was and catches up the same way;
* **bounded in memory**: tantivy reads its segments memory-mapped and its writer has a fixed
  heap; the version map lives in SQLite;
* **correct with several writers**: records carry the time of their change, a change older
  than what is indexed for that item is ignored, and a catch-up re-reads a window
  (``margin_ms``) before the cursor for changes that became visible late. Processes on one host
  may share a directory: tantivy's writer lock serialises them.

Tokens are ours (:class:`~semcached.index.knowledge.bm25.Tokenizer`: lower-cased, stopwords
dropped, Porter-stemmed), so tantivy only splits on spaces. tantivy finds the best candidates
(block-max WAND over its BM25, whose document lengths are rounded to one byte); they are then
scored exactly with Lucene's BM25 (``k1``, ``b``; 1.2 and 0.75 by default) from their stored
terms, tantivy's document frequencies and the exact average length, so rankings equal the
reference :class:`~semcached.index.knowledge.bm25.BM25Index`. Measured against it, bm25s and
SQLite FTS5: ``benchmarks/knowledge_lexical.py``.

Example::

    index = LexicalIndex(Path("/var/lib/semcached/lexical/docs"))
    index.sync(handle, now_ms=now())                 # catch up with the store
    index.search("insulin resistance", limit=10)     # [("a#0@3f2a...", 7.1), ...]
"""

from __future__ import annotations

import logging
import math
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tantivy

from semcached.index.knowledge.bm25 import Tokenizer
from semcached.index.knowledge.store import KnowledgeCollection, chunk_ids

__all__ = ["Change", "LexicalBusyError", "LexicalIndex", "SyncReport"]

log = logging.getLogger("semcached.knowledge")

_HEAP = 15_000_000  # tantivy's smallest writer heap: memory stays bounded
_APPLY_BATCH = 2000


class LexicalBusyError(RuntimeError):
    """Another process held the index's writer for longer than ``lock_timeout_s``."""


@dataclass(frozen=True, slots=True)
class Change:
    """An item's new committed version (``version`` "" for a delete) and its chunks' texts."""

    item_id: str
    version: str
    seq: int
    chunks: Sequence[tuple[str, str]] = ()


@dataclass(slots=True)
class SyncReport:
    """What a catch-up did."""

    full: bool = False
    checked: int = 0
    applied: int = 0
    seconds: float = 0.0
    skipped: bool = False


@dataclass(slots=True)
class _State:
    epoch: str = ""
    revision: str = ""
    cursor: int = 0
    synced_at: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("cid", stored=True, tokenizer_name="raw")
    builder.add_text_field("item", tokenizer_name="raw")
    builder.add_text_field("terms", stored=True, tokenizer_name="whitespace", index_option="freq")
    return builder.build()


class LexicalIndex:
    """BM25 over one knowledge collection's committed chunks, in ``path`` (or in memory)."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        tokenizer: Tokenizer | None = None,
        k1: float = 1.2,
        b: float = 0.75,
        lock_timeout_s: float = 30.0,
    ) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.path = Path(path) if path is not None else None
        self.tokenizer = tokenizer or Tokenizer()
        self.k1 = k1
        self.b = b
        self._stats: tuple[int, float] | None = None
        self.lock_timeout_s = lock_timeout_s
        self._schema = _schema()
        self._lock = threading.RLock()
        self._open()

    def _open(self) -> None:
        if self.path is None:
            self._index: Any = tantivy.Index(self._schema)
            self._db = sqlite3.connect(":memory:", check_same_thread=False)
            self._tables()
        else:
            try:
                self._open_files(self.path)
            except (ValueError, sqlite3.DatabaseError) as exc:
                # Written by an older layout (or damaged): it is only a cache, rebuild it.
                log.warning("lexical index %s: %s; rebuilding it from the store", self, exc)
                shutil.rmtree(self.path, ignore_errors=True)
                self._open_files(self.path)

    def _open_files(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "tantivy").mkdir(exist_ok=True)
        self._index = tantivy.Index(self._schema, path=str(path / "tantivy"))
        self._db = sqlite3.connect(
            str(path / "versions.sqlite"), timeout=30, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._tables()
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(items)")}
        if not {"chunks", "length"} <= columns:
            self._db.close()
            raise ValueError(f"version map of an older layout (columns {sorted(columns)})")

    def _tables(self) -> None:
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS items (item_id TEXT PRIMARY KEY, version TEXT NOT "
                "NULL, seq INTEGER NOT NULL, chunks INTEGER NOT NULL DEFAULT 0, length INTEGER "
                "NOT NULL DEFAULT 0)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        return int(self._index.searcher().num_docs)

    # -- reads --------------------------------------------------------------------------------

    def _query(self, terms: Iterable[str]) -> Any:
        clauses = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "terms", term))
            for term in terms
        ]
        return tantivy.Query.boolean_query(clauses)

    def _average_length(self) -> float:
        """The exact mean token count of the indexed chunks (cached until the next change)."""
        with self._lock:
            if self._stats is None:
                chunks, length = self._db.execute(
                    "SELECT COALESCE(SUM(chunks), 0), COALESCE(SUM(length), 0) FROM items "
                    "WHERE version != ''"
                ).fetchone()
                self._stats = (int(chunks), float(length))
            chunks, length = self._stats
        return length / chunks if chunks and length else 1.0

    def _exact(
        self, searcher: Any, terms: list[str], docs: list[tuple[str, str]]
    ) -> dict[str, float]:
        """Lucene's BM25 of each (chunk id, stored terms), with this index's k1 and b."""
        wanted = Counter(terms)
        n = max(1, int(searcher.num_docs))
        idf = {}
        for term in wanted:
            # tantivy counts deleted documents until their segment is merged (as Lucene does):
            # never let that make a document frequency exceed the live count.
            df = min(int(searcher.doc_freq("terms", term)), n)
            idf[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        average = self._average_length()
        k1, b = self.k1, self.b
        scores: dict[str, float] = {}
        for cid, stored in docs:
            tokens = stored.split()
            counts = Counter(tokens)
            norm = k1 * (1 - b + b * len(tokens) / average)
            total = 0.0
            for term, query_tf in wanted.items():
                tf = counts.get(term, 0)
                if tf:
                    total += idf[term] * (k1 + 1) * query_tf * tf / (tf + norm)
            scores[cid] = total
        return scores

    def search(self, query: str, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` best chunks for ``query`` with a positive score, best first (ties by
        id, so the order is stable)."""
        terms = self.tokenizer(query)
        if not terms or limit <= 0:
            return []
        searcher = self._index.searcher()
        hits = searcher.search(self._query(terms), limit, count=False).hits
        docs = []
        for _, address in hits:
            doc = searcher.doc(address)
            docs.append((doc["cid"][0], (doc["terms"] or [""])[0]))
        scores = self._exact(searcher, terms, docs)
        ranked = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))
        return [(cid, score) for cid, score in ranked if score > 0]

    def score(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        """The BM25 score of each of ``ids`` that is indexed (0.0 when no term matches)."""
        terms = self.tokenizer(query)
        if not ids:
            return {}
        searcher = self._index.searcher()
        only = tantivy.Query.term_set_query(self._schema, "cid", list(ids))
        hits = searcher.search(only, len(ids), count=False).hits
        docs = []
        for _, address in hits:
            doc = searcher.doc(address)
            docs.append((doc["cid"][0], (doc["terms"] or [""])[0]))
        return self._exact(searcher, terms, docs) if terms else {c: 0.0 for c, _ in docs}

    def versions(self, item_ids: Sequence[str]) -> dict[str, str]:
        """The indexed (committed) version of each of ``item_ids`` that has one."""
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(item_ids), 500):
                batch = list(item_ids[start : start + 500])
                marks = ",".join("?" * len(batch))
                rows = self._db.execute(
                    f"SELECT item_id, version FROM items WHERE item_id IN ({marks}) "
                    "AND version != ''",
                    batch,
                )
                found.update(rows)
        return found

    # -- writes -------------------------------------------------------------------------------

    def _writer(self) -> Any:
        deadline = time.monotonic() + self.lock_timeout_s
        while True:
            try:
                return self._index.writer(_HEAP, 1)
            except ValueError as exc:
                if "LockBusy" not in str(exc) or time.monotonic() > deadline:
                    raise LexicalBusyError(
                        f"lexical index {self}: no writer within {self.lock_timeout_s} s ({exc})"
                    ) from exc
                time.sleep(0.05)

    def apply(self, changes: Sequence[Change]) -> int:
        """Index new versions and deletes; a change older than the indexed one is ignored.
        Returns how many were applied; :class:`LexicalBusyError` when another process holds
        the writer too long (a later sync catches up)."""
        if not changes:
            return 0
        with self._lock:
            writer = self._writer()
            try:
                return self._apply(writer, changes)
            finally:
                writer.wait_merging_threads()
                self._index.reload()

    def _apply(self, writer: Any, changes: Sequence[Change]) -> int:
        latest: dict[str, Change] = {}
        for change in changes:
            seen = latest.get(change.item_id)
            if seen is None or change.seq >= seen.seq:
                latest[change.item_id] = change
        ids = list(latest)
        known: dict[str, int] = {}
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            marks = ",".join("?" * len(batch))
            known.update(
                self._db.execute(
                    f"SELECT item_id, seq FROM items WHERE item_id IN ({marks})", batch
                )
            )
        todo = [c for c in latest.values() if c.seq >= known.get(c.item_id, -1)]
        lengths: dict[str, int] = {}
        for change in todo:
            writer.delete_documents_by_term("item", change.item_id)
            length = 0
            for cid, text in change.chunks:
                tokens = self.tokenizer(text)
                length += len(tokens)
                writer.add_document(
                    tantivy.Document(cid=cid, item=change.item_id, terms=" ".join(tokens))
                )
            lengths[change.item_id] = length
        writer.commit()
        with self._db:
            self._db.executemany(
                "INSERT INTO items (item_id, version, seq, chunks, length) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(item_id) DO UPDATE SET version = excluded.version, seq = "
                "excluded.seq, chunks = excluded.chunks, length = excluded.length "
                "WHERE excluded.seq >= items.seq",
                [(c.item_id, c.version, c.seq, len(c.chunks), lengths[c.item_id]) for c in todo],
            )
        self._stats = None
        return len(todo)

    def advance(self, handle: KnowledgeCollection, before: str, after: str, seq: int) -> bool:
        """After this process's own write (already applied): when the store's revision was
        ``before`` as this index last saw it, take ``after`` and ``seq`` as caught up, so the
        next sync has nothing to re-read. Returns whether it could."""
        with self._lock:
            state = self._state()
            if state.epoch != handle.epoch or state.revision != before or not state.synced_at:
                return False
            state.revision = after
            state.cursor = max(state.cursor, seq)
            self._save(state)
            return True

    @property
    def synced(self) -> bool:
        """Whether this index has caught up with its store at least once."""
        with self._lock:
            return bool(self._state().synced_at)

    def clear(self) -> None:
        """Forget everything (the next sync rebuilds from the store)."""
        with self._lock:
            writer = self._writer()
            writer.delete_all_documents()
            writer.commit()
            writer.wait_merging_threads()
            self._index.reload()
            with self._db:
                self._db.execute("DELETE FROM items")
                self._db.execute("DELETE FROM state")
            self._stats = None

    # -- following the store ------------------------------------------------------------------

    def _state(self) -> _State:
        values = dict(self._db.execute("SELECT key, value FROM state"))
        return _State(
            epoch=values.pop("epoch", ""),
            revision=values.pop("revision", ""),
            cursor=int(values.pop("cursor", "0")),
            synced_at=int(values.pop("synced_at", "0")),
            extra=values,
        )

    def _save(self, state: _State) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                [
                    ("epoch", state.epoch),
                    ("revision", state.revision),
                    ("cursor", str(state.cursor)),
                    ("synced_at", str(state.synced_at)),
                ],
            )

    def sync(
        self,
        handle: KnowledgeCollection,
        *,
        now_ms: int,
        margin_ms: int = 30_000,
        horizon_ms: int | None = None,
    ) -> SyncReport:
        """Catch up with the store: apply every record changed since the cursor (minus
        ``margin_ms``, for changes that became visible late). A first sync, another epoch
        (the collection was dropped and made again) or a cursor older than ``horizon_ms``
        (tombstones may be gone) rebuilds the index from the store."""
        started = time.perf_counter()
        report = SyncReport()
        with self._lock:
            self._index.reload()
            self._stats = None  # another process sharing the folder may have changed it
            state = self._state()
            revision = handle.revision()
            if state.epoch == handle.epoch and state.revision == revision and state.synced_at:
                report.skipped = True
                return report
            stale = horizon_ms is not None and now_ms - state.synced_at > horizon_ms - margin_ms
            report.full = state.epoch != handle.epoch or not state.synced_at or stale
            if report.full:
                self.clear()
                state = _State(epoch=handle.epoch)
            since = 0 if report.full else max(0, state.cursor - margin_ms)
            records = handle.changed_since(since)
            report.checked = len(records)
            indexed = self.versions([r.id for r in records])
            todo = [
                r
                for r in records
                if (r.live and indexed.get(r.id) != r.version)
                or (not r.live and r.deleted and r.id in indexed)
            ]
            for start in range(0, len(todo), _APPLY_BATCH):
                batch = todo[start : start + _APPLY_BATCH]
                wanted = [c for r in batch if r.live for c in chunk_ids(r.id, r.version, r.chunks)]
                texts = handle.get_chunks(wanted)
                changes = [
                    Change(
                        r.id,
                        r.version if r.live else "",
                        r.seq,
                        [
                            (c, texts[c].text)
                            for c in chunk_ids(r.id, r.version, r.chunks)
                            if c in texts
                        ]
                        if r.live
                        else (),
                    )
                    for r in batch
                ]
                report.applied += self.apply(changes)
            state.revision = revision
            state.cursor = max([state.cursor, *(r.seq for r in records)])
            state.synced_at = now_ms
            self._save(state)
        report.seconds = time.perf_counter() - started
        if report.full or report.applied:
            log.info(
                "lexical index %s: %s, %d records checked, %d applied in %.2f s",
                self,
                "rebuilt" if report.full else "caught up",
                report.checked,
                report.applied,
                report.seconds,
            )
        return report

    def destroy(self) -> None:
        """Close and delete the index's files (its collection was dropped)."""
        with self._lock:
            self._db.close()
            if self.path is not None:
                shutil.rmtree(self.path, ignore_errors=True)

    def __repr__(self) -> str:
        return f"LexicalIndex({str(self.path) if self.path else 'memory'})"
