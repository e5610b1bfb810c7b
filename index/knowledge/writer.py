"""Writes that keep the acknowledged version: how an item changes, survives a crash, is repaired.

Each write of an item makes a new **version** (a hash of the item id, its text, chunking, model
and metadata), whose chunks get fresh ids ``{item_id}#{n}@{version}``. For a batch of items:

1. **intent**: each record keeps its committed version and text and names the ``pending``
   version (with its chunk count, the time and this writer), marked ``dirty``;
2. **chunks**: the new version's chunks are embedded and written (for a metadata-only change
   the stored vectors are copied, nothing is embedded); none is visible, since search shows a
   chunk only when its version is the record's committed one;
3. **commit**: each record is replaced, in one atomic row write, by the new version (text,
   metadata, hash, chunk count, ``seq``), listing the old version's chunks as ``stale``;
4. **clean-up**: the stale chunks are deleted and the record's ``dirty`` mark cleared; the
   store's revision token moves, and the local lexical index is updated.

A crash before 3 leaves the acknowledged version whole and searched; the new chunks are
invisible and :meth:`Writer.recover` (run on a collection's first write in a process, and by
``KnowledgeBase.recover``) deletes them: a roll-back, the caller never had an answer. A crash
after 3 leaves the new version complete, and recovery finishes the clean-up. A pending version
another writer started less than ``grace_ms`` ago is left alone: it may still be in flight.
A delete writes a tombstone (so other processes learn of it) and cleans up the same way.

``on_step`` (tests) is called after each step with its name, to inject failures between them.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from semcached.embeddings.base import Embedder
from semcached.index.knowledge.chunking import Chunker
from semcached.index.knowledge.lexical import Change
from semcached.index.knowledge.store import (
    ChunkRecord,
    ItemRecord,
    KnowledgeCollection,
    chunk_id,
    chunk_ids,
)
from semcached.index.knowledge.types import Item, UpsertReport

__all__ = ["Usage", "Writer", "Written", "now_ms"]


def now_ms() -> int:
    """Wall-clock milliseconds: records' ``seq`` are compared across processes."""
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class Usage:
    """What a collection holds (or a change to it): items, chunks and text bytes."""

    items: int = 0
    chunks: int = 0
    size: int = 0

    def add(self, other: Usage) -> None:
        self.items += other.items
        self.chunks += other.chunks
        self.size += other.size


@dataclass(frozen=True, slots=True)
class Written:
    """What one write did, for the local lexical index: the changes, the store's revision
    before and after it, and the change to the collection's usage."""

    changes: list[Change]
    usage: Usage
    before: str = ""
    after: str = ""
    seq: int = 0


@dataclass(slots=True)
class _Plan:
    item: Item
    old: ItemRecord | None
    version: str
    content_hash: str
    size: int
    reuse: bool  # same text: copy the stored vectors instead of embedding


def _stale_set(version: str, count: int) -> str:
    return f"{version}:{count}"


def _stale_ids(item_id: str, sets: Sequence[str]) -> list[str]:
    ids: list[str] = []
    for entry in sets:
        version, _, count = entry.rpartition(":")
        if version and count.isdigit():
            ids.extend(chunk_ids(item_id, version, int(count)))
    return ids


class Writer:
    """Runs the versioned write protocol on one collection at a time (the caller locks it)."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        chunker: Chunker,
        embed_batch: int = 256,
        grace_ms: int = 120_000,
        tombstone_ttl_ms: int = 7 * 24 * 3600 * 1000,
        clock: Callable[[], int] = now_ms,
        on_step: Callable[[str], None] | None = None,
    ) -> None:
        self.embedder = embedder
        self.chunker = chunker
        self.embed_batch = max(1, embed_batch)
        self.grace_ms = grace_ms
        self.tombstone_ttl_ms = tombstone_ttl_ms
        self.clock = clock
        self.on_step = on_step
        self.id = secrets.token_hex(6)

    def _step(self, name: str) -> None:
        if self.on_step is not None:
            self.on_step(name)

    def content_hash(self, item: Item) -> tuple[str, str]:
        """(text hash, metadata hash): the text hash covers the chunking and the model too."""
        text_key = f"{self.chunker.fingerprint}\0{self.embedder.model_id}\0{item.text}"
        meta_key = json.dumps(dict(item.metadata), sort_keys=True, ensure_ascii=False)
        return (
            xxhash.xxh3_128_hexdigest(text_key.encode("utf-8")),
            xxhash.xxh3_64_hexdigest(meta_key.encode("utf-8")),
        )

    def _abandoned(self, record: ItemRecord, now: int) -> list[str]:
        """The record's leftover chunk sets that are safe to delete now."""
        sets = list(record.stale)
        if record.pending and record.pending != record.version:
            mine = record.writer == self.id
            if mine or now - record.pending_at >= self.grace_ms:
                sets.append(_stale_set(record.pending, record.pending_chunks))
        return sets

    # -- upsert -------------------------------------------------------------------------------

    def plan(
        self, handle: KnowledgeCollection, batch: Sequence[Item], report: UpsertReport
    ) -> tuple[list[_Plan], Usage]:
        """What to write for ``batch`` (unchanged items are counted and dropped), and how the
        collection's usage would change."""
        records = handle.records([item.id for item in batch])
        plans: list[_Plan] = []
        delta = Usage()
        for item in batch:
            text_hash, meta_hash = self.content_hash(item)
            full = f"{text_hash}:{meta_hash}"
            old = records.get(item.id)
            live = old is not None and old.live
            if old is not None and live and old.content_hash == full:
                report.unchanged += 1
                continue
            version = xxhash.xxh3_64_hexdigest(f"{item.id}\0{full}".encode())
            reuse = bool(old is not None and live and old.content_hash.split(":")[0] == text_hash)
            size = len(item.text.encode("utf-8"))
            plans.append(_Plan(item, old, version, full, size, reuse))
            delta.items += 0 if live else 1
            delta.size += size - (old.size if old is not None and live else 0)
        return plans, delta

    def write(
        self, handle: KnowledgeCollection, plans: Sequence[_Plan], report: UpsertReport
    ) -> Written:
        """Run the protocol for ``plans``."""
        if not plans:
            return Written([], Usage())
        before = handle.revision()
        now = self.clock()
        started = time.perf_counter()
        chunks = {p.item.id: self._chunks(p) for p in plans if not p.reuse}
        reused = self._reuse(handle, [p for p in plans if p.reuse])
        for p in plans:
            if p.reuse and p.item.id not in reused:
                p.reuse = False  # the stored vectors are gone: embed again
                chunks[p.item.id] = self._chunks(p)
        report.add_time("chunk", time.perf_counter() - started)
        counts = {p.item.id: len(chunks.get(p.item.id) or reused[p.item.id][0]) for p in plans}

        # 1. intent
        started = time.perf_counter()
        intents = [
            (p.old or ItemRecord(id=p.item.id)).but(
                pending=p.version,
                pending_chunks=counts[p.item.id],
                pending_at=now,
                writer=self.id,
                dirty=True,
                stale=tuple(self._abandoned(p.old, now)) if p.old else (),
            )
            for p in plans
        ]
        handle.put_records(intents)
        report.add_time("store", time.perf_counter() - started)
        self._step("intent")

        # 2. chunks
        self._write_chunks(handle, [c for p in plans for c in chunks.get(p.item.id, [])], report)
        started = time.perf_counter()
        for rows, vectors in reused.values():
            handle.put_chunks(rows, vectors)
        report.add_time("store", time.perf_counter() - started)
        self._step("chunks")

        # 3. commit
        started = time.perf_counter()
        seq = self.clock()
        committed: list[ItemRecord] = []
        for p, intent in zip(plans, intents, strict=True):
            stale = list(intent.stale)
            if p.old is not None and p.old.version and p.old.version != p.version:
                stale.append(_stale_set(p.old.version, p.old.chunks))
            committed.append(
                ItemRecord(
                    id=p.item.id,
                    version=p.version,
                    text=p.item.text,
                    metadata=dict(p.item.metadata),
                    content_hash=p.content_hash,
                    chunks=counts[p.item.id],
                    size=p.size,
                    seq=seq,
                    writer=self.id,
                    dirty=True,
                    stale=tuple(stale),
                )
            )
        handle.put_records(committed)
        self._step("commit")

        # 4. clean-up
        removed = [c for r in committed for c in _stale_ids(r.id, r.stale)]
        handle.delete_chunks(removed)
        handle.put_records([r.but(writer="", dirty=False, stale=()) for r in committed])
        after = handle.bump_revision()
        report.add_time("store", time.perf_counter() - started)
        self._step("cleanup")

        delta = Usage(chunks=sum(counts.values()))
        for p in plans:
            if p.old is not None and p.old.live:
                delta.chunks -= p.old.chunks
        report.written += sum(1 for p in plans if not p.reuse)
        report.metadata_only += sum(1 for p in plans if p.reuse)
        report.chunks += sum(counts[p.item.id] for p in plans if not p.reuse)
        report.removed_chunks += sum(
            max(0, p.old.chunks - counts[p.item.id])
            for p in plans
            if p.old is not None and p.old.live
        )
        changes = [
            Change(
                r.id,
                r.version,
                seq,
                [(c.id, c.text) for c in chunks.get(r.id) or reused[r.id][0]],
            )
            for r in committed
        ]
        return Written(changes, delta, before, after, seq)

    def _chunks(self, plan: _Plan) -> list[ChunkRecord]:
        item = plan.item
        return [
            ChunkRecord(
                id=chunk_id(item.id, chunk.index, plan.version),
                item_id=item.id,
                version=plan.version,
                index=chunk.index,
                text=chunk.text,
                start=chunk.start,
                end=chunk.end,
                metadata=dict(item.metadata),
            )
            for chunk in self.chunker.split(item.text)
        ]

    def _reuse(
        self, handle: KnowledgeCollection, plans: Sequence[_Plan]
    ) -> dict[str, tuple[list[ChunkRecord], np.ndarray]]:
        """New chunk rows (new version, new metadata) over the stored chunks and vectors."""
        if not plans:
            return {}
        old_ids = {
            p.item.id: chunk_ids(p.item.id, p.old.version, p.old.chunks) for p in plans if p.old
        }
        wanted = [c for ids in old_ids.values() for c in ids]
        rows = handle.get_chunks(wanted)
        vectors = handle.get_vectors(wanted)
        found: dict[str, tuple[list[ChunkRecord], np.ndarray]] = {}
        for p in plans:
            ids = old_ids.get(p.item.id, [])
            if not ids or any(c not in rows or c not in vectors for c in ids):
                continue
            new_rows = [
                ChunkRecord(
                    id=chunk_id(p.item.id, rows[c].index, p.version),
                    item_id=p.item.id,
                    version=p.version,
                    index=rows[c].index,
                    text=rows[c].text,
                    start=rows[c].start,
                    end=rows[c].end,
                    metadata=dict(p.item.metadata),
                )
                for c in ids
            ]
            found[p.item.id] = (new_rows, np.stack([vectors[c] for c in ids]))
        return found

    def _write_chunks(
        self, handle: KnowledgeCollection, rows: Sequence[ChunkRecord], report: UpsertReport
    ) -> None:
        for start in range(0, len(rows), self.embed_batch):
            batch = rows[start : start + self.embed_batch]
            began = time.perf_counter()
            vectors = self.embedder.embed([row.text for row in batch])
            report.add_time("embed", time.perf_counter() - began)
            began = time.perf_counter()
            handle.put_chunks(batch, vectors)
            report.add_time("store", time.perf_counter() - began)

    # -- delete -------------------------------------------------------------------------------

    def delete(self, handle: KnowledgeCollection, ids: Sequence[str]) -> Written:
        """Tombstone the live items among ``ids`` and delete their chunks."""
        records = handle.records(list(ids), text=False)
        present = [r for r in records.values() if r.live]
        if not present:
            return Written([], Usage())
        before = handle.revision()
        now = self.clock()
        tombstones = [
            ItemRecord(
                id=r.id,
                seq=now,
                writer=self.id,
                deleted=True,
                dirty=True,
                stale=(*self._abandoned(r, now), _stale_set(r.version, r.chunks)),
            )
            for r in present
        ]
        handle.put_records(tombstones)
        self._step("commit")
        handle.delete_chunks([c for t in tombstones for c in _stale_ids(t.id, t.stale)])
        handle.put_records([t.but(writer="", dirty=False, stale=()) for t in tombstones])
        after = handle.bump_revision()
        self._step("cleanup")
        usage = Usage(
            items=-len(present),
            chunks=-sum(r.chunks for r in present),
            size=-sum(r.size for r in present),
        )
        return Written([Change(t.id, "", now) for t in tombstones], usage, before, after, now)

    # -- recovery -----------------------------------------------------------------------------

    def recover(self, handle: KnowledgeCollection) -> int:
        """Roll back interrupted writes, finish interrupted clean-ups, drop old tombstones.
        Returns how many records were repaired."""
        now = self.clock()
        # Another writer's record younger than the grace period may still be in flight.
        dirty = [
            r
            for r in handle.dirty_records()
            if r.writer == self.id or now - max(r.pending_at, r.seq) >= self.grace_ms
        ]
        if dirty:
            # Re-read with their text: a record is always written back whole.
            full = handle.records([r.id for r in dirty])
            handle.delete_chunks(
                [c for r in full.values() for c in _stale_ids(r.id, self._abandoned(r, now))]
            )
            keep = [r for r in full.values() if r.version or r.deleted]
            handle.delete_records([r.id for r in full.values() if not (r.version or r.deleted)])
            handle.put_records(
                [
                    r.but(
                        pending="", pending_chunks=0, pending_at=0, writer="", stale=(), dirty=False
                    )
                    for r in keep
                ]
            )
        expired = handle.tombstones_before(now - self.tombstone_ttl_ms)
        handle.delete_records(expired)
        return len(dirty)
