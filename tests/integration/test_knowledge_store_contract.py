"""One contract for every KnowledgeStore: in memory, embedded ChromaDB and a ChromaDB server
behave the same, filters included (ChromaDB's semantics are the reference)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from semcached.index.knowledge import ChromaKnowledgeStore, MemoryKnowledgeStore
from semcached.index.knowledge.store import (
    ChunkRecord,
    ItemRecord,
    KnowledgeCollection,
    KnowledgeStore,
    chunk_id,
)

MODEL = "contract-model"


@pytest.fixture(params=["memory", "embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KnowledgeStore]:
    """The same tests on each implementation (the server one is a real `chroma run`)."""
    if request.param == "memory":
        yield MemoryKnowledgeStore()
    elif request.param == "embedded":
        yield ChromaKnowledgeStore(path=tmp_path / "chroma")
    else:
        request.applymarker(pytest.mark.chroma_server)
        url = request.getfixturevalue("chroma_url")
        # A prefix per test: the server is shared by the session.
        prefix = "c" + str(abs(hash(request.node.nodeid)))[:10]
        yield ChromaKnowledgeStore(url=url, prefix=prefix)


def _unit(rows: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _chunks(item: str, version: str, texts: list[str], **meta: object) -> list[ChunkRecord]:
    return [
        ChunkRecord(
            chunk_id(item, n, version),
            item,
            version,
            n,
            t,
            0,
            len(t),
            dict(meta),  # type: ignore[arg-type]
        )
        for n, t in enumerate(texts)
    ]


def _open(store: KnowledgeStore, namespace: str = "ns", name: str = "docs") -> KnowledgeCollection:
    handle = store.open(namespace, name, model_id=MODEL, create=True)
    assert handle is not None
    return handle


def test_open_creates_only_when_asked_and_lists_one_namespace(store: KnowledgeStore) -> None:
    """A read of a missing collection creates nothing; the registry lists a namespace's own
    collections, never another's; usage round-trips; drop forgets it and a new one has a new
    epoch."""
    assert store.open("ns", "docs", model_id=MODEL) is None
    assert store.entries("ns", model_id=MODEL) == []
    first = _open(store)
    _open(store, "ns", "faq")
    _open(store, "other", "secret")
    assert [e.name for e in store.entries("ns", model_id=MODEL)] == ["docs", "faq"]
    assert [e.name for e in store.entries("other", model_id=MODEL)] == ["secret"]
    assert store.entries("ns", model_id="another-model") == []
    store.set_usage("ns", "docs", model_id=MODEL, items=3, chunks=5, size=70)
    entry = next(e for e in store.entries("ns", model_id=MODEL) if e.name == "docs")
    assert (entry.items, entry.chunks, entry.size, entry.epoch) == (3, 5, 70, first.epoch)
    assert store.drop("ns", "docs", model_id=MODEL) is True
    assert store.drop("ns", "docs", model_id=MODEL) is False
    assert store.open("ns", "docs", model_id=MODEL) is None
    assert [e.name for e in store.entries("ns", model_id=MODEL)] == ["faq"]
    again = _open(store)
    assert again.epoch != first.epoch
    assert again.records(["a"]) == {}


def test_records_are_replaced_whole(store: KnowledgeStore) -> None:
    """A record written again loses the metadata keys it no longer has; text is optional on
    reads; tombstones stay readable; listings show live records only."""
    handle = _open(store)
    record = ItemRecord(
        id="a",
        version="v1",
        text="Alpha text.",
        metadata={"lang": "en", "year": 2020, "ok": True, "score": 0.5},
        content_hash="h1",
        chunks=2,
        size=11,
        seq=100,
    )
    handle.put_records([record, ItemRecord(id="b", pending="p1", dirty=True, seq=5)])
    assert handle.records(["a", "b", "zz"]) == {
        "a": record,
        "b": ItemRecord(id="b", pending="p1", dirty=True, seq=5),
    }
    assert handle.records(["a"], text=False)["a"].text == ""
    replaced = record.but(metadata={"lang": "de"}, stale=("v0:3", "p:1"), seq=200)
    handle.put_records([replaced])
    assert handle.records(["a"])["a"] == replaced
    assert [r.id for r in handle.list_records(10, 0)] == ["a"]
    assert [r.id for r in handle.dirty_records()] == ["b"]
    assert sorted(r.id for r in handle.changed_since(150)) == ["a"]
    assert sorted(r.id for r in handle.changed_since(0)) == ["a", "b"]
    handle.put_records([ItemRecord(id="a", deleted=True, seq=300)])
    assert handle.list_records(10, 0) == []
    assert handle.records(["a"])["a"].deleted
    assert handle.tombstones_before(301) == ["a"]
    assert handle.tombstones_before(300) == []
    handle.delete_records(["a", "b"])
    assert handle.records(["a", "b"]) == {}


def test_revision_changes_on_every_bump(store: KnowledgeStore) -> None:
    handle = _open(store)
    assert handle.revision() == ""
    first = handle.bump_revision()
    assert handle.revision() == first != handle.bump_revision()
    assert handle.records(["__kb_revision__"]) == {}
    assert handle.changed_since(0) == []


def test_chunks_vectors_queries_and_filters(store: KnowledgeStore) -> None:
    """Chunks come back with their text, position, metadata and vector; queries rank by cosine
    similarity and apply where/where_document as ChromaDB does ($ne matches a missing key,
    $contains is case-sensitive)."""
    handle = _open(store)
    rows = [
        *_chunks("a", "v1", ["Insulin lowers glucose.", "Second part."], lang="en", year=2020),
        *_chunks("b#x@y", "v9", ["Statins lower LDL."], lang="de", year=2024),
        *_chunks("c", "v1", ["Nothing in common."]),
    ]
    vectors = _unit(len(rows))
    handle.put_chunks(rows, vectors)
    assert handle.chunk_count() == 4
    assert handle.all_chunk_ids() == sorted(r.id for r in rows)
    got = handle.get_chunks([rows[0].id, rows[2].id, "missing#0@v"])
    assert got == {rows[0].id: rows[0], rows[2].id: rows[2]}
    assert got[rows[2].id].item_id == "b#x@y" and got[rows[2].id].version == "v9"
    stored = handle.get_vectors([rows[1].id])
    np.testing.assert_allclose(stored[rows[1].id], vectors[1], atol=1e-5)

    nearest = handle.query(vectors[2], 4)
    assert nearest[0][0] == rows[2].id and nearest[0][1] == pytest.approx(1.0, abs=1e-4)
    assert [s for _, s in nearest] == sorted((s for _, s in nearest), reverse=True)
    cases = [
        ({"lang": "en"}, None, {rows[0].id, rows[1].id}),
        ({"year": {"$gte": 2021}}, None, {rows[2].id}),
        ({"lang": {"$ne": "en"}}, None, {rows[2].id, rows[3].id}),
        ({"lang": {"$nin": ["de"]}}, None, {rows[0].id, rows[1].id, rows[3].id}),
        ({"$or": [{"lang": "de"}, {"year": {"$lt": 2021}}]}, None, {r.id for r in rows[:3]}),
        ({"year": 2020.0}, None, {rows[0].id, rows[1].id}),
        (None, {"$contains": "lower"}, {rows[0].id, rows[2].id}),
        (None, {"$contains": "Lower"}, set()),
        (None, {"$regex": "^S"}, {rows[1].id, rows[2].id}),
        ({"lang": "en"}, {"$not_contains": "Second"}, {rows[0].id}),
    ]
    for where, where_document, expected in cases:
        found = handle.query(vectors[0], 10, where=where, where_document=where_document)
        assert {c for c, _ in found} == expected, (where, where_document)
        direct = handle.get_chunks([r.id for r in rows], where=where, where_document=where_document)
        assert set(direct) == expected, (where, where_document)
    handle.delete_chunks([rows[0].id, "missing#0@v"])
    assert rows[0].id not in handle.get_chunks([rows[0].id])
    assert handle.chunk_count() == 3


def test_batches_larger_than_one_write(store: KnowledgeStore) -> None:
    """Writes and reads of more rows than one database call takes are split, not refused."""
    handle = _open(store)
    count = 6000  # above ChromaDB's 5,461 records per write
    rows = [ChunkRecord(f"i{n}#0@v", f"i{n}", "v", 0, f"text {n}", 0, 6) for n in range(count)]
    handle.put_chunks(rows, _unit(count, dim=4))
    assert handle.chunk_count() == count
    assert len(handle.get_chunks([r.id for r in rows])) == count
    handle.put_records([ItemRecord(id=f"i{n}", version="v", seq=n) for n in range(count)])
    assert len(handle.records([f"i{n}" for n in range(count)], text=False)) == count
    assert len(handle.changed_since(0)) == count
