"""Hit quality from a replay: what each lookup found, and metrics at any operating point.

A replay looks each query up once, at a low ``floor`` threshold, and keeps the verifier's
verdicts on its closest candidates (segments, rules, the pair model's score). Since the
verifier's :meth:`~semcached.policy.verifier.Verifier.select` decides from those verdicts alone,
the decision at any higher threshold and any minimum score follows exactly from one replay:
:func:`metrics_at` replays the selection, nothing is estimated.

Example::

    replay = replay_pairs(build_replay_cache(Settings()), load_pairs("pairs.jsonl"))
    print(metrics_at(replay, 0.9, min_score=0.8).precision)
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from semcached.policy.adaptive import wilson_bound
from semcached.policy.decision import Candidate
from semcached.policy.verifier import Verdict, Verifier

__all__ = [
    "Metrics",
    "Mode",
    "Outcome",
    "Replay",
    "metrics_at",
    "policy_metrics",
    "reliability",
    "served_at",
    "wilson",
]

Mode = Literal["pairs", "retrieval"]


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% for ``z=1.96``); (0, 1) when empty.

    Example::

        low, high = wilson(95, 100)   # about (0.888, 0.978)
    """
    return (
        wilson_bound(successes, total, z, upper=False),
        wilson_bound(successes, total, z, upper=True),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the cache found for one looked-up text.

    ``verdicts`` are the verifier's, at the replay's floor, on the closest candidates;
    ``expected`` is the entry id that is right to serve (retrieval replays), or ``None`` when
    any hit is right exactly for a duplicate (pairs: ``label == 1``). ``exact`` marks a lookup
    the exact layer answered (the same request: right whatever the label says).
    """

    label: int
    top_similarity: float | None  # best candidate (what cosine alone would serve)
    top_correct: bool
    verdicts: tuple[Verdict, ...] = ()
    closest: Candidate | None = None
    expected: str | None = None
    exact: bool = False
    policy_hit: bool = False  # the configured policy, looked up for real
    policy_correct: bool = False
    rejected_by: tuple[str, ...] = ()

    def correct(self, served: str | None) -> bool:
        if served is None:
            return False
        return served == self.expected if self.expected is not None else self.label == 1


@dataclass(frozen=True, slots=True)
class Metrics:
    """Hit quality at one operating point."""

    threshold: float | None
    hits: int
    correct_hits: int
    false_hits: int
    positives: int  # lookups that should hit (pairs: duplicates; retrieval: every lookup)
    negatives: int  # denominator of the false-hit rate (pairs: non-duplicates; retrieval: all)
    min_score: float | None = None

    @property
    def hit_rate(self) -> float:
        """Share of the lookups that should hit and did, with the right answer (recall)."""
        return self.correct_hits / self.positives if self.positives else 0.0

    @property
    def false_hit_rate(self) -> float:
        return self.false_hits / self.negatives if self.negatives else 0.0

    @property
    def precision(self) -> float:
        return self.correct_hits / self.hits if self.hits else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.hit_rate
        return 2 * p * r / (p + r) if p + r else 0.0

    def precision_interval(self, z: float = 1.96) -> tuple[float, float]:
        return wilson(self.correct_hits, self.hits, z)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.precision_interval()
        return {
            "threshold": self.threshold,
            "min_score": self.min_score,
            "hits": self.hits,
            "correct_hits": self.correct_hits,
            "false_hits": self.false_hits,
            "hit_rate": round(self.hit_rate, 4),
            "false_hit_rate": round(self.false_hit_rate, 4),
            "precision": round(self.precision, 4),
            "precision_ci95": [round(low, 4), round(high, 4)],
            "recall": round(self.hit_rate, 4),
            "f1": round(self.f1, 4),
        }


@dataclass(slots=True)
class Replay:
    """Every outcome of one replay, and the verifier that made it (its selection reruns)."""

    mode: Mode
    outcomes: list[Outcome]
    floor: float
    policy_threshold: float
    verifier: Verifier
    seconds: float = 0.0
    rejections: dict[str, int] = field(default_factory=dict)
    _columns: Any = field(default=None, repr=False, compare=False)

    @property
    def guards(self) -> tuple[str, ...]:
        return tuple(self.verifier.names) if self.verifier.guards or self.scored else ()

    @property
    def scored(self) -> bool:
        """Whether a pair model scored the candidates (so ``min_score`` can be swept)."""
        return self.verifier.scorer is not None

    @property
    def policy_min_score(self) -> float | None:
        return self.verifier.min_score if self.scored else None

    @property
    def positives(self) -> int:
        if self.mode == "retrieval":
            return len(self.outcomes)
        return sum(o.label for o in self.outcomes)

    @property
    def negatives(self) -> int:
        if self.mode == "retrieval":
            return len(self.outcomes)
        return len(self.outcomes) - self.positives


def served_at(
    replay: Replay, outcome: Outcome, threshold: float, min_score: float | None = None
) -> tuple[str | None, float | None]:
    """The entry the verifier serves for ``outcome`` at this operating point, and its
    similarity (``(None, None)`` on a miss)."""
    if outcome.exact:
        return outcome.expected or "exact", 1.0
    if outcome.closest is None:
        return None, None
    floor = replay.verifier.min_score if min_score is None else min_score
    decision = replay.verifier.select(outcome.closest, outcome.verdicts, threshold, floor)
    if not decision.hit or decision.candidate is None:
        return None, None
    return decision.candidate.id, decision.candidate.similarity


def metrics_at(
    replay: Replay, threshold: float, *, verified: bool = True, min_score: float | None = None
) -> Metrics:
    """Hit quality at ``threshold`` (at least the replay's floor) and, with a pair model, its
    minimum score (default: the configured one); ``verified=False`` is cosine alone."""
    if threshold < replay.floor - 1e-9:
        raise ValueError(
            f"threshold {threshold} is below the replay's floor {replay.floor}; replay again "
            "with a lower floor"
        )
    score = (min_score if min_score is not None else replay.policy_min_score) if verified else None
    if verified and replay.mode == "pairs":
        hits, correct = _pairs_at(replay, threshold, score)
        return Metrics(
            threshold, hits, correct, hits - correct, replay.positives, replay.negatives, score
        )
    hits = correct = 0
    for o in replay.outcomes:
        if verified:
            served, _ = served_at(replay, o, threshold, min_score)
            if served is None:
                continue
            right = o.correct(served)
        else:
            if o.top_similarity is None or o.top_similarity < threshold:
                continue
            right = o.top_correct
        hits += 1
        correct += right
    return Metrics(
        threshold, hits, correct, hits - correct, replay.positives, replay.negatives, score
    )


def _pairs_at(replay: Replay, threshold: float, min_score: float | None) -> tuple[int, int]:
    """:func:`metrics_at` for a pairs replay (one candidate per lookup), on columns: the same
    selection rule, vectorised, so sweeping a grid of operating points stays fast."""
    if replay._columns is None:
        rows = []
        for o in replay.outcomes:
            v = o.verdicts[0] if len(o.verdicts) == 1 else None
            if len(o.verdicts) > 1:
                raise ValueError("a pairs replay holds one candidate per lookup")
            rows.append(
                (
                    1.0 if o.exact else (v.candidate.similarity if v is not None else -1.0),
                    o.exact or (v is not None and v.same),
                    v is not None and v.veto is None and not v.same,
                    -1.0 if v is None or v.score is None else v.score,
                    v is not None and v.score is None,  # no model: served once not vetoed
                    o.label == 1,
                    v is not None and v.partial,  # parts of long prompts: a stricter score
                )
            )
        replay._columns = [np.array(column) for column in zip(*rows, strict=True)] if rows else []
    if not replay._columns:
        return 0, 0
    sim, same, judged, score, unscored, right, partial = replay._columns
    floor = -1.0 if min_score is None else min_score
    strict = max(floor, replay.verifier.partial_min_score)
    needed = np.where(partial, strict, floor)
    served = (sim >= threshold) & (same | (judged & (unscored | (score >= needed))))
    return int(served.sum()), int((served & right).sum())


def policy_metrics(replay: Replay) -> Metrics:
    """Hit quality of the configured policy (its own lookups, not derived)."""
    hits = sum(o.policy_hit for o in replay.outcomes)
    correct = sum(o.policy_hit and o.policy_correct for o in replay.outcomes)
    return Metrics(
        replay.policy_threshold,
        hits,
        correct,
        hits - correct,
        replay.positives,
        replay.negatives,
        replay.policy_min_score,
    )


def reliability(replay: Replay, edges: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Per similarity bin: how often serving the best candidate is right, without and with the
    verifier, with Wilson 95% intervals: how much a similarity value can be trusted."""
    lo = max(0.0, math.floor(replay.floor * 20) / 20)
    bins = list(edges) if edges is not None else [round(lo + 0.05 * i, 2) for i in range(21)]
    bins = [b for b in bins if b <= 1.0]
    if bins[-1] < 1.0:
        bins.append(1.0)
    served = [served_at(replay, o, replay.floor) for o in replay.outcomes]
    rows = []
    for low, high in itertools.pairwise(bins):
        last = high >= 1.0

        def inside(
            sim: float | None, low: float = low, high: float = high, last: bool = last
        ) -> bool:
            return sim is not None and low <= sim and (sim <= high if last else sim < high)

        top = [o.top_correct for o in replay.outcomes if inside(o.top_similarity)]
        verified = [
            o.correct(entry)
            for o, (entry, sim) in zip(replay.outcomes, served, strict=True)
            if inside(sim)
        ]
        if not top and not verified:
            continue
        row: dict[str, Any] = {"bin": f"[{low:.2f}, {high:.2f}{']' if last else ')'}"}
        for name, values in (("cosine", top), ("verified", verified)):
            n, k = len(values), sum(values)
            ci = wilson(k, n)
            row[f"{name}_n"] = n
            row[f"{name}_precision"] = round(k / n, 4) if n else None
            row[f"{name}_ci95"] = [round(ci[0], 4), round(ci[1], 4)]
        rows.append(row)
    return rows
