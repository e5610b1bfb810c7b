"""The verifier: judge what differs between a candidate and the query, and serve only when sure.

For each candidate at or above the similarity threshold (the closest few, closest first):

1. **segments** (:mod:`semcached.policy.segments`): the same text but for case, spacing and
   punctuation is the same request (served, score 1.0); long prompts are compared part by part
   and only what differs goes on; a difference that cannot be judged (inside a shared document,
   or longer than the model reads) is a veto naming where it is;
2. **rules** (the cheap checks of :mod:`semcached.policy.guards`) on what differs: a rule can
   only veto;
3. **the pair model** (:class:`PairScorer`, a small cross-encoder trained to tell "the cached
   answer is right for this request" from a near miss) scores every surviving candidate in one
   batch; the best-scored one is served if its score reaches ``min_score``.

A candidate the verifier is unsure about (a score within ``judge_band`` below ``min_score``)
can be sent to an optional judge through the provider (see :mod:`semcached.engine.judge`); the
decision then says so (``Decision.uncertain``) and the engine asks.

Every outcome names its reason: the candidate, its similarity, the threshold, the verifier's
score, and which step said no. Pure: the pair model is computation, never IO.

Example::

    verifier = Verifier(default_guards(), scorer=OnnxPairScorer.packaged(), min_score=0.8)
    decision = verifier.decide("how do i turn off 2FA", candidates, threshold=0.7)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from semcached.policy.decision import (
    Candidate,
    Decision,
    Guard,
    HitKind,
    MissReason,
    Rejection,
)
from semcached.policy.segments import compare

__all__ = ["PairScorer", "Verdict", "Verifier"]


@runtime_checkable
class PairScorer(Protocol):
    """A model scoring (cached text, query) pairs: the probability that the cached answer is a
    right answer to the query. Batched; thread-safe."""

    @property
    def name(self) -> str: ...

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the verifier found out about one candidate before any threshold is applied.

    ``same`` (served as the same request), or a ``veto`` (segments or a rule said no), or a
    ``judged`` pair with the model's ``score`` (``None`` without a model).
    """

    candidate: Candidate
    same: bool = False
    veto: Rejection | None = None
    judged: tuple[str, str] | None = None
    score: float | None = None
    partial: bool = False  # what was judged is a part of longer prompts (not both whole)


class Verifier:
    """Decides between a query and its nearest candidates (see the module docstring).

    ``max_candidates`` bounds how many of the closest candidates above the threshold are
    judged (their model scores come from one batch); with ``stop_at_veto`` a veto of the
    closest candidate ends the search (a farther one is not served in its place).
    """

    def __init__(
        self,
        guards: Sequence[Guard] = (),
        *,
        scorer: PairScorer | None = None,
        min_score: float = 0.5,
        max_candidates: int = 1,
        stop_at_veto: bool = False,
        judge_band: float = 0.0,
        partial_min_score: float = 0.0,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        if not 0.0 <= partial_min_score <= 1.0:
            raise ValueError(f"partial_min_score must be within [0, 1], got {partial_min_score}")
        if max_candidates < 1:
            raise ValueError(f"max_candidates must be at least 1, got {max_candidates}")
        if not 0.0 <= judge_band <= min_score:
            raise ValueError(
                f"judge_band must be within [0, min_score={min_score}], got {judge_band}"
            )
        self.guards = list(guards)
        self.scorer = scorer
        self.min_score = min_score
        self.max_candidates = max_candidates
        self.stop_at_veto = stop_at_veto
        self.judge_band = judge_band
        self.partial_min_score = partial_min_score

    @property
    def names(self) -> list[str]:
        """The steps that can say no, in order (for reports)."""
        names = ["segments", *(g.name for g in self.guards)]
        return [*names, self.scorer.name] if self.scorer is not None else names

    def needed(self, verdict: Verdict, min_score: float) -> float:
        """The score ``verdict`` needs: ``min_score``, or ``partial_min_score`` when the
        parts of two long prompts were judged (the same document with another question is
        the costliest near miss, and the model reads the questions without the document)."""
        return max(min_score, self.partial_min_score) if verdict.partial else min_score

    def decide(
        self,
        query: str,
        candidates: Sequence[Candidate],
        threshold: float,
        *,
        min_score: float | None = None,
    ) -> Decision:
        """Serve the best candidate at or above ``threshold`` that the verifier accepts."""
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be within [0, 1], got {threshold}")
        if not query:
            return Decision(hit=False, threshold=threshold, reason=MissReason.NO_TEXT)
        ranked = sorted(candidates, key=lambda c: c.similarity, reverse=True)
        if not ranked:
            return Decision(hit=False, threshold=threshold, reason=MissReason.NO_CANDIDATES)
        verdicts = self.examine(query, ranked, threshold)
        decision = self.select(
            ranked[0], verdicts, threshold, self.min_score if min_score is None else min_score
        )
        return replace(decision, verdicts=tuple(verdicts))

    def examine(self, query: str, ranked: Sequence[Candidate], threshold: float) -> list[Verdict]:
        """The verdicts on the closest ``max_candidates`` candidates at or above ``threshold``
        (``ranked`` closest first), scored in one batch. :meth:`select` then decides, for this
        threshold or any higher one, and any minimum score (how replays sweep them exactly)."""
        verdicts: list[Verdict] = []
        for candidate in ranked[: self.max_candidates]:
            if candidate.similarity < threshold:
                break
            difference = compare(candidate.text, query)
            if difference.same:
                verdicts.append(Verdict(candidate, same=True))
                break  # nothing farther can beat the same request
            if difference.judged is None:
                reason = difference.reason or "the difference cannot be judged"
                segments = Rejection(candidate.id, candidate.similarity, "segments", reason)
                verdicts.append(Verdict(candidate, veto=segments))
                continue
            cached, asked = difference.judged
            rule = _first_veto(asked, replace(candidate, text=cached), self.guards)
            partial = difference.judged != (candidate.text, query)
            verdicts.append(
                Verdict(candidate, veto=rule, judged=difference.judged, partial=partial)
            )
        todo = [
            (i, v.judged) for i, v in enumerate(verdicts) if v.veto is None and v.judged is not None
        ]
        if self.scorer is not None and todo:
            scores = self.scorer.score_many([pair for _, pair in todo])
            for (i, _), score in zip(todo, scores, strict=True):
                verdicts[i] = replace(verdicts[i], score=float(score))
        return verdicts

    def select(
        self,
        closest: Candidate,
        verdicts: Sequence[Verdict],
        threshold: float,
        min_score: float,
    ) -> Decision:
        """The decision from ``verdicts`` at ``threshold`` and ``min_score`` (pure)."""
        rejections: list[Rejection] = []
        pool: list[Verdict] = []
        for verdict in verdicts:
            candidate = verdict.candidate
            if candidate.similarity < threshold:
                break
            if verdict.same:
                return Decision(
                    hit=True,
                    threshold=threshold,
                    kind=HitKind.SEMANTIC,
                    candidate=candidate,
                    rejections=tuple(rejections),
                    score=1.0,
                )
            if verdict.veto is not None:
                rejections.append(verdict.veto)
                if self.stop_at_veto and not pool:
                    break
                continue
            pool.append(verdict)
            if verdict.score is None:
                break  # without a model the closest surviving candidate is served
        if pool and pool[0].score is None:
            return Decision(
                hit=True,
                threshold=threshold,
                kind=HitKind.SEMANTIC,
                candidate=pool[0].candidate,
                rejections=tuple(rejections),
            )
        if pool:
            best = max(pool, key=lambda v: (v.score or 0.0, v.candidate.similarity))
            score = best.score or 0.0
            need = self.needed(best, min_score)
            if score >= need:
                return Decision(
                    hit=True,
                    threshold=threshold,
                    kind=HitKind.SEMANTIC,
                    candidate=best.candidate,
                    rejections=tuple(rejections),
                    score=score,
                )
            name = self.scorer.name if self.scorer is not None else "verifier"
            for verdict in pool:
                needed = self.needed(verdict, min_score)
                why = f"verifier score {verdict.score or 0.0:.3f} < {needed:.3f}"
                if verdict.partial and needed > min_score:
                    why += " (parts of long prompts are judged more strictly)"
                rejections.append(
                    Rejection(verdict.candidate.id, verdict.candidate.similarity, name, why)
                )
            near = self.judge_band > 0.0 and score >= need - self.judge_band
            return Decision(
                hit=False,
                threshold=threshold,
                reason=MissReason.REJECTED,
                candidate=closest,
                rejections=tuple(rejections),
                score=score,
                uncertain=best.candidate if near else None,
            )
        reason = MissReason.REJECTED if rejections else MissReason.BELOW_THRESHOLD
        return Decision(
            hit=False,
            threshold=threshold,
            reason=reason,
            candidate=closest,
            rejections=tuple(rejections),
        )


def _first_veto(query: str, candidate: Candidate, guards: Sequence[Guard]) -> Rejection | None:
    for guard in guards:
        reason = guard.check(query, candidate)
        if reason is not None:
            return Rejection(candidate.id, candidate.similarity, guard.name, reason)
    return None
