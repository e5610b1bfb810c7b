"""The tantivy lexical index on its own: BM25 ranking, incremental updates, persistence."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached.index.knowledge.bm25 import BM25Index
from semcached.index.knowledge.lexical import Change, LexicalIndex

WORDS = ["alpha", "beta", "gamma", "delta", "omega", "the"]
DOCS = st.dictionaries(
    st.sampled_from([f"d{n}" for n in range(10)]),
    st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join),
    max_size=10,
)


def changes(docs: dict[str, str], version: str, seq: int) -> list[Change]:
    return [Change(d, version, seq, [(f"{d}#0@{version}", text)]) for d, text in docs.items()]


@settings(max_examples=40, deadline=None)
@given(before=DOCS, after=DOCS, query=st.sampled_from(["alpha", "beta gamma", "omega delta"]))
def test_incremental_updates_rank_like_a_fresh_build(
    before: dict[str, str], after: dict[str, str], query: str
) -> None:
    """Replacing and deleting items in place ranks exactly like indexing the end state."""
    incremental = LexicalIndex()
    incremental.apply(changes(before, "v1", 1))
    incremental.apply([Change(d, "", 2) for d in before if d not in after])
    incremental.apply(changes(after, "v2", 3))
    fresh = LexicalIndex()
    fresh.apply(changes(after, "v2", 3))
    assert len(incremental) == len(fresh) == len(after)
    got, want = incremental.search(query, 20), fresh.search(query, 20)
    assert [d for d, _ in got] == [d for d, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])
    assert incremental.versions(list(after)) == dict.fromkeys(after, "v2")


def test_scores_equal_the_reference_bm25() -> None:
    """tantivy finds the candidates, the exact Lucene BM25 scores them: the same ranking and
    the same scores as the in-memory reference, also for chunks scored by id."""
    docs = {
        "a": "insulin lowers blood glucose",
        "b": "blood pressure and blood tests",
        "c": "insulin " + "filler words here " * 20,
    }
    index = LexicalIndex()
    index.apply(changes(docs, "v", 1))
    reference = BM25Index()
    reference.add_many((f"{d}#0@v", t) for d, t in docs.items())
    got = index.search("insulin glucose", 10)
    want = reference.search("insulin glucose", 10)
    assert [c for c, _ in got] == [c for c, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])
    scores = index.score("insulin glucose", ["b#0@v", "a#0@v", "zz#0@v"])
    assert scores == pytest.approx(reference.score_docs("insulin glucose", ["b#0@v", "a#0@v"]))
    assert "zz#0@v" not in scores
    assert index.search("nothing matches", 10) == [] and index.search("the", 10) == []


def test_a_reopened_index_is_where_it_was(tmp_path: Path) -> None:
    """On disk, a new LexicalIndex over the same folder has the documents and versions."""
    first = LexicalIndex(tmp_path / "lex")
    first.apply(changes({"a": "zebra stripes", "b": "lion mane"}, "v1", 5))
    first.close()
    again = LexicalIndex(tmp_path / "lex")
    assert len(again) == 2
    assert again.search("zebra", 5)[0][0] == "a#0@v1"
    assert again.versions(["a", "b", "c"]) == {"a": "v1", "b": "v1"}


def test_scores_stay_positive_while_deleted_documents_await_a_merge() -> None:
    """Replacing the same items many times leaves deleted documents in tantivy's counts until
    a merge; matching chunks must still score above zero and be found."""
    index = LexicalIndex()
    for seq in range(1, 8):
        index.apply(changes({"a": "owls hoot", "b": "owls fly"}, f"v{seq}", seq))
    assert sorted(c for c, _ in index.search("owls", 10)) == ["a#0@v7", "b#0@v7"]
    assert all(score > 0 for _, score in index.search("owls", 10))
