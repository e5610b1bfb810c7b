"""Knowledge writes on the in-memory store with a fake embedder: versions, crash windows,
recovery, quotas, limits and tenancy. No model, no server: runs in seconds."""

from __future__ import annotations

from typing import Any

import pytest

from semcached.errors import (
    CollectionNotFoundError,
    InvalidRequestError,
    LimitExceededError,
    QuotaExceededError,
)
from semcached.index.knowledge import KnowledgeBase, KnowledgeLimits, MemoryKnowledgeStore
from semcached.index.knowledge.base import Item
from semcached.index.knowledge.store import parse_chunk_id
from tests.helpers import FakeEmbedder


class SimulatedCrashError(Exception):
    """Stands for the process dying between two steps of a write."""


def make(store: MemoryKnowledgeStore | None = None, **options: Any) -> KnowledgeBase:
    options.setdefault("refresh_s", 0)
    options.setdefault("recovery_grace_s", 0)
    return KnowledgeBase(embedder=FakeEmbedder(), store=store or MemoryKnowledgeStore(), **options)


def crash_at(step: str) -> Any:
    def hook(name: str) -> None:
        if name == step:
            raise SimulatedCrashError(step)

    return hook


def texts_of(kb: KnowledgeBase, query: str, mode: str) -> dict[str, set[str]]:
    """Item id -> the texts of the chunks a search shows for it."""
    result = kb.search(query, k=20, mode=mode, collection="c", chunks_per_item=5)  # type: ignore[arg-type]
    return {hit.id: {chunk.text for chunk in hit.chunks} for hit in result.hits}


@pytest.mark.parametrize("step", ["intent", "chunks"])
def test_a_write_interrupted_before_its_commit_keeps_the_old_version(step: str) -> None:
    """Until the record switches, every mode serves the acknowledged version only and get()
    returns it (marked pending); recovery deletes the half-written chunks."""
    store = MemoryKnowledgeStore()
    make(store).upsert(
        [Item("a", "Old owls hoot at night."), Item("b", "Bats fly.")], collection="c"
    )
    crashing = make(store, on_step=crash_at(step))
    with pytest.raises(SimulatedCrashError):
        crashing.upsert([Item("a", "New owls hoot at noon."), Item("z", "Zebras.")], collection="c")

    reader = make(store)
    for mode in ("dense", "lexical", "hybrid"):
        assert texts_of(reader, "owls hoot noon night", mode)["a"] == {"Old owls hoot at night."}
        assert "z" not in texts_of(reader, "zebras", mode)
    stored = reader.get("a", collection="c")
    assert stored is not None and stored.text == "Old owls hoot at night." and stored.pending
    assert reader.get("z", collection="c") is None

    handle = reader.collection("c")
    assert reader.recover("c") == 2
    assert handle.dirty_records() == []
    assert handle.records(["z"]) == {}
    versions = {r.id: r.version for r in handle.records(["a", "b"]).values()}
    assert {parse_chunk_id(c)[2] for c in handle.all_chunk_ids()} == set(versions.values())


def test_a_write_interrupted_after_its_commit_serves_the_new_version_and_is_cleaned_up() -> None:
    """After the commit the new version is whole and served; its clean-up (deleting the old
    chunks) is finished by the next write, whichever item it writes."""
    store = MemoryKnowledgeStore()
    make(store).upsert([Item("a", "Old owls hoot at night.")], collection="c")
    with pytest.raises(SimulatedCrashError):
        make(store, on_step=crash_at("commit")).upsert(
            [Item("a", "New owls hoot at noon.")], collection="c"
        )
    reader = make(store)
    for mode in ("dense", "lexical", "hybrid"):
        assert texts_of(reader, "owls hoot", mode)["a"] == {"New owls hoot at noon."}
    handle = reader.collection("c")
    assert handle.chunk_count() == 2  # the old version's chunk still waits for its clean-up
    reader.upsert([Item("other", "Something else.")], collection="c")
    assert handle.chunk_count() == 2 and handle.dirty_records() == []


def test_a_rerun_of_an_interrupted_write_finishes_it() -> None:
    store = MemoryKnowledgeStore()
    items = [Item(f"i{n}", f"Note {n} about lanterns.") for n in range(6)]
    with pytest.raises(SimulatedCrashError):
        make(store, on_step=crash_at("chunks"), batch_size=4).upsert(items, collection="c")
    report = make(store, batch_size=4).upsert(items, collection="c")
    assert (report.written, report.unchanged) == (6, 0)
    kb = make(store)
    assert len(kb.search("lanterns", k=10, mode="lexical", collection="c").ids) == 6
    assert kb.collection("c").chunk_count() == 6


def test_a_young_pending_write_of_another_writer_is_left_alone() -> None:
    """Another process's write younger than the grace period may still be in flight: recovery
    does not roll it back."""
    store = MemoryKnowledgeStore()
    with pytest.raises(SimulatedCrashError):
        make(store, on_step=crash_at("chunks")).upsert([Item("a", "Owls.")], collection="c")
    patient = make(store, recovery_grace_s=3600)
    assert patient.recover("c") == 0
    assert make(store).recover("c") == 1


def test_metadata_change_switches_atomically_without_embedding() -> None:
    """Same text, new metadata: a new version over the stored vectors, nothing embedded; a
    filter sees either the old metadata or the new one, never a mix."""
    embedder = FakeEmbedder()
    kb = KnowledgeBase(embedder=embedder, store=MemoryKnowledgeStore(), refresh_s=0)
    long_text = " ".join(f"Sentence {n} about a lighthouse keeper." for n in range(80))
    kb.upsert([Item("m", long_text, {"tag": "a", "drop": 1})], collection="c")
    embedded = len(embedder.seen)
    report = kb.upsert([Item("m", long_text, {"tag": "b"})], collection="c")
    assert (report.metadata_only, report.written) == (1, 0)
    assert len(embedder.seen) == embedded
    hits = kb.search("lighthouse", k=1, collection="c", where={"tag": "b"}).hits
    assert hits and hits[0].metadata == {"tag": "b"}
    assert not kb.search("lighthouse", collection="c", where={"tag": "a"}).hits
    assert not kb.search("lighthouse", collection="c", where={"drop": 1}).hits


def test_another_writers_new_version_is_found_before_the_local_index_catches_up() -> None:
    """A replica whose lexical index still names the old version asks the store when dense
    search meets a version it does not know, instead of hiding the item."""
    store = MemoryKnowledgeStore()
    reader = make(store, refresh_s=3600)
    writer = make(store)
    writer.upsert([Item("a", "Owls hoot at night.")], collection="c")
    assert reader.search("owls", mode="dense", collection="c").ids == ["a"]
    writer.upsert([Item("a", "Owls sleep by day.")], collection="c")
    hits = reader.search("owls sleep", mode="dense", collection="c").hits
    assert [h.chunks[0].text for h in hits] == ["Owls sleep by day."]


def test_lexical_index_follows_another_writer_and_ignores_older_changes() -> None:
    store = MemoryKnowledgeStore()
    writer, reader = make(store), make(store)
    writer.upsert([Item("a", "Zebras have stripes.")], collection="c")
    assert reader.search("zebra", mode="lexical", collection="c").ids == ["a"]
    writer.upsert([Item("b", "A zebra foal.")], collection="c")
    writer.delete(["a"], collection="c")
    assert reader.search("zebra", mode="lexical", collection="c").ids == ["b"]
    index = reader.lexical_index(reader.collection("c"))
    from semcached.index.knowledge.lexical import Change

    assert index.apply([Change("a", "old", 1, [("a#0@old", "zebra zebra")])]) == 0
    assert reader.search("zebra", mode="lexical", collection="c").ids == ["b"]


# -- quotas, limits, tenancy ------------------------------------------------------------------


def test_collection_quota_is_a_quota_error_and_creates_nothing() -> None:
    kb = make(limits=KnowledgeLimits(max_collections_per_namespace=2))
    kb.upsert([Item("a", "x")], collection="one")
    kb.upsert([Item("a", "x")], collection="two")
    kb.upsert([Item("b", "y")], collection="two")  # an existing collection still takes writes
    with pytest.raises(QuotaExceededError) as caught:
        kb.upsert([Item("a", "x")], collection="three")
    assert caught.value.field == "collection"
    assert "MAX_COLLECTIONS_PER_NAMESPACE" in str(caught.value)
    assert [c.name for c in kb.list_collections()] == ["one", "two"]
    kb.upsert([Item("a", "x")], collection="three", namespace="another-tenant")


def test_item_and_byte_quotas_count_the_whole_namespace() -> None:
    kb = make(limits=KnowledgeLimits(max_items_per_namespace=3, max_bytes_per_namespace=40))
    kb.upsert([Item("a", "one"), Item("b", "two")], collection="x")
    kb.upsert([Item("a", "uno")], collection="x")  # a replacement adds no item
    with pytest.raises(QuotaExceededError) as items:
        kb.upsert([Item("c", "three"), Item("d", "four")], collection="y")
    assert items.value.quota == "max_items_per_namespace"
    with pytest.raises(QuotaExceededError) as size:
        kb.upsert([Item("c", "z" * 40)], collection="y")
    assert size.value.quota == "max_bytes_per_namespace"
    assert {c.name: c.items for c in kb.list_collections()} == {"x": 2, "y": 0}
    kb.delete(["a"], collection="x")
    kb.upsert([Item("c", "three"), Item("d", "four")], collection="y")


@pytest.mark.parametrize(
    ("metadata", "field", "error"),
    [
        ({f"k{n}": n for n in range(6000)}, "items.0.metadata", LimitExceededError),
        ({"$and": 1}, "items.0.metadata.$and", InvalidRequestError),
        ({"$contains": "x"}, "items.0.metadata.$contains", InvalidRequestError),
        ({"#document": "x"}, "items.0.metadata.#document", InvalidRequestError),
        ({"_kb_item": "b"}, "items.0.metadata._kb_item", InvalidRequestError),
        ({"a\nb": 1}, "items.0.metadata.a\nb", InvalidRequestError),
        ({"k" * 200: 1}, "items.0.metadata", LimitExceededError),
        ({"v": "x" * 5000}, "items.0.metadata.v", LimitExceededError),
        ({f"k{n}": "x" * 4000 for n in range(5)}, "items.0.metadata", LimitExceededError),
        ({"v": "\ud800"}, "items.0.metadata.v", InvalidRequestError),
        ({"n": 2**70}, "items.0.metadata.n", InvalidRequestError),
        ({"tags": ["a"]}, "items.0.metadata.tags", InvalidRequestError),
    ],
)
def test_bad_metadata_is_refused_before_any_write(
    metadata: dict[str, Any], field: str, error: type[Exception]
) -> None:
    """Too many or too large keys are a LimitExceededError (a 413), reserved or malformed ones
    an InvalidRequestError (a 422), naming the field; nothing is created."""
    kb = make()
    with pytest.raises(error) as caught:
        kb.upsert([{"id": "a", "text": "x", "metadata": metadata}], collection="c")
    assert type(caught.value) is error
    assert caught.value.field == field  # type: ignore[attr-defined]
    assert "expected" in str(caught.value) and "Fix:" in str(caught.value)
    with pytest.raises(CollectionNotFoundError):
        kb.collection("c")


def test_text_limits_and_surrogates() -> None:
    kb = make(limits=KnowledgeLimits(max_item_chars=10))
    with pytest.raises(LimitExceededError) as long:
        kb.upsert([Item("a", "x" * 11)], collection="c")
    assert long.value.field == "items.0.text"
    with pytest.raises(InvalidRequestError) as broken:
        kb.upsert([Item("a", "bad \udc00 text")], collection="c")
    assert broken.value.field == "items.0.text"


def test_tenants_see_and_touch_only_their_own_collections() -> None:
    store = MemoryKnowledgeStore()
    kb = make(store)
    kb.upsert([Item("secret", "Tenant A launches in March.")], collection="c", namespace="a")
    with pytest.raises(CollectionNotFoundError):
        kb.search("launch", collection="c", namespace="b")
    kb.upsert([Item("shoes", "Tenant B sells shoes.")], collection="c", namespace="b")
    for mode in ("dense", "lexical", "hybrid"):
        found = kb.search("tenant launch March", mode=mode, collection="c", namespace="b")  # type: ignore[arg-type]
        assert found.ids == ["shoes"]
    assert [c.name for c in kb.list_collections("b")] == ["c"]
    assert kb.delete(["secret"], collection="c", namespace="b") == 0
    kb.drop_collection("c", namespace="b")
    assert kb.search("launch", collection="c", namespace="a").ids == ["secret"]
