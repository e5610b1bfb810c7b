"""The unfiltered-first search returns exactly what the filtered query would: the k nearest
live entries of the scope, whatever the mix of scopes and expiries."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached.engine.entries import CacheEntry, SemanticStore
from semcached.index.vector.memory import MemoryVectorBackend

NOW = 1_000.0


def _store(entries: list[tuple[int, bool]], seed: int) -> tuple[SemanticStore, np.ndarray]:
    """Entries (scope number, expired?) with random vectors; the store and the vectors (the
    last one is not stored: a query)."""
    store = SemanticStore(MemoryVectorBackend(), model_id="m", clock=lambda: NOW)
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(entries) + 1, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for i, (scope, expired) in enumerate(entries):
        entry = CacheEntry(
            id=f"e{i}", namespace="ns", scope_key=f"s{scope}", model="m", text=f"t{i}",
            response_json="{}", created_at=1.0, expires_at=NOW - 1 if expired else None,
        )  # fmt: skip
        store.put(entry, vectors[i])
    return store, vectors


@settings(max_examples=60, deadline=None)
@given(
    entries=st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=0, max_size=60),
    k=st.integers(1, 5),
    seed=st.integers(0, 1000),
)
def test_fast_path_equals_the_filtered_query(
    entries: list[tuple[int, bool]], k: int, seed: int
) -> None:
    store, vectors = _store(entries, seed)
    query = vectors[-1]
    for scope in ("s0", "s3"):
        got = [c.id for c in store.search("ns", scope, query, k)]
        where = {"$and": [{"scope": {"$eq": scope}}, {"expires_at": {"$gt": NOW}}]}
        expected = [n.id for n in store.index("ns").query(query, k, where)]
        assert got == expected


def test_a_rare_scope_falls_back_to_the_filtered_query() -> None:
    entries = [(0, False)] * 40 + [(1, False)]
    store, vectors = _store(entries, 0)
    query = -vectors[40]  # the rare entry is the farthest of all
    found = store.search("ns", "s1", query, 1)
    assert [c.id for c in found] == ["e40"] and store.filtered_queries == 1
    store.search("ns", "s0", vectors[-1], 4)
    assert store.filtered_queries == 1  # the common scope never needs it
