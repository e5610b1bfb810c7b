"""The decision core: given the nearest candidates, hit or miss, and why. Pure: no IO, no clock.

Invariants the tests hold this module to:

* a candidate below the threshold is never served;
* raising the threshold never turns a miss into a hit (monotonicity);
* a guard can only reject: adding guards never turns a miss into a hit;
* every outcome carries its reason, the best candidate seen and the threshold applied.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, assert_never, runtime_checkable

import orjson

__all__ = [
    "Candidate",
    "Decision",
    "Guard",
    "HitKind",
    "MissReason",
    "Rejection",
    "decide",
    "describe",
]


class HitKind(StrEnum):
    """How a hit was found."""

    EXACT = "exact"
    SEMANTIC = "semantic"


class MissReason(StrEnum):
    """Why a lookup did not hit."""

    NO_TEXT = "no_text"  # nothing to embed (no user message text)
    NO_CANDIDATES = "no_candidates"  # nothing stored in this scope
    BELOW_THRESHOLD = "below_threshold"  # nearest candidate not similar enough
    REJECTED = "rejected"  # candidates above threshold, each vetoed by a guard
    BYPASSED = "bypassed"  # the non-determinism policy or the caller skipped the lookup
    EXACT_ONLY = "exact_only"  # only the exact layer was consulted, and it missed
    BACKEND_ERROR = "backend_error"  # a backend failed; failing open
    STALE = "stale"  # entries found, all older than the caller's max-age


@dataclass(frozen=True, slots=True)
class Candidate:
    """A stored entry that may answer the query.

    ``response`` is the cached answer; a candidate read from the vector index carries it still
    serialised in ``raw_response`` (only the one served is parsed): :meth:`answer` gives it
    either way.
    """

    id: str
    similarity: float
    text: str
    response: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    raw_response: str | None = None

    def answer(self) -> Any:
        """The cached answer, parsed from ``raw_response`` when that is how it came."""
        if self.raw_response is None:
            return self.response
        return orjson.loads(self.raw_response)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A guard's veto of one candidate."""

    candidate_id: str
    similarity: float
    guard: str
    reason: str


@runtime_checkable
class Guard(Protocol):
    """A check that can veto a candidate above the threshold; it can never create a hit."""

    @property
    def name(self) -> str: ...

    def check(self, query: str, candidate: Candidate) -> str | None:
        """Return ``None`` to let the candidate through, or the reason to reject it."""
        ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of a lookup and everything needed to explain it."""

    hit: bool
    threshold: float
    kind: HitKind | None = None
    reason: MissReason | None = None
    candidate: Candidate | None = None
    rejections: tuple[Rejection, ...] = ()
    score: float | None = None  # the pair model's score of the served (or best) candidate
    uncertain: Candidate | None = None  # a near-accepted candidate an optional judge may check
    # What the verifier found about each candidate it judged (semcached.policy.verifier's
    # Verdict), so a replay can decide again at any threshold and minimum score.
    verdicts: tuple[Any, ...] = ()

    @property
    def similarity(self) -> float | None:
        """The similarity of the served candidate, or of the best one seen on a miss."""
        return None if self.candidate is None else self.candidate.similarity


def decide(
    query: str,
    candidates: Sequence[Candidate],
    threshold: float,
    guards: Sequence[Guard] = (),
    *,
    stop_at_veto: bool = False,
) -> Decision:
    """Serve the most similar candidate at or above ``threshold`` that every guard accepts.

    With ``stop_at_veto``, a veto of the most similar candidate ends the search (a miss):
    a less similar candidate is then more often a wrong answer than the right one (measured
    on GPTCache's mock set: 8 of 53 such fallbacks were right).
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be within [0, 1], got {threshold}")
    if not query:
        return Decision(hit=False, threshold=threshold, reason=MissReason.NO_TEXT)
    ranked = sorted(candidates, key=lambda c: c.similarity, reverse=True)
    if not ranked:
        return Decision(hit=False, threshold=threshold, reason=MissReason.NO_CANDIDATES)
    rejections: list[Rejection] = []
    for candidate in ranked:
        if candidate.similarity < threshold:
            break
        veto = _first_veto(query, candidate, guards)
        if veto is None:
            return Decision(
                hit=True,
                threshold=threshold,
                kind=HitKind.SEMANTIC,
                candidate=candidate,
                rejections=tuple(rejections),
            )
        rejections.append(veto)
        if stop_at_veto:
            break
    reason = MissReason.REJECTED if rejections else MissReason.BELOW_THRESHOLD
    return Decision(
        hit=False,
        threshold=threshold,
        reason=reason,
        candidate=ranked[0],
        rejections=tuple(rejections),
    )


def _first_veto(query: str, candidate: Candidate, guards: Sequence[Guard]) -> Rejection | None:
    for guard in guards:
        reason = guard.check(query, candidate)
        if reason is not None:
            return Rejection(candidate.id, candidate.similarity, guard.name, reason)
    return None


def describe(decision: Decision) -> str:
    """One human sentence explaining a decision, for logs and the explain API."""
    similarity = decision.similarity
    sim = "n/a" if similarity is None else f"{similarity:.4f}"
    if decision.hit:
        kind = decision.kind or HitKind.SEMANTIC
        match kind:
            case HitKind.EXACT:
                return "exact hit: the same request was answered before"
            case HitKind.SEMANTIC:
                text = f"semantic hit: similarity {sim} >= threshold {decision.threshold:.4f}"
                if decision.score is not None:
                    text += f", verifier score {decision.score:.3f}"
                if any(r.guard == "judge" for r in decision.rejections):
                    text += ", confirmed by the judge"
                return text
            case _:
                assert_never(kind)
    reason = decision.reason or MissReason.NO_CANDIDATES
    match reason:
        case MissReason.NO_TEXT:
            return "miss: the request has no user text to compare"
        case MissReason.NO_CANDIDATES:
            return "miss: nothing is stored in this scope yet"
        case MissReason.BELOW_THRESHOLD:
            return f"miss: best similarity {sim} < threshold {decision.threshold:.4f}"
        case MissReason.REJECTED:
            why = "; ".join(f"{r.guard}: {r.reason}" for r in decision.rejections)
            return f"miss: candidates above the threshold were rejected ({why})"
        case MissReason.BYPASSED:
            return "miss: the lookup was bypassed by policy or by the caller"
        case MissReason.EXACT_ONLY:
            return "miss: only exact matches are served for this request, and none was found"
        case MissReason.BACKEND_ERROR:
            return "miss: a backend failed, so the request goes to the provider (fail open)"
        case MissReason.STALE:
            return "miss: the entries found are older than the caller's max-age"
        case _:
            assert_never(reason)
