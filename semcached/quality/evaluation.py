"""Replay labelled pairs through the real cache and measure its hit quality.

Two replays, both through :meth:`SemanticCache.store` and :meth:`SemanticCache.lookup` (the
real canonical keys, scoping, decision core and guards; nothing re-implemented):

* **pairs** (``{"a", "b", "label"}``): store ``a``, look up ``b``, forget ``a``. A hit on a
  duplicate (label 1) is right, a hit on a non-duplicate is a false hit.
* **retrieval** (GPTCache-style ``{"origin", "similar"}`` sets): store every origin, then look up
  every paraphrase; a hit is right only when it serves the paraphrase's own origin.

Each lookup is made once at a low ``floor`` threshold: since a candidate's guards do not depend
on the threshold, whether it would hit at any higher threshold follows exactly (served iff its
similarity is at least that threshold). A second lookup with no override measures the configured
policy as it stands. Embeddings are computed up front in batches (optionally kept on disk), so
the replay itself costs well under a millisecond per pair.

Example::

    report = evaluate_path("pairs.jsonl", Settings())
    print(format_report(report))
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from semcached.embeddings.base import Embedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.engine.cache import LookupResult, SemanticCache
from semcached.index.exact.base import MemoryExactStore
from semcached.index.vector.memory import MemoryVectorBackend
from semcached.policy.adaptive import AdaptiveThresholds, wilson_bound
from semcached.policy.decision import Guard, HitKind, MissReason
from semcached.policy.guards import CrossEncoderGuard
from semcached.quality.pairs import Pair, load_pairs, load_paraphrase_sets
from semcached.settings import Settings

__all__ = [
    "CROSS_SCORES",
    "DEFAULT_THRESHOLDS",
    "EVAL_MODEL",
    "Metrics",
    "Mode",
    "Outcome",
    "Replay",
    "build_replay_cache",
    "evaluate_path",
    "format_report",
    "metrics_at",
    "policy_metrics",
    "reliability",
    "replay_feedback_stream",
    "replay_pairs",
    "replay_retrieval",
    "report_dict",
    "wilson",
]

Mode = Literal["pairs", "retrieval"]
CROSS_SCORES: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)  # shown by the report
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(round(0.80 + 0.01 * i, 2) for i in range(21))
EVAL_MODEL = "semcached-eval"


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
    """What the cache did for one looked-up text."""

    label: int  # 1: serving the stored answer is right (pairs: a duplicate)
    top_similarity: float | None  # best candidate (what cosine alone would serve)
    top_correct: bool
    served_similarity: float | None  # served at the floor with the guards; None on a miss
    served_correct: bool
    rejected_by: tuple[str, ...] = ()
    policy_hit: bool = False  # the configured policy, looked up for real
    policy_correct: bool = False
    # The cross-encoder's score of the candidate served at the floor (its veto held back, so
    # any minimum score can be measured); None without a cross-encoder or on a miss.
    cross_score: float | None = None


@dataclass(frozen=True, slots=True)
class Metrics:
    """Hit quality at one operating point."""

    threshold: float | None
    hits: int
    correct_hits: int
    false_hits: int
    positives: int  # lookups that should hit (pairs: duplicates; retrieval: every lookup)
    negatives: int  # denominator of the false-hit rate (pairs: non-duplicates; retrieval: all)

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
    """Every outcome of one replay, and how it was made."""

    mode: Mode
    outcomes: list[Outcome]
    floor: float
    policy_threshold: float
    guards: tuple[str, ...]
    seconds: float = 0.0
    rejections: dict[str, int] = field(default_factory=dict)
    policy_min_score: float | None = None  # the cross-encoder's configured minimum, if any
    cross_encoder_path: str | None = None  # its model directory
    stop_at_veto: bool = True  # the policy replayed (other minimum scores are exact only then)

    @property
    def scored(self) -> bool:
        """Whether the replay ran a cross-encoder (so ``min_score`` can be swept)."""
        return self.policy_min_score is not None

    @property
    def sweeps_min_score(self) -> bool:
        """Whether any minimum score can be measured from this replay: with a cross-encoder and
        the stop-at-veto policy (with fallback, a veto would have tried the next candidate)."""
        return self.scored and self.stop_at_veto

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


def metrics_at(
    replay: Replay, threshold: float, *, verified: bool = True, min_score: float | None = None
) -> Metrics:
    """Hit quality at ``threshold`` (at least the replay's floor), with or without the guards.

    With a cross-encoder in the replay, ``min_score`` is its minimum score (default: the
    configured one); a candidate is served when its similarity reaches ``threshold``, the cheap
    checks pass and its cross-encoder score reaches ``min_score``. This is exact for the default
    ``stop_at_veto`` policy (a vetoed best candidate is a miss); other minimum scores than the
    configured one can only be asked of such a replay.
    """
    if threshold < replay.floor - 1e-9:
        raise ValueError(
            f"threshold {threshold} is below the replay's floor {replay.floor}; replay again "
            "with a lower floor"
        )
    if min_score is None:
        min_score = replay.policy_min_score
    elif min_score != replay.policy_min_score and not replay.sweeps_min_score:
        raise ValueError(
            "this replay cannot measure other cross-encoder minimum scores (it needs a "
            "cross-encoder and SEMCACHED_VERIFIER__STOP_AT_VETO=true); pass min_score=None"
        )
    hits = correct = 0
    for o in replay.outcomes:
        sim, right = (
            (o.served_similarity, o.served_correct)
            if verified
            else (o.top_similarity, o.top_correct)
        )
        if sim is None or sim < threshold:
            continue
        if verified and min_score is not None and (o.cross_score or 0.0) < min_score:
            continue
        hits += 1
        correct += right
    return Metrics(threshold, hits, correct, hits - correct, replay.positives, replay.negatives)


def policy_metrics(replay: Replay) -> Metrics:
    """Hit quality of the configured policy (its own lookups, not derived)."""
    hits = sum(o.policy_hit for o in replay.outcomes)
    correct = sum(o.policy_hit and o.policy_correct for o in replay.outcomes)
    return Metrics(
        replay.policy_threshold, hits, correct, hits - correct, replay.positives, replay.negatives
    )


def reliability(replay: Replay, edges: Sequence[float] | None = None) -> list[dict[str, Any]]:
    """Per similarity bin: how often serving the best candidate is right, without and with the
    guards, with Wilson 95% intervals: how much a similarity value can be trusted."""
    lo = max(0.0, math.floor(replay.floor * 20) / 20)
    bins = list(edges) if edges is not None else [round(lo + 0.05 * i, 2) for i in range(21)]
    bins = [b for b in bins if b <= 1.0]
    if bins[-1] < 1.0:
        bins.append(1.0)
    rows = []
    for low, high in itertools.pairwise(bins):
        last = high >= 1.0

        def inside(
            sim: float | None, low: float = low, high: float = high, last: bool = last
        ) -> bool:
            return sim is not None and low <= sim and (sim <= high if last else sim < high)

        top = [o.top_correct for o in replay.outcomes if inside(o.top_similarity)]
        served = [o.served_correct for o in replay.outcomes if inside(o.served_similarity)]
        if not top and not served:
            continue
        row: dict[str, Any] = {"bin": f"[{low:.2f}, {high:.2f}{']' if last else ')'}"}
        for name, values in (("cosine", top), ("verified", served)):
            n, k = len(values), sum(values)
            ci = wilson(k, n)
            row[f"{name}_n"] = n
            row[f"{name}_precision"] = round(k / n, 4) if n else None
            row[f"{name}_ci95"] = [round(ci[0], 4), round(ci[1], 4)]
        rows.append(row)
    return rows


# -- building the replay cache ----------------------------------------------------------------


def build_replay_cache(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    guards: Sequence[Guard] | None = None,
    texts: int = 200_000,
) -> SemanticCache:
    """A :class:`SemanticCache` configured by ``settings`` (threshold, verifier, adaptive policy),
    on an in-memory exact store and vector index, so a replay touches no user data."""
    from semcached import factory

    if embedder is None:
        embedder = factory.build_embedder(settings)
    if isinstance(embedder, CachedEmbedder):
        # Room for every text of the replay: embedded once up front, never evicted midway.
        embedder.max_entries = max(embedder.max_entries, texts)
        vectors = embedder
    else:
        vectors = CachedEmbedder(embedder, max_entries=texts)
    kwargs: dict[str, Any] = {}
    if guards is not None:
        kwargs["guards"] = guards
    return SemanticCache(
        settings,
        embedder=vectors,
        exact_store=MemoryExactStore(max_entries=max(1000, texts)),
        vector_backend=MemoryVectorBackend(),
        **kwargs,
    )


def _request(text: str) -> dict[str, Any]:
    return {"model": EVAL_MODEL, "temperature": 0, "messages": [{"role": "user", "content": text}]}


def _warm(cache: SemanticCache, texts: Sequence[str], batch: int = 2048) -> None:
    unique = list(dict.fromkeys(t for t in texts if t))
    for start in range(0, len(unique), batch):
        cache.embedder.embed(unique[start : start + batch])


def _guard_names(cache: SemanticCache) -> tuple[str, ...]:
    return tuple(g.name for g in cache.guards)


def _served(result: LookupResult) -> tuple[float | None, str | None]:
    """Similarity and entry id of what the lookup served (``None`` on a miss)."""
    if not result.hit:
        return None, None
    sim = 1.0 if result.kind is HitKind.EXACT else result.similarity
    return sim, result.entry_id


def replay_pairs(
    cache: SemanticCache,
    pairs: Sequence[Pair],
    *,
    floor: float = 0.80,
    namespace: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Replay:
    """Store ``a``, look up ``b`` (at ``floor`` and with the configured policy), forget ``a``.

    Example::

        replay = replay_pairs(build_replay_cache(Settings()), load_pairs("pairs.jsonl"))
        print(metrics_at(replay, 0.9).precision)
    """
    ns = namespace or f"semcached-eval-{time.time_ns()}"
    start = time.perf_counter()
    _warm(cache, [t for p in pairs for t in (p.a, p.b)])
    outcomes: list[Outcome] = []
    rejections: Counter[str] = Counter()
    scorer = _cross_encoder(cache)
    for i, pair in enumerate(pairs):
        if scorer is not None and i % _SCORE_BLOCK == 0:  # batched: much faster than one by one
            _prime_scores(cache, scorer, pairs[i : i + _SCORE_BLOCK], ns, floor)
        request_a = _request(pair.a)
        cache.store(request_a, {"pair": i}, namespace=ns)
        at_floor = _lookup_at_floor(cache, scorer, pair.b, ns, floor)
        policy = cache.lookup(_request(pair.b), namespace=ns)
        cache.delete(cache.canonicalize(request_a, ns).exact_key, namespace=ns)
        served_sim, _ = _served(at_floor)
        top_sim, _ = _top(at_floor)
        vetoes = _vetoes(at_floor)
        rejections.update(vetoes)
        right = pair.label == 1
        outcomes.append(
            Outcome(
                label=pair.label,
                top_similarity=top_sim,
                top_correct=right,
                served_similarity=served_sim,
                served_correct=right,
                rejected_by=vetoes,
                policy_hit=policy.hit,
                policy_correct=right,
                cross_score=_cross_score(cache, scorer, at_floor, pair.b, ns),
            )
        )
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(pairs))
    return _finish(
        cache, ns, "pairs", outcomes=outcomes, floor=floor, start=start, rejections=rejections
    )


def replay_retrieval(
    cache: SemanticCache,
    sets: Sequence[tuple[str, str]],
    *,
    floor: float = 0.80,
    namespace: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Replay:
    """Store every origin, then look up every paraphrase: right only if it serves its origin."""
    ns = namespace or f"semcached-eval-{time.time_ns()}"
    start = time.perf_counter()
    _warm(cache, [t for pair in sets for t in pair])
    # Identical origins share one entry (one exact key): serving it is right for either.
    expected = [cache.canonicalize(_request(origin), ns).exact_key for origin, _ in sets]
    for i, (origin, _) in enumerate(sets):
        cache.store(_request(origin), {"origin": i}, namespace=ns)
    outcomes: list[Outcome] = []
    rejections: Counter[str] = Counter()
    scorer = _cross_encoder(cache)
    for i, (_, similar) in enumerate(sets):
        at_floor = _lookup_at_floor(cache, scorer, similar, ns, floor)
        policy = cache.lookup(_request(similar), namespace=ns)
        served_sim, served_id = _served(at_floor)
        top_sim, top_id = _top(at_floor)
        vetoes = _vetoes(at_floor)
        rejections.update(vetoes)
        outcomes.append(
            Outcome(
                label=1,
                top_similarity=top_sim,
                top_correct=top_id == expected[i],
                served_similarity=served_sim,
                served_correct=served_id == expected[i],
                rejected_by=vetoes,
                policy_hit=policy.hit,
                policy_correct=policy.hit and policy.entry_id == expected[i],
                cross_score=_cross_score(cache, scorer, at_floor, similar, ns),
            )
        )
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(sets))
    return _finish(
        cache, ns, "retrieval", outcomes=outcomes, floor=floor, start=start, rejections=rejections
    )


def _finish(
    cache: SemanticCache,
    namespace: str,
    mode: Mode,
    *,
    outcomes: list[Outcome],
    floor: float,
    start: float,
    rejections: Counter[str],
) -> Replay:
    """Drop the replay's namespace and package what it measured."""
    cache.invalidate(namespace)
    scorer = _cross_encoder(cache)
    return Replay(
        mode=mode,
        outcomes=outcomes,
        floor=floor,
        policy_threshold=cache.threshold_for(namespace),
        guards=_guard_names(cache),
        seconds=time.perf_counter() - start,
        rejections=dict(rejections),
        policy_min_score=None if scorer is None else scorer.min_score,
        cross_encoder_path=None if scorer is None else str(scorer.path),
        stop_at_veto=cache.stop_at_veto,
    )


_SCORE_BLOCK = 512


def _cross_encoder(cache: SemanticCache) -> CrossEncoderGuard | None:
    return next((g for g in cache.guards if isinstance(g, CrossEncoderGuard)), None)


def _prime_scores(
    cache: SemanticCache,
    scorer: CrossEncoderGuard,
    pairs: Sequence[Pair],
    namespace: str,
    floor: float,
) -> None:
    """Score in one batch the pairs whose similarity may reach the floor (the rest never meet
    the cross-encoder); the lookups then find their scores memoized."""
    queries = [_text(cache, p.b, namespace) for p in pairs]
    stored = [_text(cache, p.a, namespace) for p in pairs]
    similarity = np.einsum("ij,ij->i", cache.embedder.embed(queries), cache.embedder.embed(stored))
    scorer.score_many(
        [
            (q, t)
            for q, t, sim in zip(queries, stored, similarity, strict=True)
            if sim >= floor - 0.01
        ]
    )


def _text(cache: SemanticCache, text: str, namespace: str) -> str:
    """The text the guards see for a stored or looked-up prompt."""
    return cache.canonicalize(_request(text), namespace).text


def _lookup_at_floor(
    cache: SemanticCache,
    scorer: CrossEncoderGuard | None,
    text: str,
    namespace: str,
    floor: float,
) -> LookupResult:
    """The lookup at the floor, with the cross-encoder's veto held back (its score is recorded
    separately, so every minimum score can be measured from one replay)."""
    if scorer is None:
        return cache.lookup(_request(text), namespace=namespace, threshold=floor)
    configured = scorer.min_score
    scorer.min_score = 0.0
    try:
        return cache.lookup(_request(text), namespace=namespace, threshold=floor)
    finally:
        scorer.min_score = configured


def _cross_score(
    cache: SemanticCache,
    scorer: CrossEncoderGuard | None,
    result: LookupResult,
    text: str,
    namespace: str,
) -> float | None:
    if scorer is None or not result.hit:
        return None
    if result.kind is HitKind.EXACT:
        return 1.0  # the exact layer serves without the verifier
    decision = result.decision
    if decision is None or decision.candidate is None:
        return None
    return scorer.score(_text(cache, text, namespace), decision.candidate.text)


def _top(result: LookupResult) -> tuple[float | None, str | None]:
    """Similarity and entry id of the best candidate (what cosine alone would serve)."""
    if result.hit and result.kind is HitKind.EXACT:
        return 1.0, result.entry_id
    decision = result.decision
    if decision is None or decision.candidate is None:
        return None, None
    if decision.rejections:  # the best candidate was vetoed first
        return decision.rejections[0].similarity, decision.rejections[0].candidate_id
    return decision.candidate.similarity, decision.candidate.id


def _vetoes(result: LookupResult) -> tuple[str, ...]:
    if result.decision is None:
        return ()
    if result.reason not in (None, MissReason.REJECTED) and not result.hit:
        return ()
    return tuple(r.guard for r in result.decision.rejections)


def replay_feedback_stream(
    pairs: list[Pair],
    embedder: Any,
    *,
    start: float,
    adaptive: AdaptiveThresholds | None,
    verify: bool,
    feedback_rate: float,
    every: int,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Replay ``pairs`` as live traffic with user feedback, through ``get_or_call``.

    For each pair the provider's answer to ``a`` is stored, then ``b`` is asked; the provider
    answers ``b`` with ``a``'s answer when they are duplicates, so a served hit is wrong exactly
    on non-duplicates. Each served semantic hit gets ``feedback(correct=...)`` with probability
    ``feedback_rate`` (when ``adaptive`` is given; its ``compare`` also probes near misses).
    Returns one row per ``every`` lookups: the threshold in force, hits, the hit rate on
    duplicates and the false-hit rate (wrong share of hits), cumulative and in the window.
    """
    rng = random.Random(seed)
    cache = SemanticCache(
        embedder=embedder,
        exact_store=MemoryExactStore(max_entries=10_000),
        vector_backend=MemoryVectorBackend(),
        threshold=start,
        guards=None if verify else (),
        adaptive=adaptive,
    )
    ns = "replay"
    duplicates = hits = right = 0
    rows: list[dict[str, Any]] = []
    window_hits = window_wrong = 0
    for i, pair in enumerate(pairs, 1):
        answer_a = {"answer": f"a{i}"}
        fresh_b = answer_a if pair.label == 1 else {"answer": f"b{i}"}
        cache.store(_request(pair.a), answer_a, namespace=ns)
        result = cache.get_or_call(
            _request(pair.b), functools.partial(dict, fresh_b), namespace=ns, skip_store=True
        )
        duplicates += pair.label
        if result.source == "semantic":
            hits += 1
            window_hits += 1
            correct = pair.label == 1
            right += correct
            window_wrong += not correct
            if adaptive is not None and rng.random() < feedback_rate:
                assert result.lookup.entry_id is not None
                cache.feedback(result.lookup.entry_id, correct=correct, namespace=ns)
        cache.delete(cache.canonicalize(_request(pair.a), ns).exact_key, namespace=ns)
        if i % every == 0 or i == len(pairs):
            rows.append(
                {
                    "lookups": i,
                    "threshold": round(cache.threshold_for(ns), 4),
                    "hits": hits,
                    "hit_rate_dup": round(right / duplicates, 4) if duplicates else 0.0,
                    "false_hit_rate": round((hits - right) / hits, 4) if hits else 0.0,
                    "window_false_hit_rate": round(window_wrong / window_hits, 4)
                    if window_hits
                    else 0.0,
                }
            )
            window_hits = window_wrong = 0
    return rows


# -- one call for the CLI and the notebook ------------------------------------------------------


def evaluate_path(
    path: str | Path,
    settings: Settings,
    *,
    limit: int | None = None,
    floor: float = 0.80,
    cache: SemanticCache | None = None,
    progress: Callable[[int, int], None] | None = None,
    namespace: str | None = None,
) -> Replay:
    """Replay a labelled file (pairs, or GPTCache-style sets as retrieval) through a cache.

    ``namespace`` names the (in-memory) namespace replayed in, so that its configured
    threshold is the policy measured; by default a fresh one under the global threshold.
    """
    path = Path(path)
    cache = cache or build_replay_cache(settings)
    name = path.name.removesuffix(".gz")
    if name.endswith(".json") and not name.endswith(".jsonl"):
        sets = load_paraphrase_sets(path)
        if limit is not None:
            sets = sets[:limit]
        return replay_retrieval(cache, sets, floor=floor, progress=progress, namespace=namespace)
    return replay_pairs(
        cache, load_pairs(path, limit=limit), floor=floor, progress=progress, namespace=namespace
    )


def report_dict(replay: Replay, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    """Everything ``eval-cache --json`` prints."""
    usable = [t for t in thresholds if t >= replay.floor - 1e-9]
    return {
        "mode": replay.mode,
        "lookups": len(replay.outcomes),
        "positives": replay.positives,
        "negatives": replay.negatives if replay.mode == "pairs" else None,
        "guards": list(replay.guards),
        "seconds": round(replay.seconds, 2),
        "policy": policy_metrics(replay).to_dict(),
        "verified": [metrics_at(replay, t).to_dict() for t in usable],
        "cosine_only": [metrics_at(replay, t, verified=False).to_dict() for t in usable],
        "rejections": dict(sorted(replay.rejections.items())),
        "reliability": reliability(replay),
        "cross_encoder": {
            "model": replay.cross_encoder_path,
            "policy_min_score": replay.policy_min_score,
            "by_min_score": {
                f"{score:g}": [metrics_at(replay, t, min_score=score).to_dict() for t in usable]
                for score in CROSS_SCORES
            },
        }
        if replay.sweeps_min_score
        else None,
    }


def format_report(replay: Replay, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> str:
    """The human-readable tables of ``eval-cache``."""
    body = report_dict(replay, thresholds)
    rate_name = "false-hit rate" if replay.mode == "pairs" else "wrong-hit rate"
    hit_name = "dup hit rate" if replay.mode == "pairs" else "right-hit rate"
    lines = [
        f"{body['lookups']} lookups ({replay.mode}; {body['positives']} should hit), "
        f"guards: {', '.join(replay.guards) or 'none'}, {body['seconds']} s",
        "",
        f"{'threshold':>9} | {'verified: ' + hit_name:>24} {rate_name:>15} {'precision':>9} "
        f"{'F1':>6} | {'cosine only: ' + hit_name:>27} {rate_name:>15} {'precision':>9}",
    ]
    for verified, cosine in zip(body["verified"], body["cosine_only"], strict=True):
        lines.append(
            f"{verified['threshold']:>9.2f} | {verified['hit_rate']:>24.1%} "
            f"{verified['false_hit_rate']:>15.1%} {verified['precision']:>9.3f} "
            f"{verified['f1']:>6.3f} | {cosine['hit_rate']:>27.1%} "
            f"{cosine['false_hit_rate']:>15.1%} {cosine['precision']:>9.3f}"
        )
    policy = body["policy"]
    low, high = policy["precision_ci95"]
    lines += [
        "",
        f"configured policy (threshold {policy['threshold']:.4f}, guards "
        f"{'on' if replay.guards else 'off'}): {hit_name} {policy['hit_rate']:.1%}, "
        f"{rate_name} {policy['false_hit_rate']:.1%}, precision {policy['precision']:.3f} "
        f"(95% CI {low:.3f}-{high:.3f}), recall {policy['recall']:.1%}, F1 {policy['f1']:.3f}",
    ]
    if body["rejections"]:
        lines.append(
            "guard vetoes at the floor: "
            + ", ".join(
                f"{k} {v}" for k, v in sorted(body["rejections"].items(), key=lambda kv: -kv[1])
            )
        )
    if body["cross_encoder"] is not None:
        lines += ["", _cross_table(body["cross_encoder"]["by_min_score"], hit_name)]
    lines += ["", "reliability (how often the best candidate is right, by similarity):"]
    lines.append(f"{'similarity':>14} | {'cosine n':>8} {'precision':>9} {'95% CI':>13} | "
                 f"{'verified n':>10} {'precision':>9} {'95% CI':>13}")  # fmt: skip
    for row in body["reliability"]:
        cells = []
        for name in ("cosine", "verified"):
            n, p, ci = row[f"{name}_n"], row[f"{name}_precision"], row[f"{name}_ci95"]
            width = 8 if name == "cosine" else 10
            prec = "-" if p is None else f"{p:.3f}"
            cells.append(f"{n:>{width}} {prec:>9} {ci[0]:>6.3f}-{ci[1]:<6.3f}")
        lines.append(f"{row['bin']:>14} | {cells[0]} | {cells[1]}")
    return "\n".join(lines)


def _cross_table(by_score: dict[str, list[dict[str, Any]]], hit_name: str) -> str:
    """Per threshold (rows) and cross-encoder minimum score (columns): hit rate / precision."""
    scores = list(by_score)
    lines = [
        f"with the cross-encoder: {hit_name} / precision, by minimum score",
        f"{'threshold':>9} | " + " ".join(f"{'score >= ' + s:>16}" for s in scores),
    ]
    for row in range(len(by_score[scores[0]])):
        cells = [by_score[s][row] for s in scores]
        lines.append(
            f"{cells[0]['threshold']:>9.2f} | "
            + " ".join(f"{c['hit_rate']:>8.1%} / {c['precision']:.3f}" for c in cells)
        )
    return "\n".join(lines)
