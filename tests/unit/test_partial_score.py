"""Parts of two long prompts are judged more strictly than two short prompts whole."""

from __future__ import annotations

from collections.abc import Sequence

from semcached.policy.decision import Candidate
from semcached.policy.verifier import Verifier

DOCUMENT = " ".join(
    f"Clause {i} of the rental agreement sets out duty number {i}." for i in range(60)
)


class Constant:
    """A pair scorer that finds every pair fairly alike (0.6)."""

    name = "constant"

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        return [0.6] * len(pairs)


def _decide(cached: str, query: str) -> tuple[bool, bool]:
    verifier = Verifier(scorer=Constant(), min_score=0.5, partial_min_score=0.8)
    decision = verifier.decide(query, [Candidate("c", 0.97, cached, {})], 0.9)
    return decision.hit, decision.verdicts[0].partial


def test_short_prompts_are_judged_whole_at_the_minimum_score() -> None:
    assert _decide("How do I reset my password?", "How can I reset my password?") == (True, False)


def test_the_same_document_with_another_question_needs_the_stricter_score() -> None:
    cached = f"{DOCUMENT}\n\nQuestion: how long is the notice period?"
    query = f"{DOCUMENT}\n\nQuestion: who pays for repairs?"
    hit, partial = _decide(cached, query)
    assert partial and not hit
    verifier = Verifier(scorer=Constant(), min_score=0.5, partial_min_score=0.8)
    decision = verifier.decide(query, [Candidate("c", 0.97, cached, {})], 0.9)
    assert any("judged more strictly" in r.reason for r in decision.rejections)
