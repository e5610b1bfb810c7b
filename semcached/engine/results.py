"""What a lookup and a ``get_or_call`` return: the answer, where it came from, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from semcached.policy.decision import Decision, HitKind, MissReason, describe

__all__ = [
    "BackendHealth",
    "CallResult",
    "FeedbackAction",
    "FeedbackResult",
    "LookupResult",
    "Source",
    "served_from_cache",
]

Source = Literal["exact", "semantic", "provider", "coalesced"]
FeedbackAction = Literal["deleted", "learned", "recorded"]


@dataclass(frozen=True, slots=True)
class LookupResult:
    """What a lookup found, and why. ``explain()`` says it in one sentence."""

    hit: bool
    namespace: str
    exact_key: str
    scope_key: str
    threshold: float
    kind: HitKind | None = None
    response: Any = None
    entry_id: str | None = None
    similarity: float | None = None
    reason: MissReason | None = None
    candidate_text: str | None = None
    decision: Decision | None = None
    failed_backends: tuple[str, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    created_at: float | None = None  # when the served entry was stored (epoch seconds)

    def explain(self) -> str:
        if self.decision is not None:
            text = describe(self.decision)
        elif self.hit:
            text = "exact hit: the same request was answered before"
        else:
            text = describe(Decision(hit=False, threshold=self.threshold, reason=self.reason))
        if self.failed_backends:
            text += f" (failed open: {', '.join(self.failed_backends)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable explanation (the response itself is left out)."""
        rejections = (
            []
            if self.decision is None
            else [
                {
                    "entry_id": r.candidate_id,
                    "similarity": r.similarity,
                    "guard": r.guard,
                    "reason": r.reason,
                }
                for r in self.decision.rejections
            ]
        )
        return {
            "hit": self.hit,
            "kind": None if self.kind is None else str(self.kind),
            "namespace": self.namespace,
            "entry_id": self.entry_id,
            "similarity": self.similarity,
            "threshold": self.threshold,
            "reason": None if self.reason is None else str(self.reason),
            "candidate_text": self.candidate_text,
            "rejections": rejections,
            "failed_backends": list(self.failed_backends),
            "timings_ms": self.timings_ms,
            "explanation": self.explain(),
        }


@dataclass(frozen=True, slots=True)
class CallResult:
    """The answer of :meth:`SemanticCache.get_or_call` and where it came from."""

    response: Any
    source: Source
    lookup: LookupResult
    stored: bool = False

    @property
    def cached(self) -> bool:
        return self.source in ("exact", "semantic")


def served_from_cache(lookup: LookupResult) -> CallResult | None:
    """The call's result when the lookup hit, else ``None`` (the provider must answer)."""
    if not lookup.hit:
        return None
    source: Source = "exact" if lookup.kind is HitKind.EXACT else "semantic"
    return CallResult(response=lookup.response, source=source, lookup=lookup)


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What a feedback report did: ``deleted`` the entry (a wrong answer, no adaptive policy),
    ``learned`` from it (the adaptive policy moved its boundary; the entry stays), or only
    ``recorded`` it (a right answer)."""

    entry_id: str
    namespace: str
    correct: bool
    action: FeedbackAction

    @property
    def removed(self) -> bool:
        return self.action == "deleted"


@dataclass(frozen=True, slots=True)
class BackendHealth:
    """One backend's answer to a health check: ``detail`` is ``ok`` or what failed."""

    ok: bool
    detail: str
    ms: float
