"""The engine's drivers on in-memory stores and a fake embedder: what a call does, counted."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.adaptive_state import ExactStoreAdaptiveState
from semcached.engine.cache import SemanticCache
from semcached.errors import InvalidRequestError
from semcached.index.exact.base import MemoryExactStore
from semcached.index.vector.memory import MemoryVectorBackend
from semcached.policy.adaptive import AdaptiveThresholds
from tests.helpers import PASSWORD, FakeClock, FakeEmbedder, Provider, ask

REWORDED = "How can I reset my password?"


def make_cache(
    embedder: FakeEmbedder | None = None, **kwargs: Any
) -> tuple[SemanticCache, FakeEmbedder]:
    embedder = embedder or FakeEmbedder()
    options: dict[str, Any] = {
        "exact_store": MemoryExactStore(),
        "vector_backend": MemoryVectorBackend(),
        "threshold": 0.7,
        "guards": (),
    }
    options.update(kwargs)
    return SemanticCache(embedder=embedder, **options), embedder


def wait_until(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def test_a_miss_embeds_once_and_stores_the_vector_it_looked_up_with() -> None:
    """The text of a miss goes through the model exactly once, lookup and store together."""
    cache, embedder = make_cache()
    result = cache.get_or_call(ask(PASSWORD), Provider({"a": 1}))
    assert result.source == "provider" and result.stored
    assert embedder.seen == [PASSWORD]
    assert cache.get_or_call(ask(PASSWORD), Provider()).source == "exact"
    assert embedder.seen == [PASSWORD]  # an exact hit embeds nothing


def test_sync_twins_of_a_streamed_miss_share_one_provider_stream() -> None:
    """The leader's provider stream is relayed to every twin, from the first event, and
    stored once complete; the next call replays it from the cache."""
    cache, _ = make_cache()
    release = threading.Event()
    opened: list[int] = []

    def open_stream() -> Iterator[Any]:
        opened.append(1)
        yield {"delta": "Use"}
        assert release.wait(10)
        yield {"delta": " the link."}

    leader = cache.get_or_stream(ask(PASSWORD), open_stream)
    follower = cache.get_or_stream(ask(PASSWORD), open_stream)
    assert (leader.source, follower.source) == ("provider", "coalesced")
    got: list[list[Any]] = [[], []]
    readers = [
        threading.Thread(target=lambda i=i, r=r: got[i].extend(r.events))
        for i, r in enumerate((leader, follower))
    ]
    for reader in readers:
        reader.start()
    release.set()
    for reader in readers:
        reader.join(10)
    assert got[0] == got[1] == [{"delta": "Use"}, {"delta": " the link."}]
    assert opened == [1] and leader.stored
    replay = cache.get_or_stream(ask(PASSWORD), open_stream)
    assert replay.source == "exact" and list(replay.events) == got[0]
    assert opened == [1]


def test_a_stream_that_fails_is_relayed_but_never_stored() -> None:
    cache, _ = make_cache()

    def broken() -> Iterator[Any]:
        yield "partial"
        raise ConnectionError("cut")

    result = cache.get_or_stream(ask(PASSWORD), broken)
    seen: list[Any] = []
    with pytest.raises(ConnectionError):
        seen.extend(result.events)
    assert seen == ["partial"] and not result.stored
    assert not cache.lookup(ask(PASSWORD)).hit


def test_async_and_sync_callers_of_one_cache_coalesce() -> None:
    """An async streamed miss and a thread asking for the same stream share the provider."""
    cache, _ = make_cache()
    acache = AsyncSemanticCache(cache=cache)
    opened: list[int] = []
    gate = threading.Event()

    async def scenario() -> tuple[list[Any], list[Any]]:
        async def open_stream() -> Any:
            opened.append(1)
            yield "a"
            await asyncio.to_thread(gate.wait, 10)
            yield "b"

        first = await acache.get_or_stream(ask(PASSWORD), open_stream)
        from_thread: list[Any] = []

        def sync_twin() -> None:
            twin = cache.get_or_stream(ask(PASSWORD), lambda: iter(["never"]))
            from_thread.append(twin.source)
            from_thread.extend(twin.events)

        thread = threading.Thread(target=sync_twin)
        thread.start()
        flight = cache.flights.get(("stream", cache.canonicalize(ask(PASSWORD)).exact_key))
        while flight is not None and flight.followers < 1:
            await asyncio.sleep(0.005)
        gate.set()
        events = [event async for event in first.events]
        await asyncio.to_thread(thread.join, 10)
        await acache.aclose()
        return events, from_thread

    events, from_thread = asyncio.run(scenario())
    assert events == ["a", "b"] and from_thread == ["coalesced", "a", "b"]
    assert opened == [1]


def test_feedback_says_what_it_did() -> None:
    """Without an adaptive policy a wrong hit is deleted; with one it is learned from and the
    entry stays; a right one is recorded."""
    plain, _ = make_cache()
    plain.store(ask(PASSWORD), {"a": 1})
    served = plain.lookup(ask(REWORDED))
    assert served.hit and served.entry_id is not None
    assert plain.feedback(served.entry_id, correct=True).action == "recorded"
    wrong = plain.feedback(served.entry_id, correct=False)
    assert wrong.action == "deleted" and wrong.removed
    assert not plain.lookup(ask(PASSWORD)).hit

    adaptive, _ = make_cache(adaptive=AdaptiveThresholds(min_observations=1))
    adaptive.store(ask(PASSWORD), {"a": 1})
    hit = adaptive.lookup(ask(REWORDED))
    assert hit.hit and hit.entry_id is not None
    learned = adaptive.feedback(hit.entry_id, correct=False)
    assert learned.action == "learned" and not learned.removed
    assert adaptive.lookup(ask(PASSWORD)).hit  # the entry still answers its own request
    assert not adaptive.lookup(ask(REWORDED)).hit  # but no longer the one it got wrong


def test_replicas_sharing_a_store_learn_from_each_others_feedback() -> None:
    """Feedback sent to replica B about a hit replica A served moves A's boundary too."""
    exact, vectors, embedder = MemoryExactStore(), MemoryVectorBackend(), FakeEmbedder()
    clock = FakeClock()

    def replica() -> SemanticCache:
        adaptive = AdaptiveThresholds(min_observations=1, refresh_s=1.0, clock=clock)
        adaptive.share(ExactStoreAdaptiveState(exact))
        cache, _ = make_cache(
            embedder, exact_store=exact, vector_backend=vectors, adaptive=adaptive
        )
        return cache

    a, b = replica(), replica()
    a.store(ask(PASSWORD), {"a": 1})
    hit = a.lookup(ask(REWORDED))
    assert hit.hit and hit.entry_id is not None
    assert b.feedback(hit.entry_id, correct=False).action == "learned"  # B never served it
    clock.now += 2.0  # past A's refresh interval
    assert not a.lookup(ask(REWORDED)).hit


def test_ttl_expires_both_layers_on_the_injected_clock() -> None:
    clock = FakeClock()
    cache, _ = make_cache(exact_store=MemoryExactStore(clock=clock), clock=clock)
    cache.store(ask("What does shipping to Canada cost?"), {"answer": "kept"})
    cache.store(ask(PASSWORD), {"answer": "short-lived"}, ttl_s=10)
    assert cache.lookup(ask(PASSWORD)).hit
    clock.now += 11
    assert not cache.lookup(ask(PASSWORD)).hit
    assert not cache.lookup(ask(REWORDED)).hit
    assert cache.count() == 2 and cache.sweep() == 1 and cache.count() == 1
    assert cache.lookup(ask("What does shipping to Canada cost?")).hit


def test_bad_ttls_are_refused_before_the_provider_is_called() -> None:
    cache, _ = make_cache()
    provider = Provider()
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="ttl_s"):
            cache.get_or_call(ask(PASSWORD), provider, ttl_s=bad)
    assert provider.calls == 0


def test_the_embedding_memo_is_per_namespace() -> None:
    """A prompt another namespace asked embeds at full cost here: how fast a lookup embeds
    never tells a tenant what another one asked (issue: timing side channel)."""
    from semcached.embeddings.cache import CachedEmbedder

    inner = FakeEmbedder()
    memo = CachedEmbedder(inner, max_entries=100)
    cache = SemanticCache(
        embedder=memo, exact_store=MemoryExactStore(), vector_backend=MemoryVectorBackend(),
        threshold=0.7, guards=(),
    )  # fmt: skip
    cache.lookup(ask(PASSWORD), namespace="tenant-b")
    cache.lookup(ask(PASSWORD), namespace="tenant-b")
    assert inner.seen == [PASSWORD]  # remembered within the namespace
    cache.lookup(ask(PASSWORD), namespace="tenant-a")
    assert inner.seen == [PASSWORD, PASSWORD]  # embedded again for another namespace


def test_max_age_serves_only_entries_younger_than_it() -> None:
    """An entry older than the caller's max-age is neither an exact nor a semantic hit; the
    provider's fresh answer replaces it."""
    clock = FakeClock()
    cache, _ = make_cache(clock=clock)
    cache.get_or_call(ask(PASSWORD), Provider({"v": 1}))
    clock.now += 100
    assert cache.get_or_call(ask(PASSWORD), Provider(), max_age_s=200).source == "exact"
    stale = cache.get_or_call(ask(PASSWORD), Provider({"v": 2}), max_age_s=50)
    assert stale.source == "provider" and stale.response == {"v": 2}
    assert stale.lookup.reason.value == "stale"
    assert stale.lookup.failed_backends == ()  # an old entry is not a failing backend
    assert "older than the caller's max-age" in stale.lookup.explain()
    assert cache.lookup(ask(PASSWORD), max_age_s=50).response == {"v": 2}  # refreshed
    with pytest.raises(InvalidRequestError, match="max_age_s"):
        cache.lookup(ask(PASSWORD), max_age_s=-1)
