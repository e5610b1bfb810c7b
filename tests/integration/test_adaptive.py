"""Adaptive thresholds: the boundary follows feedback, within the user's false-hit bound."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.engine.cache import SemanticCache
from semcached.index.exact.base import MemoryExactStore
from semcached.index.vector.memory import MemoryVectorBackend
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Candidate
from semcached.settings import Settings
from tests.strategies import similarities


def test_without_evidence_the_configured_threshold_applies() -> None:
    policy = AdaptiveThresholds(max_false_hit_rate=0.05)
    assert policy.threshold("ns", 0.93) == 0.93
    policy.observe("ns", 0.97, True)
    assert policy.threshold("ns", 0.93) == 0.93  # one observation proves nothing


def test_clean_evidence_lowers_the_threshold_step_by_step() -> None:
    """Right answers observed just below the boundary let it move down, not further than the
    evidence reaches."""
    policy = AdaptiveThresholds(max_false_hit_rate=0.05, min_observations=30, floor=0.8)
    for i in range(200):
        policy.observe("ns", 0.90 + 0.0005 * (i % 100), True)
    learned = policy.threshold("ns", 0.95)
    assert 0.85 < learned <= 0.90 + 1e-9
    assert policy.state("ns").observations == 200


def test_wrong_answers_raise_the_threshold() -> None:
    policy = AdaptiveThresholds(max_false_hit_rate=0.05, min_observations=20)
    rng = random.Random(0)
    for _ in range(400):
        sim = rng.uniform(0.90, 1.0)
        policy.observe(
            "ns", sim, sim >= 0.96 or rng.random() < 0.5
        )  # wrong half the time below 0.96
    learned = policy.threshold("ns", 0.90)
    assert learned >= 0.95


def test_namespaces_learn_separately() -> None:
    policy = AdaptiveThresholds(max_false_hit_rate=0.05, min_observations=10)
    for i in range(100):
        policy.observe("a", 0.90 + 0.001 * (i % 50), True)
    assert policy.threshold("a", 0.95) < 0.95
    assert policy.threshold("b", 0.95) == 0.95


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(similarities, st.booleans()), max_size=300), st.floats(0.01, 0.3))
def test_a_learned_threshold_respects_the_bound_on_what_it_saw(
    observations: list[tuple[float, bool]], bound: float
) -> None:
    """Whatever the feedback, a learned threshold serves at most ``bound`` wrong answers among
    the observations at or above it (it bounds the upper confidence limit, so even the
    point estimate is under the bound)."""
    policy = AdaptiveThresholds(max_false_hit_rate=bound, min_observations=10, floor=0.0)
    for sim, correct in observations:
        policy.observe("ns", sim, correct)
    learned = policy.state("ns").threshold
    if learned is not None:
        above = [c for s, c in observations if s >= learned]
        assert len(above) >= 10
        assert above.count(False) / len(above) <= bound + 1e-9
    assert 0.0 <= policy.threshold("ns", 0.9) <= 1.0


def test_wrong_feedback_raises_that_entry_s_boundary() -> None:
    policy = AdaptiveThresholds()
    assert not policy.feedback("e1", correct=False)  # never served: similarity unknown
    policy.record_hit("ns", "e1", 0.93)
    assert policy.feedback("e1", correct=False)
    guard = policy.guard()
    near = Candidate(id="e1", similarity=0.93, text="t", response=None)
    closer = Candidate(id="e1", similarity=0.99, text="t", response=None)
    other = Candidate(id="e2", similarity=0.93, text="t", response=None)
    assert guard.check("q", near) is not None and "0.93" in (guard.check("q", near) or "")
    assert guard.check("q", closer) is None
    assert guard.check("q", other) is None


def test_bad_arguments_say_what_is_expected() -> None:
    with pytest.raises(ValueError, match="max_false_hit_rate"):
        AdaptiveThresholds(max_false_hit_rate=0)
    with pytest.raises(ValueError, match="floor"):
        AdaptiveThresholds(floor=0.9, ceiling=0.8)
    with pytest.raises(ValueError, match="compare"):
        AdaptiveThresholds().probe("ns", 0.9, 1, 1)


# -- in the engine -----------------------------------------------------------------------------


@pytest.fixture
def make_cache(st_embedder: SentenceTransformerEmbedder) -> Any:
    def build(**kwargs: Any) -> SemanticCache:
        return SemanticCache(
            embedder=CachedEmbedder(st_embedder),
            exact_store=MemoryExactStore(),
            vector_backend=MemoryVectorBackend(),
            **kwargs,
        )

    return build


def ask(text: str) -> dict[str, Any]:
    return {"model": "m", "temperature": 0, "messages": [{"role": "user", "content": text}]}


@pytest.mark.model
def test_engine_feedback_moves_the_boundary_instead_of_deleting(make_cache: Any) -> None:
    policy = AdaptiveThresholds(max_false_hit_rate=0.05)
    cache = make_cache(threshold=0.8, adaptive=policy)
    cache.store(ask("How do I reset my password?"), {"a": 1})
    hit = cache.lookup(ask("How can I reset my password?"))
    assert hit.hit and hit.entry_id is not None
    cache.feedback(hit.entry_id, correct=False)
    again = cache.lookup(ask("How can I reset my password?"))
    assert not again.hit
    assert again.decision is not None and again.decision.rejections[0].guard == "adaptive"
    assert "adaptive" in again.explain()
    assert cache.stats.snapshot()["counters"]["rejections.adaptive"] == 1
    # the entry itself is kept: its own question still hits exactly
    assert cache.lookup(ask("How do I reset my password?")).hit
    assert cache.count() == 1


@pytest.mark.model
def test_engine_without_adaptive_still_deletes_on_wrong_feedback(make_cache: Any) -> None:
    cache = make_cache(threshold=0.8)
    cache.store(ask("How do I reset my password?"), {"a": 1})
    hit = cache.lookup(ask("How can I reset my password?"))
    assert hit.entry_id is not None
    cache.feedback(hit.entry_id, correct=False)
    assert cache.count() == 0


@pytest.mark.model
def test_engine_probes_near_misses_with_compare(make_cache: Any) -> None:
    """A near miss calls the provider, compares answers, and learns from it."""
    policy = AdaptiveThresholds(
        max_false_hit_rate=0.2, min_observations=5, probe_band=0.2, compare=lambda a, b: a == b
    )
    cache = make_cache(threshold=0.99, adaptive=policy)
    cache.store(ask("How do I reset my password?"), {"a": 1})
    for _ in range(3):
        result = cache.get_or_call(ask("How can I change my password?"), lambda: {"a": 1},
                                   skip_store=True)  # fmt: skip
        assert result.source == "provider"
        assert result.lookup.similarity is not None and result.lookup.similarity > 0.79
    counters = cache.stats.snapshot()["counters"]
    assert counters["adaptive.probe.same"] == 3
    assert policy.state("default").observations == 3


def test_settings_turn_adaptive_and_verifier_on_and_off() -> None:
    """SEMCACHED_ADAPTIVE__ENABLED / SEMCACHED_VERIFIER__ENABLED are honoured."""
    from semcached.engine.configured import configured_adaptive as _default_adaptive
    from semcached.engine.configured import configured_guards as _default_guards

    assert _default_adaptive(Settings()) is None
    policy = _default_adaptive(Settings(adaptive={"enabled": True, "max_false_hit_rate": 0.02}))
    assert policy is not None and policy.max_false_hit_rate == 0.02
    assert _default_guards(Settings(verifier={"enabled": False})) == []
    names = [g.name for g in _default_guards(Settings(verifier={"checks": ["numbers"]}))]
    assert names == ["numbers"]


class TableEmbedder:
    """Vectors looked up from a table: a stream with a known boundary, no model needed."""

    model_id = "table"

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.dim = len(next(iter(table.values())))

    def embed(self, texts: Any) -> Any:
        import numpy as np

        return np.stack([self.table[t] for t in texts]).astype(np.float32)


def test_replay_keeps_false_hits_under_the_bound_while_hits_grow() -> None:
    """Traffic where serving is right 97% of the time at similarity >= 0.92 and 30% below:
    starting from a cautious 0.99, the adaptive policy lowers its threshold, serves several
    times the static threshold's hits, and its observed false-hit rate stays under the bound."""
    import numpy as np

    from semcached.quality.evaluation import replay_feedback_stream
    from semcached.quality.pairs import Pair

    rng = np.random.default_rng(7)
    table: dict[str, Any] = {}
    pairs = []
    for i in range(3000):
        a = rng.normal(size=32)
        a /= np.linalg.norm(a)
        u = rng.normal(size=32)
        u -= (u @ a) * a
        u /= np.linalg.norm(u)
        s = rng.uniform(0.85, 1.0)
        table[f"a{i}"], table[f"b{i}"] = a, s * a + np.sqrt(1 - s * s) * u
        right = rng.random() < (0.97 if s >= 0.92 else 0.30)
        pairs.append(Pair(f"a{i}", f"b{i}", int(right)))
    embedder = CachedEmbedder(TableEmbedder(table), max_entries=10_000)
    bound = 0.10
    policy = AdaptiveThresholds(max_false_hit_rate=bound, compare=lambda x, y: x == y)
    common: dict[str, Any] = {"verify": False, "feedback_rate": 1.0, "every": 500}
    learned = replay_feedback_stream(pairs, embedder, start=0.99, adaptive=policy, **common)
    static = replay_feedback_stream(pairs, embedder, start=0.99, adaptive=None, **common)
    assert learned[-1]["threshold"] < 0.95
    assert learned[-1]["hits"] > 3 * static[-1]["hits"]
    assert [r["hits"] for r in learned] == sorted(r["hits"] for r in learned)
    assert all(r["false_hit_rate"] <= bound for r in learned)
