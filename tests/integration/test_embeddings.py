"""The sentence-transformers backend on the packaged model, and the text-to-vector cache."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from semcached.embeddings import (
    CachedEmbedder,
    Embedder,
    SentenceTransformerEmbedder,
    Vectors,
    default_model_path,
    model_fingerprint,
)
from semcached.errors import ModelLoadError
from tests.recording import WrappedEmbedder


class CountingEmbedder(WrappedEmbedder):
    """Wraps the real model and records every text it is asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        super().__init__(inner)
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.seen.extend(texts)
        return self.inner.embed(texts)


def test_vectors_are_unit_float32(st_embedder: SentenceTransformerEmbedder) -> None:
    vectors = st_embedder.embed(["What is the capital of France?", "How do I bake bread?", ""])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, st_embedder.dim) == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert st_embedder.embed([]).shape == (0, 384)
    assert isinstance(st_embedder, Embedder)


def test_batched_equals_one_by_one(st_embedder: SentenceTransformerEmbedder) -> None:
    texts = ["short", "a somewhat longer sentence about caching", "third"]
    batched = st_embedder.embed(texts)
    single = np.vstack([st_embedder.embed([t]) for t in texts])
    assert np.allclose(batched, single, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated(st_embedder: SentenceTransformerEmbedder) -> None:
    a, b, c = st_embedder.embed(
        [
            "What is the capital of France?",
            "Which city is France's capital?",
            "How do I bake bread?",
        ]
    )
    assert float(a @ b) > 0.9
    assert float(a @ c) < 0.3


def test_missing_model_names_the_path_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        SentenceTransformerEmbedder(tmp_path / "no-such-model")
    assert info.value.path == str(tmp_path / "no-such-model")
    assert "no-such-model" in str(info.value)
    assert "SEMCACHED_EMBEDDING__MODEL_PATH" in str(info.value)


def test_broken_model_dir_raises_model_load_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError) as info:
        SentenceTransformerEmbedder(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_model_id_changes_with_the_weights(
    tmp_path: Path, st_embedder: SentenceTransformerEmbedder
) -> None:
    """Same directory name, one changed file: another model_id (vectors are not comparable)."""
    copy = tmp_path / default_model_path().name
    shutil.copytree(default_model_path(), copy)
    assert model_fingerprint(copy) == model_fingerprint(default_model_path())
    with (copy / "config.json").open("a") as handle:
        handle.write("\n")
    assert model_fingerprint(copy) != model_fingerprint(default_model_path())
    assert st_embedder.model_id.startswith(default_model_path().name)


def test_cache_never_embeds_a_text_twice(st_embedder: SentenceTransformerEmbedder) -> None:
    counting = CountingEmbedder(st_embedder)
    cached = CachedEmbedder(counting, max_entries=100)
    first = cached.embed(["alpha", "beta", "alpha"])
    second = cached.embed(["beta", "gamma", "alpha"])
    assert counting.seen == ["alpha", "beta", "gamma"]
    assert np.allclose(first[0], first[2])
    assert np.allclose(first[1], second[0])
    assert np.allclose(second[1], st_embedder.embed(["gamma"])[0], atol=1e-6)
    assert cached.hits == 3 and cached.misses == 3


def test_cache_is_bounded(st_embedder: SentenceTransformerEmbedder) -> None:
    counting = CountingEmbedder(st_embedder)
    cached = CachedEmbedder(counting, max_entries=2)
    cached.embed(["a", "b", "c"])
    assert len(cached) == 2
    cached.embed(["a"])  # evicted, embedded again
    assert counting.seen == ["a", "b", "c", "a"]


def test_cached_vectors_cannot_be_corrupted_by_callers(
    st_embedder: SentenceTransformerEmbedder,
) -> None:
    cached = CachedEmbedder(st_embedder)
    first = cached.embed(["stable"])
    first[0][:] = 0
    assert np.allclose(np.linalg.norm(cached.embed(["stable"]), axis=1), 1.0, atol=1e-5)


def test_micro_batcher_returns_each_caller_its_own_vectors(
    st_embedder: SentenceTransformerEmbedder,
) -> None:
    """Sixteen threads at once: every caller gets exactly its rows, in fewer model calls."""
    import threading

    from semcached.embeddings import MicroBatchingEmbedder

    batcher = MicroBatchingEmbedder(st_embedder, max_batch=64)
    texts = [[f"question {i} part {j}" for j in range(1 + i % 3)] for i in range(16)]
    results: dict[int, np.ndarray] = {}
    barrier = threading.Barrier(16)

    def worker(i: int) -> None:
        barrier.wait()
        results[i] = batcher.embed(texts[i])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, group in enumerate(texts):
        assert np.allclose(results[i], st_embedder.embed(group), atol=1e-5)
    assert batcher.requests == 16
    assert batcher.batches < 16


def test_micro_batcher_passes_errors_to_every_caller() -> None:
    from semcached.embeddings import MicroBatchingEmbedder
    from semcached.errors import EmbeddingError

    class Broken:
        model_id, dim = "broken", 3

        def embed(self, texts: Sequence[str]) -> Vectors:
            raise EmbeddingError("model crashed")

    batcher = MicroBatchingEmbedder(Broken())
    with pytest.raises(EmbeddingError, match="crashed"):
        batcher.embed(["x"])
    assert batcher.embed([]).shape == (0, 3)
