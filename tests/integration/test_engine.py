"""The engine end to end on the real model, embedded ChromaDB and both exact stores."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from semcached import (
    AsyncSemanticCache,
    HitKind,
    InvalidRequestError,
    MissReason,
    SemanticCache,
)
from semcached.embeddings import Embedder
from semcached.index import ChromaBackend, ExactStore
from tests.helpers import PASSWORD, Provider, ask
from tests.recording import RecordingBackend


def misses(cache: SemanticCache) -> int:
    return cache.stats.counters().get("misses", 0)


@pytest.fixture(params=["memory", "redis"])
def exact_store(request: pytest.FixtureRequest) -> ExactStore:
    name = "memory_store" if request.param == "memory" else "redis_store"
    store: ExactStore = request.getfixturevalue(name)
    return store


@pytest.fixture
def backend(chroma_backend: ChromaBackend) -> RecordingBackend:
    return RecordingBackend(chroma_backend)


@pytest.fixture
def cache(embedder: Embedder, exact_store: ExactStore, backend: RecordingBackend) -> SemanticCache:
    return SemanticCache(
        embedder=embedder, exact_store=exact_store, vector_backend=backend, namespace="tests"
    )


def test_miss_then_exact_then_paraphrase_hit(cache: SemanticCache) -> None:
    provider = Provider({"answer": "Use the reset link."})
    first = cache.get_or_call(ask(PASSWORD), provider)
    assert first.source == "provider" and first.stored
    assert first.lookup.reason is MissReason.NO_CANDIDATES
    exact = cache.get_or_call(ask(PASSWORD), provider)
    assert exact.source == "exact" and exact.response == {"answer": "Use the reset link."}
    assert exact.lookup.kind is HitKind.EXACT and exact.lookup.similarity == 1.0
    paraphrase = cache.get_or_call(ask("How can I reset my password?"), provider)
    assert paraphrase.source == "semantic"
    assert paraphrase.response == {"answer": "Use the reset link."}
    assert paraphrase.lookup.similarity is not None and paraphrase.lookup.similarity >= 0.95
    assert paraphrase.lookup.candidate_text == PASSWORD
    assert paraphrase.lookup.entry_id == first.lookup.exact_key
    assert provider.calls == 1
    counters = cache.stats.counters()
    assert counters["hits.exact"] == 1 and counters["hits.semantic"] == 1


def test_capital_of_france_paraphrase(cache: SemanticCache) -> None:
    """The classic pair scores 0.93: a hit at the default threshold (0.90, the pair model
    agreeing), not with a per-call threshold of 0.95."""
    cache.store(ask("What is the capital of France?"), {"answer": "Paris"})
    strict = cache.lookup(ask("Which city is France's capital?"), threshold=0.95)
    assert not strict.hit and strict.reason is MissReason.BELOW_THRESHOLD
    assert strict.similarity is not None and 0.9 < strict.similarity < 0.95
    assert f"< threshold {strict.threshold:.4f}" in strict.explain()
    loose = cache.lookup(ask("Which city is France's capital?"))
    assert loose.hit and loose.response == {"answer": "Paris"}
    assert loose.to_dict()["explanation"].startswith("semantic hit")


def test_unrelated_question_misses(cache: SemanticCache) -> None:
    cache.store(ask(PASSWORD), {"answer": "reset link"})
    result = cache.lookup(ask("What is the best way to cook rice?"))
    assert not result.hit and result.reason is MissReason.BELOW_THRESHOLD
    assert result.similarity is not None and result.similarity < 0.5


@pytest.mark.parametrize(
    "other",
    [
        ask(PASSWORD, model="gpt-4o-mini"),
        ask(PASSWORD, system="Answer in French."),
        ask(PASSWORD, max_tokens=5),
        {**ask(PASSWORD), "temperature": 0.3},
        {
            "model": "gpt-4o",
            "temperature": 0,
            "messages": [
                {"role": "user", "content": "I use Gmail."},
                {"role": "assistant", "content": "OK."},
                {"role": "user", "content": PASSWORD},
            ],
        },
    ],
    ids=["model", "system-prompt", "params", "temperature", "earlier-turns"],
)
def test_no_hit_outside_the_scope(cache: SemanticCache, other: dict[str, Any]) -> None:
    """The identical question under another model, prompt, parameters or context never hits."""
    cache.store(ask(PASSWORD), {"answer": "reset link"})
    result = cache.lookup(other)
    assert not result.hit
    assert result.reason is MissReason.NO_CANDIDATES


def test_no_hit_across_namespaces(cache: SemanticCache) -> None:
    cache.store(ask(PASSWORD), {"answer": "tenant A"}, namespace="tenant-a")
    assert not cache.lookup(ask(PASSWORD), namespace="tenant-b").hit
    assert cache.lookup(ask(PASSWORD), namespace="tenant-a").response == {"answer": "tenant A"}


def test_nothing_is_written_on_a_hit(cache: SemanticCache, backend: RecordingBackend) -> None:
    cache.store(ask(PASSWORD), {"answer": "reset link"})
    writes = list(backend.writes)
    for question in [PASSWORD, "How can I reset my password?", "Unrelated question?"] * 3:
        cache.lookup(ask(question))
    assert backend.writes == writes


def test_max_entries_evicts_the_oldest(
    embedder: Embedder, memory_store: ExactStore, chroma_backend: ChromaBackend
) -> None:
    cache = SemanticCache(
        embedder=embedder,
        exact_store=memory_store,
        vector_backend=chroma_backend,
        max_entries_per_namespace=3,
    )
    questions = [f"What is {n} plus {n}?" for n in range(5)]
    for question in questions:
        cache.store(ask(question), {"q": question})
    assert cache.count() == 3
    assert cache.stats.counters()["evictions"] == 2
    kept = {r.document for r in cache.semantic.index("default").get()}
    assert kept == set(questions[2:])


def test_delete_and_invalidate(cache: SemanticCache) -> None:
    first = cache.get_or_call(ask(PASSWORD), Provider())
    cache.store(ask("How do I delete my account?"), {"answer": "settings"})
    cache.store(ask(PASSWORD), {"answer": "other tenant"}, namespace="other")
    cache.delete(first.lookup.exact_key)
    assert not cache.lookup(ask(PASSWORD)).hit
    assert not cache.lookup(ask("How can I reset my password?")).hit
    assert cache.lookup(ask("How do I delete my account?")).hit
    cache.invalidate()
    assert not cache.lookup(ask("How do I delete my account?")).hit
    assert cache.lookup(ask(PASSWORD), namespace="other").hit


def test_feedback_wrong_stops_serving(cache: SemanticCache) -> None:
    cache.store(ask(PASSWORD), {"answer": "reset link"})
    hit = cache.lookup(ask("How can I reset my password?"))
    assert hit.hit and hit.entry_id is not None
    cache.feedback(hit.entry_id, correct=False)
    assert not cache.lookup(ask("How can I reset my password?")).hit
    assert cache.stats.counters()["feedback.wrong"] == 1


def test_single_flight_makes_one_provider_call(cache: SemanticCache) -> None:
    # The leader's provider call stays open until all six lookups have missed, so every
    # thread reaches the single-flight while the call is in flight.
    provider = Provider({"answer": "one"}, wait_for=lambda: misses(cache) >= 6)
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def worker() -> None:
        barrier.wait()
        results.append(cache.get_or_call(ask(PASSWORD), provider))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert provider.calls == 1
    assert [r.response for r in results] == [{"answer": "one"}] * 6
    assert sum(r.source == "provider" for r in results) == 1


def test_provider_error_reaches_every_waiter_and_is_not_cached(cache: SemanticCache) -> None:
    failing = Provider(error=RuntimeError("upstream 500"), wait_for=lambda: misses(cache) >= 4)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        try:
            cache.get_or_call(ask(PASSWORD), failing)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failing.calls == 1
    assert len(errors) == 4 and all(str(e) == "upstream 500" for e in errors)
    assert cache.count() == 0
    healthy = Provider({"answer": "ok"})
    assert cache.get_or_call(ask(PASSWORD), healthy).source == "provider"
    assert cache.stats.counters()["provider.errors"] == 1


def test_async_single_flight_and_hits(cache: SemanticCache) -> None:
    acache = AsyncSemanticCache(cache=cache)
    calls = 0

    async def provider() -> dict[str, str]:
        nonlocal calls
        calls += 1
        # Stay in flight until all five lookups have missed (bounded by the test's timeout).
        for _ in range(3000):
            if misses(cache) >= 5:
                break
            await asyncio.sleep(0.01)
        return {"answer": "async"}

    async def scenario() -> list[Any]:
        first = await asyncio.gather(
            *[acache.get_or_call(ask(PASSWORD), provider) for _ in range(5)]
        )
        again = await acache.get_or_call(ask("How can I reset my password?"), provider)
        sync_call = await acache.get_or_call(
            ask("How do I delete my account?"), lambda: {"answer": "sync provider"}
        )
        return [*first, again, sync_call]

    results = asyncio.run(scenario())
    assert calls == 1
    assert [r.response for r in results[:5]] == [{"answer": "async"}] * 5
    assert results[5].source == "semantic"
    assert results[6].response == {"answer": "sync provider"}


@pytest.mark.parametrize("policy", ["cache", "exact_only", "bypass"])
def test_nondeterministic_policy(
    embedder: Embedder, memory_store: ExactStore, chroma_backend: ChromaBackend, policy: Any
) -> None:
    cache = SemanticCache(
        embedder=embedder,
        exact_store=memory_store,
        vector_backend=chroma_backend,
        nondeterministic=policy,
    )
    hot = {**ask(PASSWORD), "temperature": 0.8}
    paraphrase = {**ask("How can I reset my password?"), "temperature": 0.8}
    provider = Provider()
    cache.get_or_call(hot, provider)
    exact, semantic = cache.get_or_call(hot, provider), cache.get_or_call(paraphrase, provider)
    expected = {
        "cache": ("exact", "semantic"),
        "exact_only": ("exact", "provider"),
        "bypass": ("provider", "provider"),
    }[policy]
    assert (exact.source, semantic.source) == expected
    # Deterministic requests are cached whatever the policy.
    cold = Provider()
    cache.get_or_call(ask(PASSWORD), cold)
    assert cache.get_or_call(ask("How can I reset my password?"), cold).source == "semantic"


def test_non_json_responses(cache: SemanticCache) -> None:
    """A provider answer that isn't JSON is returned but not cached; store() says why."""
    weird = object()
    result = cache.get_or_call(ask(PASSWORD), lambda: weird)
    assert result.response is weird and not result.stored
    with pytest.raises(InvalidRequestError) as info:
        cache.store(ask(PASSWORD), {"x": weird})
    assert info.value.field == "response"
    assert not cache.lookup(ask(PASSWORD)).hit


def test_skip_flags_and_thresholds(cache: SemanticCache) -> None:
    provider = Provider()
    cache.get_or_call(ask(PASSWORD), provider, skip_store=True)
    assert not cache.lookup(ask(PASSWORD)).hit
    cache.store(ask(PASSWORD), {"answer": "stored"})
    skipped = cache.get_or_call(ask(PASSWORD), provider, skip_lookup=True)
    assert skipped.source == "provider" and skipped.lookup.reason is MissReason.BYPASSED
    cache.namespace_thresholds["strict"] = 1.0
    cache.store(ask(PASSWORD), {"answer": "strict"}, namespace="strict")
    assert not cache.lookup(ask("How can I reset my password?"), namespace="strict").hit
    with pytest.raises(InvalidRequestError):
        cache.lookup(ask(PASSWORD), threshold=1.5)


def test_async_feedback_wrong_stops_serving(cache: SemanticCache) -> None:
    """The async twin's feedback reaches the same entry: a wrong report stops serving it."""
    acache = AsyncSemanticCache(cache=cache)

    async def scenario() -> tuple[bool, bool]:
        await acache.store(ask(PASSWORD), {"answer": "reset link"})
        hit = await acache.lookup(ask("How can I reset my password?"))
        assert hit.hit and hit.entry_id is not None
        await acache.feedback(hit.entry_id, correct=False)
        after = await acache.lookup(ask("How can I reset my password?"))
        return hit.hit, after.hit

    assert asyncio.run(scenario()) == (True, False)
    assert cache.stats.counters()["feedback.wrong"] == 1
