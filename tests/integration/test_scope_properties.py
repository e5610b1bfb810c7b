"""Hypothesis on the real engine: no cross-scope hit, thresholds are monotone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semcached import SemanticCache
from semcached.embeddings import Embedder
from semcached.index import ChromaBackend, MemoryExactStore
from tests.strategies import chat_requests, namespaces

QUESTIONS = [
    "How do I reset my password?",
    "How can I reset my password?",
    "What is the capital of France?",
    "Which city is France's capital?",
    "How do I delete my account?",
    "How can I remove my account?",
]

slow = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory, st_embedder: Embedder) -> SemanticCache:
    """One cache for all examples; each example works in a namespace of its own."""
    path: Path = tmp_path_factory.mktemp("scope-props")
    return SemanticCache(
        embedder=st_embedder,
        exact_store=MemoryExactStore(),
        vector_backend=ChromaBackend(path=path / "chroma"),
    )


def mutate(request: dict[str, Any], how: str, value: Any) -> dict[str, Any]:
    messages = list(request["messages"])
    if how == "model":
        return {**request, "model": request["model"] + "-other"}
    if how == "system":
        return {
            **request,
            "messages": [{"role": "system", "content": f"Persona {value}"}, *messages],
        }
    if how == "context":
        return {
            **request,
            "messages": [
                {"role": "user", "content": f"Earlier {value}"},
                {"role": "assistant", "content": "ok"},
                *messages,
            ],
        }
    return {**request, "max_tokens": int(request.get("max_tokens", 100)) + 1}


@slow
@given(
    request=chat_requests(),
    how=st.sampled_from(["model", "system", "context", "params"]),
    value=st.integers(0, 10**6),
    namespace=namespaces,
)
def test_no_cross_scope_hit(
    shared_cache: SemanticCache, request: dict[str, Any], how: str, value: int, namespace: str
) -> None:
    """The same last question under any other scope never hits, even at threshold 0."""
    request = {**request, "temperature": 0}
    shared_cache.store(request, {"scope": "original"}, namespace=namespace)
    other = mutate(request, how, value)
    result = shared_cache.lookup(other, namespace=namespace, threshold=0.0)
    assert not result.hit
    assert shared_cache.lookup(request, namespace=namespace).hit
    shared_cache.invalidate(namespace)


@slow
@given(
    stored=st.lists(st.sampled_from(QUESTIONS), min_size=1, max_size=3, unique=True),
    query=st.sampled_from(QUESTIONS),
    low=st.floats(0, 1),
    high=st.floats(0, 1),
    namespace=namespaces,
)
def test_higher_threshold_never_adds_hits(
    shared_cache: SemanticCache,
    stored: list[str],
    query: str,
    low: float,
    high: float,
    namespace: str,
) -> None:
    low, high = sorted((low, high))
    for question in stored:
        shared_cache.store(_ask(question), {"q": question}, namespace=namespace)
    strict = shared_cache.lookup(_ask(query), namespace=namespace, threshold=high)
    loose = shared_cache.lookup(_ask(query), namespace=namespace, threshold=low)
    if strict.hit:
        assert loose.hit
    shared_cache.invalidate(namespace)


def _ask(question: str) -> dict[str, Any]:
    return {"model": "m", "temperature": 0, "messages": [{"role": "user", "content": question}]}
