"""Knowledge search building blocks without a model: chunking, BM25, the stemmer, RRF, filters."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached.errors import ConfigurationError, InvalidRequestError
from semcached.index.knowledge.bm25 import BM25Index, Tokenizer
from semcached.index.knowledge.chunking import Chunker, approximate_tokens
from semcached.index.knowledge.filters import validate_where, validate_where_document
from semcached.index.knowledge.fusion import reciprocal_rank_fusion, rrf_max_score
from semcached.index.knowledge.stemmer import porter_stem

WORDS = st.sampled_from(
    [
        *("insulin", "glucose", "the", "cells", "of", "a", "liver", "heart"),
        *("Mr.", "e.g.", "3.5", "x", "supercalifragilisticexpialidocious" * 3),
        "https://example.com/" + "a" * 120,
    ]
)
SEPARATORS = st.sampled_from([" ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", "\n \n\t", "  "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(WORDS, SEPARATORS), max_size=300))
    prefix = draw(st.sampled_from(["", " ", "\n\n"]))
    return prefix + "".join(word + sep for word, sep in parts)


def words_count(text: str) -> int:
    return len(text.split())


# -- chunking ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    text=texts(), max_tokens=st.integers(8, 80), overlap=st.integers(0, 40), approx=st.booleans()
)
def test_chunks_cover_the_text_within_the_budget(
    text: str, max_tokens: int, overlap: int, approx: bool
) -> None:
    """Every non-blank character is in some chunk, chunks are slices of the text in order,
    each within the token budget, and consecutive chunks overlap by at most the overlap."""
    overlap = min(overlap, max_tokens // 2)
    counter = approximate_tokens if approx else words_count
    chunker = Chunker(max_tokens=max_tokens, overlap_tokens=overlap, count_tokens=counter)
    chunks = chunker.split(text)
    covered = [False] * len(text)
    for n, chunk in enumerate(chunks):
        assert chunk.index == n
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.text.strip() == chunk.text and chunk.text
        assert counter(chunk.text) <= max_tokens or len(chunk.text) == 1
        for i in range(chunk.start, chunk.end):
            covered[i] = True
        if n:
            previous = chunks[n - 1]
            assert previous.start < chunk.start
            assert previous.end <= chunk.end
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))
    assert chunks or not text.strip()


def test_chunks_prefer_sentence_boundaries_and_overlap() -> None:
    """Sentences stay whole, and a chunk starts with the last sentence of the previous one."""
    sentences = [f"Sentence number {n} talks about topic {n}." for n in range(30)]
    chunker = Chunker(max_tokens=30, overlap_tokens=8, count_tokens=words_count)
    chunks = chunker.split(" ".join(sentences))
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.text.startswith("Sentence") and chunk.text.endswith(".")
    for first, second in itertools.pairwise(chunks):
        last_sentence = first.text.rsplit(". ", 1)[-1]
        assert second.text.startswith(last_sentence.rstrip("."))


def test_abbreviations_do_not_end_sentences() -> None:
    chunker = Chunker(max_tokens=8, overlap_tokens=0, count_tokens=words_count)
    chunks = chunker.split("See e.g. the results of the trial. Next one here now.")
    assert [c.text for c in chunks] == ["See e.g. the results of the trial.", "Next one here now."]


def test_chunker_rejects_bad_settings() -> None:
    with pytest.raises(ConfigurationError, match="overlap_tokens"):
        Chunker(max_tokens=20, overlap_tokens=15)
    with pytest.raises(ConfigurationError, match="max_tokens"):
        Chunker(max_tokens=4)


def test_chunker_fingerprint_follows_settings() -> None:
    assert Chunker(max_tokens=100).fingerprint == Chunker(max_tokens=100).fingerprint
    assert Chunker(max_tokens=100).fingerprint != Chunker(max_tokens=120).fingerprint
    assert (
        Chunker(max_tokens=100).fingerprint
        != Chunker(max_tokens=100, count_tokens=words_count).fingerprint
    )


# -- stemmer and tokenizer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("caresses", "caress"),
        ("ponies", "poni"),
        ("agreed", "agre"),
        ("hopping", "hop"),
        ("filing", "file"),
        ("relational", "relat"),
        ("generalizations", "gener"),
        ("electrical", "electr"),
        ("adjustment", "adjust"),
        ("controll", "control"),
        ("diabetes", "diabet"),
        ("diabetic", "diabet"),
        ("infections", "infect"),
        ("sky", "sky"),
        ("as", "as"),
    ],
)
def test_porter_stemmer_reference_examples(word: str, stem: str) -> None:
    assert porter_stem(word) == stem


def test_tokenizer_lowercases_strips_punctuation_and_stopwords() -> None:
    assert Tokenizer()("The Infections, were (treated) by E1045-fixes!") == [
        "infect",
        "treat",
        "e1045",
        "fix",
    ]
    assert Tokenizer(stem=False)("Cats AND dogs") == ["cats", "dogs"]


# -- BM25 ---------------------------------------------------------------------------------------


def test_bm25_ranks_rare_terms_and_short_documents_higher() -> None:
    index = BM25Index()
    index.add_many(
        [
            ("a", "insulin lowers blood glucose"),
            ("b", "blood pressure and blood tests"),
            ("c", "insulin " + "filler words here " * 20),
        ]
    )
    ranked = index.search("insulin glucose", limit=10)
    assert [doc for doc, _ in ranked] == ["a", "c"]
    assert ranked[0][1] > ranked[1][1] > 0
    assert index.search("nothing matches", limit=10) == []
    assert index.search("insulin", limit=1, allowed=frozenset({"c"}))[0][0] == "c"


def test_bm25_scores_match_the_formula() -> None:
    index = BM25Index(k1=1.2, b=0.75)
    index.add_many([("a", "apple banana"), ("b", "banana cherry cherry date")])
    (doc, score), *_ = index.search("cherry", limit=1)
    n, df, avg = 2, 1, 3.0
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    tf, length = 2, 4
    expected = idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length / avg))
    assert doc == "b"
    assert score == pytest.approx(expected)
    assert index.score_docs("cherry", ["b", "a", "zz"]) == {"b": pytest.approx(expected), "a": 0.0}


DOCS = st.dictionaries(
    st.sampled_from([f"d{n}" for n in range(12)]),
    st.lists(st.sampled_from(["alpha", "beta", "gamma", "delta", "omega", "the"]), max_size=8).map(
        " ".join
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(before=DOCS, after=DOCS, query=st.sampled_from(["alpha", "beta gamma", "omega delta"]))
def test_bm25_incremental_updates_equal_a_fresh_build(
    before: dict[str, str], after: dict[str, str], query: str
) -> None:
    """Replacing and removing documents in place scores exactly like building from scratch."""
    incremental = BM25Index()
    incremental.add_many(before.items())
    incremental.remove_many([doc for doc in before if doc not in after])
    incremental.add_many(after.items())
    fresh = BM25Index()
    fresh.add_many(after.items())
    assert len(incremental) == len(fresh)
    got = incremental.search(query, limit=20)
    want = fresh.search(query, limit=20)
    assert [d for d, _ in got] == [d for d, _ in want]
    assert [s for _, s in got] == pytest.approx([s for _, s in want])


# -- reciprocal rank fusion ---------------------------------------------------------------------

RANKINGS = st.lists(
    st.lists(st.sampled_from("abcdefghij"), unique=True, max_size=10), min_size=1, max_size=4
)


def test_rrf_example() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]], k=60)
    assert [item for item, _ in fused] == ["b", "a", "c"]
    assert fused[0][1] == pytest.approx(1 / 62 + 1 / 61)


@given(rankings=RANKINGS, k=st.floats(0, 200))
def test_rrf_is_bounded_and_first_everywhere_wins(rankings: list[list[str]], k: float) -> None:
    fused = reciprocal_rank_fusion(rankings, k=k)
    top = rrf_max_score(k=k, weights=[1.0] * len(rankings))
    assert {item for item, _ in fused} == {item for ranking in rankings for item in ranking}
    assert all(0 < score <= top + 1e-12 for _, score in fused)
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)
    leaders = {ranking[0] for ranking in rankings if ranking}
    if len(leaders) == 1 and all(rankings):
        assert fused[0] == (leaders.pop(), pytest.approx(top))


@given(rankings=RANKINGS)
def test_rrf_does_not_depend_on_the_order_of_the_lists(rankings: list[list[str]]) -> None:
    forward = dict(reciprocal_rank_fusion(rankings))
    backward = dict(reciprocal_rank_fusion(list(reversed(rankings))))
    assert forward.keys() == backward.keys()
    for item, score in forward.items():
        assert backward[item] == pytest.approx(score)


@given(ranking=st.lists(st.sampled_from("abcdefghij"), unique=True, min_size=2, max_size=10))
def test_rrf_moving_an_item_up_never_lowers_its_score(ranking: list[str]) -> None:
    other = list(reversed(ranking))
    item = ranking[-1]
    promoted = [item, *ranking[:-1]]
    before = dict(reciprocal_rank_fusion([ranking, other]))[item]
    after = dict(reciprocal_rank_fusion([promoted, other]))[item]
    assert after > before


def test_rrf_weights_and_errors() -> None:
    fused = reciprocal_rank_fusion([["a", "b"], ["b", "a"]], weights=[2.0, 1.0])
    assert fused[0][0] == "a"
    only_second = reciprocal_rank_fusion([["a"], ["b"]], weights=[0.0, 1.0])
    assert only_second[0][0] == "b"
    with pytest.raises(ValueError, match="weights"):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="k must be"):
        reciprocal_rank_fusion([["a"]], k=-1)


# -- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        {"lang": "en"},
        {"year": {"$gte": 2020}},
        {"topic": {"$in": ["a", "b"]}},
        {"$and": [{"lang": "en"}, {"$or": [{"year": 2020}, {"year": {"$lt": 2000}}]}]},
    ],
)
def test_valid_where_filters_pass(where: dict[str, object]) -> None:
    assert validate_where(where) == where


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ({"year": {"$gtx": 2020}}, "where.year.$gtx"),
        ({"year": {"$gte": "2020"}}, "where.year.$gte"),
        ({"$and": [{"lang": "en"}]}, "where.$and"),
        ({"$nor": [{"a": 1}, {"b": 2}]}, "where.$nor"),
        ({"a": 1, "b": 2}, "where"),
        ({"tag": {"$in": []}}, "where.tag.$in"),
        ({"tag": {"$in": [1, "a"]}}, "where.tag.$in"),
        ({"$or": [{"a": 1}, {"b": {"$like": "x"}}]}, "where.$or.1.b.$like"),
        ({"_kb_item": "x"}, "where._kb_item"),
        ({"a": [1, 2]}, "where.a"),
        ("lang=en", "where"),
    ],
)
def test_bad_where_filters_name_the_field(where: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_where(where, reserved_prefix="_kb_")
    assert caught.value.field == field
    assert "expected" in str(caught.value) and "Fix:" in str(caught.value)


@pytest.mark.parametrize(
    ("where_document", "field"),
    [
        ({"$like": "x"}, "where_document.$like"),
        ({"$contains": ""}, "where_document.$contains"),
        ({"$regex": "("}, "where_document.$regex"),
        ({"$or": [{"$contains": "a"}]}, "where_document.$or"),
        ({"$and": [{"$contains": "a"}, {"$foo": "b"}]}, "where_document.$and.1.$foo"),
    ],
)
def test_bad_document_filters_name_the_field(where_document: object, field: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_where_document(where_document)
    assert caught.value.field == field


def test_valid_document_filter_passes() -> None:
    where = {"$or": [{"$contains": "insulin"}, {"$regex": "gluc(ose|agon)"}]}
    assert validate_where_document(where) == where
