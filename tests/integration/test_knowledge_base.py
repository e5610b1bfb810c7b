"""KnowledgeBase with the real model on embedded ChromaDB and on a ChromaDB server.

The hand-written corpus (semcached/data/knowledge_sample.jsonl) is ingested once per module;
tests that write use their own collections.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from semcached import KnowledgeBase
from semcached.embeddings import SentenceTransformerEmbedder, Vectors
from semcached.errors import EmbeddingError, InvalidRequestError
from semcached.index.knowledge import ChromaKnowledgeStore
from semcached.index.knowledge.base import CollectionNotFoundError, Item
from semcached.index.knowledge.store import parse_chunk_id
from tests.knowledge_support import LONG, sample_items
from tests.recording import WrappedEmbedder

pytestmark = [pytest.mark.model]


class CountingEmbedder(WrappedEmbedder):
    """The real model, counting what it embeds; fails once ``fail_after`` calls are spent."""

    def __init__(self, inner: SentenceTransformerEmbedder, fail_after: int | None = None) -> None:
        super().__init__(inner)
        self.texts = 0
        self.calls = 0
        self.fail_after = fail_after

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise EmbeddingError("simulated crash in the middle of an ingest")
        self.calls += 1
        self.texts += len(texts)
        return self.inner.embed(texts)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kb")


@pytest.fixture(scope="module")
def backend(folder: Path) -> ChromaKnowledgeStore:
    return ChromaKnowledgeStore(path=folder / "chroma")


@pytest.fixture(scope="module")
def kb(
    st_embedder: SentenceTransformerEmbedder, backend: ChromaKnowledgeStore, folder: Path
) -> KnowledgeBase:
    """The sample corpus in collection "sample" of namespace "default"."""
    base = KnowledgeBase(
        embedder=st_embedder, store=backend, lexical_dir=folder / "lexical", refresh_s=0
    )
    report = base.upsert(sample_items(), collection="sample")
    assert report.written == len(sample_items())
    return base


@pytest.fixture
def counting(st_embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(st_embedder)


@pytest.fixture
def fresh(
    counting: CountingEmbedder,
    backend: ChromaKnowledgeStore,
    folder: Path,
    request: pytest.FixtureRequest,
) -> Iterator[tuple[KnowledgeBase, str]]:
    """A knowledge base over a counting embedder, and a collection name unique to the test."""
    name = request.node.name.replace("[", "-").replace("]", "")[:50].strip("_-") or "t"
    base = KnowledgeBase(
        embedder=counting,
        store=backend,
        lexical_dir=folder / "lexical",
        batch_size=4,
        refresh_s=0,
        recovery_grace_s=0,
    )
    yield base, name
    base.drop_collection(name)


def test_search_finds_paraphrases_in_every_mode(kb: KnowledgeBase) -> None:
    """A paraphrase is found by meaning; a shared word by BM25; hybrid gets both right."""
    query = "I forgot my password, how do I get a new one?"
    dense = kb.search(query, k=3, mode="dense", collection="sample")
    assert dense.ids[0] == "acct-reset-password"
    assert 0 < dense.hits[0].score == dense.hits[0].similarity <= 1
    hybrid = kb.search(query, k=3, collection="sample")
    assert hybrid.ids[0] == "acct-reset-password"
    top = hybrid.hits[0]
    assert top.similarity is not None and top.lexical_score is not None
    assert 0 < top.score <= 1
    lexical = kb.search("password", k=3, mode="lexical", collection="sample")
    assert lexical.ids[0] == "acct-reset-password"
    assert lexical.hits[0].similarity is None and lexical.hits[0].lexical_score


def test_hybrid_fusion_ranks_an_exact_code_first(kb: KnowledgeBase) -> None:
    """An error code is a word the model barely understands: BM25 finds it, and hybrid keeps
    it first; every hybrid hit carries both scores, even when one ranker missed it."""
    query = "what does E2210 mean"
    lexical = kb.search(query, k=5, mode="lexical", collection="sample")
    hybrid = kb.search(query, k=5, mode="hybrid", collection="sample")
    assert lexical.ids[0] == "err-e2210"
    assert hybrid.ids[0] == "err-e2210"
    assert hybrid.hits[0].lexical_rank == 1
    for hit in hybrid.hits:
        assert hit.similarity is not None and hit.lexical_score is not None
        assert hit.chunks and hit.chunks[0].text
    scores = [hit.score for hit in hybrid.hits]
    assert scores == sorted(scores, reverse=True)


def test_results_carry_chunks_metadata_and_positions(kb: KnowledgeBase) -> None:
    """Long items are chunked; a hit names the chunk, where it lies in the item, its metadata."""
    stored = kb.get("manual-espresso", collection="sample")
    assert stored is not None and not stored.pending and stored.chunks >= 2
    result = kb.search(
        "the display shows F7, the boiler is not heating",
        k=1,
        collection="sample",
        chunks_per_item=2,
    )
    hit = result.hits[0]
    assert hit.id == "manual-espresso"
    assert hit.metadata == {"topic": "appliance", "lang": "en", "year": 2023}
    assert len(hit.chunks) == 2
    assert "F7" in hit.chunks[0].text
    for chunk in hit.chunks:
        assert stored.text[chunk.start : chunk.end] == chunk.text
    assert set(result.timings_ms) >= {"embed", "dense", "lexical", "total"}


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_filters_apply_in_every_mode(kb: KnowledgeBase, mode: str) -> None:
    where = {"$and": [{"topic": "cooking"}, {"year": {"$gte": 2020}}]}
    result = kb.search("bread dough yeast rice", k=10, mode=mode, collection="sample", where=where)
    assert result.ids
    for hit in result.hits:
        assert hit.metadata["topic"] == "cooking" and hit.metadata["year"] >= 2020
    assert "cook-knife" not in result.ids  # 2019
    text = kb.search(
        "creamy rice",
        k=10,
        mode=mode,
        collection="sample",
        where_document={"$contains": "arborio"},
    )
    assert text.ids == ["cook-risotto"]


def test_min_score_drops_weak_hits(kb: KnowledgeBase) -> None:
    everything = kb.search("telescope planets", k=10, mode="dense", collection="sample")
    strict = kb.search("telescope planets", k=10, mode="dense", collection="sample", min_score=0.4)
    assert strict.ids and len(strict.ids) < len(everything.ids)
    assert all(hit.score >= 0.4 for hit in strict.hits)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": "  "}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 201}, "k"),
        ({"query": "x", "mode": "fuzzy"}, "mode"),
        ({"query": "x", "where": {"year": {"$gtx": 1}}}, "where.year.$gtx"),
        ({"query": "x", "where_document": {"$has": "a"}}, "where_document.$has"),
        ({"query": "x", "chunks_per_item": 0}, "chunks_per_item"),
        ({"query": "x", "collection": "no such/name"}, "collection"),
        ({"query": "x", "collection": "never-written"}, "collection"),
    ],
)
def test_bad_search_arguments_name_the_field(
    kb: KnowledgeBase, kwargs: dict[str, Any], field: str
) -> None:
    kwargs.setdefault("collection", "sample")
    with pytest.raises(InvalidRequestError) as caught:
        kb.search(**kwargs)
    assert caught.value.field == field


def test_reads_of_a_missing_collection_create_nothing(
    kb: KnowledgeBase, backend: ChromaKnowledgeStore
) -> None:
    before = backend.physical_names()
    with pytest.raises(CollectionNotFoundError):
        kb.get("x", collection="ghost")
    with pytest.raises(CollectionNotFoundError):
        kb.search("x", collection="ghost")
    assert backend.physical_names() == before
    assert kb.drop_collection("ghost") is False


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"id": "", "text": "x"}, "items.0.id"),
        ({"id": "a", "text": "   "}, "items.0.text"),
        ({"id": "a", "text": "x", "metadata": {"_kb_item": "b"}}, "items.0.metadata._kb_item"),
        ({"id": "a", "text": "x", "metadata": {"tags": ["a"]}}, "items.0.metadata.tags"),
        ({"id": "a", "text": "x", "metadata": {"n": float("nan")}}, "items.0.metadata.n"),
        ({"id": "__kb_revision__", "text": "x"}, "items.0.id"),
    ],
)
def test_bad_items_are_refused_before_any_write(
    fresh: tuple[KnowledgeBase, str], item: dict[str, Any], field: str
) -> None:
    base, name = fresh
    with pytest.raises(InvalidRequestError) as caught:
        base.upsert([item], collection=name)
    assert caught.value.field == field


def test_one_bad_item_in_a_list_writes_nothing(fresh: tuple[KnowledgeBase, str]) -> None:
    """A list is checked whole before the first batch is written (batch_size is 4 here)."""
    base, name = fresh
    items: list[dict[str, Any]] = [{"id": f"i{n}", "text": f"Item {n}."} for n in range(9)]
    items[7]["metadata"] = {"bad": {"nested": 1}}
    with pytest.raises(InvalidRequestError) as caught:
        base.upsert(items, collection=name)
    assert caught.value.field == "items.7.metadata.bad"
    with pytest.raises(CollectionNotFoundError):
        base.collection(name)


def test_duplicate_ids_in_one_upsert_are_refused(fresh: tuple[KnowledgeBase, str]) -> None:
    base, name = fresh
    with pytest.raises(InvalidRequestError, match="twice"):
        base.upsert([Item("a", "one"), Item("a", "two")], collection=name)


def test_round_trip_upsert_get_delete(fresh: tuple[KnowledgeBase, str]) -> None:
    base, name = fresh
    report = base.upsert(
        [Item("q1", "Quantum computers use qubits.", {"lang": "en"}), Item("q2", "Solar panels.")],
        collection=name,
    )
    assert (report.items, report.written, report.chunks) == (2, 2, 2)
    stored = base.get("q1", collection=name)
    assert stored is not None
    assert (stored.text, stored.metadata, stored.pending) == (
        "Quantum computers use qubits.",
        {"lang": "en"},
        False,
    )
    assert base.get("nope", collection=name) is None
    listed = {info.name: info for info in base.list_collections()}
    assert (listed[name].items, listed[name].chunks) == (2, 2)
    assert {item.id for item in base.list_items(collection=name)} == {"q1", "q2"}
    assert base.search("qubits", k=5, collection=name).ids[0] == "q1"

    assert base.delete(["q1", "missing"], collection=name) == 1
    assert base.get("q1", collection=name) is None
    for mode in ("dense", "lexical", "hybrid"):
        assert "q1" not in base.search("qubits", k=5, mode=mode, collection=name).ids


def test_reingesting_unchanged_items_does_no_work(
    fresh: tuple[KnowledgeBase, str], counting: CountingEmbedder
) -> None:
    base, name = fresh
    items = sample_items()[:6]
    first = base.upsert(items, collection=name)
    embedded = counting.texts
    assert first.written == 6 and embedded >= 6
    again = base.upsert(items, collection=name)
    assert (again.unchanged, again.written, again.chunks) == (6, 0, 0)
    assert counting.texts == embedded
    assert base.collection(name).chunk_count() == first.chunks


def test_a_changed_item_replaces_all_its_chunks(fresh: tuple[KnowledgeBase, str]) -> None:
    """Long (many chunks) -> short (one chunk): no stale chunk is left, in any mode."""
    base, name = fresh
    base.upsert(
        [Item("doc", LONG, {"v": 1, "old": "yes"}), Item("other", "Unrelated.")], collection=name
    )
    store = base.collection(name)
    many = store.chunk_count() - 1
    assert many >= 3
    assert base.search("onboarding paragraph", k=2, mode="lexical", collection=name).ids == ["doc"]

    report = base.upsert([Item("doc", "A short note about lunch.", {"v": 2})], collection=name)
    assert (report.written, report.chunks, report.removed_chunks) == (1, 1, many - 1)
    assert store.chunk_count() == 2
    assert [parse_chunk_id(c)[:2] for c in store.all_chunk_ids() if c.startswith("doc#")] == [
        ("doc", 0)
    ]
    stored = base.get("doc", collection=name)
    assert stored is not None and stored.metadata == {"v": 2}  # "old" is gone, not merged
    for mode in ("dense", "lexical", "hybrid"):
        hits = base.search("onboarding paragraph detail", k=5, mode=mode, collection=name).hits
        for hit in hits:
            assert all("Paragraph" not in chunk.text for chunk in hit.chunks)
            assert hit.metadata.get("old") is None


def test_metadata_only_change_keeps_vectors(
    fresh: tuple[KnowledgeBase, str], counting: CountingEmbedder
) -> None:
    base, name = fresh
    base.upsert([Item("m", LONG, {"tag": "a", "drop": 1})], collection=name)
    embedded = counting.texts
    report = base.upsert([Item("m", LONG, {"tag": "b"})], collection=name)
    assert (report.metadata_only, report.written) == (1, 0)
    assert counting.texts == embedded
    hits = base.search("onboarding", k=1, collection=name, where={"tag": "b"}).hits
    assert hits and hits[0].metadata == {"tag": "b"}
    assert not base.search("onboarding", k=1, collection=name, where={"tag": "a"}).hits


def test_an_interrupted_ingest_reruns_without_duplicates(
    st_embedder: SentenceTransformerEmbedder,
    backend: ChromaKnowledgeStore,
    folder: Path,
    fresh: tuple[KnowledgeBase, str],
) -> None:
    """Crash after the first batch: its items are acknowledged, the next batch's are not
    visible; a re-run rolls the half-written one back, redoes it, duplicates nothing."""
    _, name = fresh
    items = sample_items()[:10]
    crashing = KnowledgeBase(
        embedder=CountingEmbedder(st_embedder, fail_after=1),
        store=backend,
        lexical_dir=folder / "lexical",
        batch_size=4,
        refresh_s=0,
    )
    with pytest.raises(EmbeddingError, match="simulated crash"):
        crashing.upsert(items, collection=name)
    store = crashing.collection(name)
    records = store.records([item["id"] for item in items])
    assert sum(r.live and not r.dirty for r in records.values()) == 4
    assert sum(r.dirty and not r.live for r in records.values()) == 4
    found = crashing.search("password pasta espresso", k=10, mode="lexical", collection=name)
    assert set(found.ids) <= {item["id"] for item in items[:4]}
    assert crashing.get(items[5]["id"], collection=name) is None

    healthy = KnowledgeBase(
        embedder=st_embedder,
        store=backend,
        lexical_dir=folder / "lexical",
        batch_size=4,
        recovery_grace_s=0,
    )
    report = healthy.upsert(items, collection=name)
    assert (report.unchanged, report.written) == (4, 6)
    all_ids = store.all_chunk_ids()
    committed = store.records([i["id"] for i in items])
    assert all(r.live and not r.dirty for r in committed.values())
    expected = {f"{r.id}#{n}@{r.version}" for r in committed.values() for n in range(r.chunks)}
    assert set(all_ids) == expected  # the crashed attempt's chunks are gone, no duplicates


def test_lexical_index_survives_restart_and_follows_other_writers(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """A restart opens the lexical index where it was (no rebuild); a replica with its own
    lexical index finds what another writes and stops finding what it deletes."""
    path = tmp_path / "chroma"
    writer = KnowledgeBase(
        embedder=st_embedder,
        store=ChromaKnowledgeStore(path=path),
        lexical_dir=tmp_path / "lexical-writer",
        refresh_s=0,
    )
    writer.upsert([Item("a", "Zebras have black and white stripes.")], collection="c")
    reader = KnowledgeBase(
        embedder=st_embedder,
        store=ChromaKnowledgeStore(path=path),
        lexical_dir=tmp_path / "lexical-reader",
        refresh_s=0,
    )
    assert reader.search("zebra stripes", mode="lexical", collection="c").ids == ["a"]

    writer.upsert([Item("b", "Stripes on a zebra confuse biting flies.")], collection="c")
    writer.delete(["a"], collection="c")
    assert reader.search("zebra stripes", mode="lexical", collection="c").ids == ["b"]

    restarted = KnowledgeBase(
        embedder=st_embedder,
        store=ChromaKnowledgeStore(path=path),
        lexical_dir=tmp_path / "lexical-writer",
        refresh_s=0,
    )
    index = restarted.lexical_index(restarted.collection("c"), sync=False)
    assert len(index) == 1  # already there before any catch-up
    report = index.sync(restarted.collection("c"), now_ms=restarted.clock())
    assert not report.full
    assert restarted.search("zebra stripes", mode="lexical", collection="c").ids == ["b"]


def test_namespaces_are_isolated(fresh: tuple[KnowledgeBase, str]) -> None:
    base, name = fresh
    base.upsert(
        [Item("secret", "Tenant A's launch date is March 3.")], collection=name, namespace="a"
    )
    try:
        with pytest.raises(CollectionNotFoundError):
            base.search("launch date", collection=name, namespace="b")
        base.upsert([Item("other", "Tenant B sells shoes.")], collection=name, namespace="b")
        for mode in ("dense", "lexical", "hybrid"):
            ids = base.search("launch date", collection=name, namespace="b", mode=mode).ids
            assert "secret" not in ids
        assert [c.name for c in base.list_collections("b")] == [name]
        assert isinstance(base.store, ChromaKnowledgeStore)
        cache_names = [n for n in base.store.physical_names() if "-cache-" in n]
        assert not cache_names  # knowledge never lands in the cache's collections
    finally:
        base.drop_collection(name, namespace="a")
        base.drop_collection(name, namespace="b")


@pytest.mark.chroma_server
def test_round_trip_on_a_chroma_server(
    st_embedder: SentenceTransformerEmbedder, chroma_url: str, tmp_path: Path
) -> None:
    base = KnowledgeBase(
        embedder=st_embedder,
        store=ChromaKnowledgeStore(url=chroma_url, prefix="kbserver"),
        lexical_dir=tmp_path / "lexical",
        refresh_s=0,
    )
    items = sample_items()[:8]
    try:
        report = base.upsert(items, collection="server")
        assert report.written == 8
        assert base.upsert(items, collection="server").unchanged == 8
        for mode in ("dense", "lexical", "hybrid"):
            result = base.search(
                "reset my password",
                k=3,
                mode=mode,
                collection="server",
                where={"topic": "account"},
            )
            assert result.ids[0] == "acct-reset-password"
        base.upsert(
            [Item("acct-reset-password", "Passwords are reset by an admin now.")],
            collection="server",
        )
        assert base.list_collections()[0].chunks == 8
        assert base.collection("server").chunk_count() == 8
        assert base.delete(["acct-reset-password"], collection="server") == 1
        assert "acct-reset-password" not in base.search("password", k=8, collection="server").ids
    finally:
        base.drop_collection("server")


def test_vectors_are_unit_length(kb: KnowledgeBase) -> None:
    store = kb.collection("sample")
    record = store.records(["acct-two-factor"])["acct-two-factor"]
    chunk = f"acct-two-factor#0@{record.version}"
    vectors = store.get_vectors([chunk])
    assert np.linalg.norm(vectors[chunk]) == pytest.approx(1.0, abs=1e-4)


def test_every_hybrid_chunk_has_both_scores(kb: KnowledgeBase) -> None:
    """Chunks found by one ranker only still get the other's score; an item's similarity is
    that of its best chunk."""
    result = kb.search("boiler temperature F7 service", k=5, collection="sample", chunks_per_item=3)
    for hit in result.hits:
        sims = [chunk.similarity for chunk in hit.chunks]
        assert all(s is not None for s in sims)
        assert all(chunk.lexical_score is not None for chunk in hit.chunks)
        assert hit.similarity is not None
        assert hit.similarity >= max(s for s in sims if s is not None) - 1e-6


def test_writes_are_split_at_chromas_batch_limit(fresh: tuple[KnowledgeBase, str]) -> None:
    """With a (pretend) limit of 2 records per write, every write is split and nothing is lost."""
    base, name = fresh
    store = base.collection(name, create=True)
    store.max_batch = 2  # type: ignore[attr-defined]
    items = [Item(f"b{n}", f"{LONG[: 200 + 40 * n]}") for n in range(5)]
    first = base.upsert(items, collection=name)
    assert first.written == 5 and store.chunk_count() == first.chunks
    changed = [Item(f"b{n}", f"Short text number {n}.") for n in range(5)]
    second = base.upsert(changed, collection=name)
    assert (second.written, second.chunks) == (5, 5)
    assert store.chunk_count() == 5
    assert base.delete([f"b{n}" for n in range(5)], collection=name) == 5
    listed = {info.name: info for info in base.list_collections()}
    assert store.chunk_count() == 0 and listed[name].items == 0


def test_searches_stay_consistent_during_concurrent_writes(
    fresh: tuple[KnowledgeBase, str],
) -> None:
    """Readers that run while a writer replaces items (a barrier starts them together) never
    fail and never see a mix: every hit's chunks are of one whole version; the lexical index
    ends in step with the store."""
    base, name = fresh
    base.upsert(
        [Item(f"c{n}", f"Version one of note {n} about owls.") for n in range(8)], collection=name
    )
    errors: list[BaseException] = []
    seen: list[str] = []
    start = threading.Barrier(3)
    writing = threading.Event()

    def read() -> None:
        start.wait()
        try:
            while writing.is_set():
                for mode in ("lexical", "hybrid", "dense"):
                    result = base.search("owls note", k=8, mode=mode, collection=name)  # type: ignore[arg-type]
                    for hit in result.hits:
                        words = {chunk.text.split()[1] for chunk in hit.chunks}
                        assert len(words) == 1, hit
                        seen.extend(words)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writing.set()
    for thread in readers:
        thread.start()
    start.wait()
    for version in ("two", "three"):
        base.upsert(
            [Item(f"c{n}", f"Version {version} of note {n} about owls.") for n in range(8)],
            collection=name,
        )
    base.delete(["c0", "c1"], collection=name)
    writing.clear()
    for thread in readers:
        thread.join()
    assert not errors
    assert seen  # the readers did overlap the writes
    store = base.collection(name)
    lexical = base.lexical_index(store)
    assert len(lexical) == store.chunk_count() == 6
    hits = base.search("version three owls", k=10, mode="lexical", collection=name).hits
    assert {hit.id for hit in hits} == {f"c{n}" for n in range(2, 8)}
    assert all("three" in hit.chunks[0].text for hit in hits)
