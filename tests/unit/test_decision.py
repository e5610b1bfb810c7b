"""The pure decision core: thresholds, guards and explanations."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from semcached.policy.decision import Candidate, Decision, HitKind, MissReason, decide, describe

similarities = st.floats(-1.0, 1.0, allow_nan=False)
thresholds = st.floats(0.0, 1.0, allow_nan=False)


@st.composite
def candidate_lists(draw: st.DrawFn) -> list[Candidate]:
    sims = draw(st.lists(similarities, max_size=6))
    return [
        Candidate(id=f"c{i}", similarity=s, text=f"text {i}", response={"i": i})
        for i, s in enumerate(sims)
    ]


@dataclass
class VetoIds:
    """A guard that rejects the candidates whose ids it holds."""

    ids: frozenset[str]
    name: str = "veto"

    def check(self, query: str, candidate: Candidate) -> str | None:
        return "vetoed" if candidate.id in self.ids else None


@given(candidate_lists(), thresholds)
def test_never_serves_below_threshold(candidates: list[Candidate], threshold: float) -> None:
    decision = decide("q", candidates, threshold)
    if decision.hit:
        assert decision.candidate is not None
        assert decision.candidate.similarity >= threshold


@given(candidate_lists(), thresholds, thresholds)
def test_higher_threshold_never_adds_hits(candidates: list[Candidate], a: float, b: float) -> None:
    """Monotonicity: if the stricter threshold hits, the looser one hits too."""
    low, high = sorted((a, b))
    if decide("q", candidates, high).hit:
        assert decide("q", candidates, low).hit


@given(candidate_lists(), thresholds, st.sets(st.sampled_from([f"c{i}" for i in range(6)])))
def test_guards_never_turn_a_miss_into_a_hit(
    candidates: list[Candidate], threshold: float, vetoed: set[str]
) -> None:
    plain = decide("q", candidates, threshold)
    guarded = decide("q", candidates, threshold, [VetoIds(frozenset(vetoed))])
    if guarded.hit:
        assert plain.hit
        assert guarded.candidate is not None
        assert guarded.candidate.id not in vetoed


@given(candidate_lists(), thresholds)
def test_hit_serves_the_most_similar_candidate(
    candidates: list[Candidate], threshold: float
) -> None:
    decision = decide("q", candidates, threshold)
    if decision.hit:
        assert decision.candidate is not None
        assert decision.candidate.similarity == max(c.similarity for c in candidates)
        assert decision.kind is HitKind.SEMANTIC


def test_reasons_and_explanations() -> None:
    strong = Candidate("a", 0.97, "How do I reset my password?", {"x": 1})
    weak = Candidate("b", 0.5, "unrelated", {"x": 2})
    assert decide("", [strong], 0.9).reason is MissReason.NO_TEXT
    assert decide("q", [], 0.9).reason is MissReason.NO_CANDIDATES
    below = decide("q", [weak], 0.9)
    assert below.reason is MissReason.BELOW_THRESHOLD
    assert below.candidate == weak
    assert "0.5000 < threshold 0.9000" in describe(below)
    rejected = decide("q", [strong, weak], 0.9, [VetoIds(frozenset({"a"}))])
    assert rejected.reason is MissReason.REJECTED
    assert rejected.rejections[0].guard == "veto"
    assert "veto: vetoed" in describe(rejected)
    hit = decide("q", [weak, strong], 0.9)
    assert hit.hit and hit.candidate == strong and hit.similarity == 0.97
    assert describe(hit) == "semantic hit: similarity 0.9700 >= threshold 0.9000"


@pytest.mark.parametrize("reason", list(MissReason))
def test_every_miss_reason_is_explained(reason: MissReason) -> None:
    assert describe(Decision(hit=False, threshold=0.9, reason=reason)).startswith("miss:")


def test_threshold_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="within"):
        decide("q", [], 1.5)
