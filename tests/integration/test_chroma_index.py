"""The ChromaDB vector index, embedded and as a real server (`chroma run`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semcached.errors import ConfigurationError, VectorIndexError
from semcached.index import ChromaBackend, VectorBackend, collection_name
from semcached.index.vector.base import similarity_from_distance


@pytest.fixture(params=["embedded", "server"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> ChromaBackend:
    if request.param == "embedded":
        return ChromaBackend(path=tmp_path / "chroma")
    return ChromaBackend(url=request.getfixturevalue("chroma_url"))


def unit(*rows: list[float]) -> np.ndarray:
    array = np.array(rows, dtype=np.float32)
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def test_add_query_get_delete(backend: ChromaBackend, request: pytest.FixtureRequest) -> None:
    name = collection_name("t", "cache", request.node.name, "model")
    index = backend.index(name)
    vectors = unit([1, 0, 0], [0.9, 0.1, 0], [0, 1, 0])
    index.add(
        ["a", "b", "c"],
        vectors,
        [{"scope": "s1"}, {"scope": "s1"}, {"scope": "s2"}],
        ["A", "B", "C"],
    )
    assert index.count() == 3
    found = index.query(vectors[0], k=3)
    assert [n.id for n in found] == ["a", "b", "c"]
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert found[1].similarity == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-5)
    assert found[0].document == "A" and found[0].metadata == {"scope": "s1"}
    scoped = index.query(vectors[0], k=3, where={"scope": {"$eq": "s2"}})
    assert [n.id for n in scoped] == ["c"]
    index.add(["a"], unit([0, 0, 1]), [{"scope": "s3"}], ["A2"])  # upsert replaces
    assert index.count() == 3
    assert index.get(ids=["a"])[0].metadata == {"scope": "s3"}
    index.delete(ids=["a", "b"])
    assert [r.id for r in index.get()] == ["c"]
    assert backend.drop(name) is True
    assert backend.drop(name) is False
    assert isinstance(backend, VectorBackend)


def test_similarity_from_distance() -> None:
    """Chroma's cosine distance is 1 - cos; the API speaks similarity only."""
    assert similarity_from_distance(0.0) == 1.0
    assert similarity_from_distance(0.25) == 0.75
    assert similarity_from_distance(2.5) == -1.0


def test_collection_names_are_valid_and_distinct() -> None:
    names = {
        collection_name("semcached", "cache", ns, "m")
        for ns in ["a", "A", "a b", "ä/ü", "x" * 300, "-", "a-b"]
    }
    assert len(names) == 7
    for name in names:
        assert 3 <= len(name) <= 512 and name[0].isalnum() and name[-1].isalnum()
    assert collection_name("p", "cache", "n", "m1") != collection_name("p", "cache", "n", "m2")


def test_unreachable_server_raises_vector_index_error() -> None:
    from tests.servers import free_port

    with pytest.raises(VectorIndexError, match="ChromaDB"):
        ChromaBackend(url=f"http://127.0.0.1:{free_port()}").index("abc")


def test_backend_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        ChromaBackend()
    with pytest.raises(ConfigurationError):
        ChromaBackend(path=tmp_path, url="http://x:1")
    with pytest.raises(ConfigurationError, match="http://host:port"):
        ChromaBackend(url="localhost:8000")
