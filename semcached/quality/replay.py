"""Replay labelled pairs through the real cache.

Two replays, both through :meth:`SemanticCache.store` and :meth:`SemanticCache.lookup` (the
real canonical keys, scoping, segments, rules and pair model; nothing re-implemented):

* **pairs** (``{"a", "b", "label"}``): store ``a``, look up ``b``, forget ``a``. A hit on a
  duplicate (label 1) is right, a hit on a non-duplicate is a false hit.
* **retrieval** (GPTCache-style ``{"origin", "similar"}`` sets): store every origin, then look up
  every paraphrase; a hit is right only when it serves the paraphrase's own origin.

Each lookup is made once at a low ``floor`` threshold, keeping the verifier's verdicts (see
:mod:`semcached.quality.metrics`), and once as configured. Embeddings are computed up front in
batches (optionally kept on disk), and the pair model scores in batches too.

Example::

    replay = evaluate_path("pairs.jsonl", Settings())
    print(format_report(replay))
"""

from __future__ import annotations

import functools
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from semcached.embeddings.base import Embedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.engine.cache import SemanticCache
from semcached.engine.results import LookupResult
from semcached.index.exact.base import MemoryExactStore
from semcached.index.vector.memory import MemoryVectorBackend
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Guard, HitKind
from semcached.policy.segments import compare, retrieval_text
from semcached.quality.metrics import Mode, Outcome, Replay
from semcached.quality.pairs import Pair, load_pairs, load_paraphrase_sets
from semcached.settings import Settings

__all__ = [
    "EVAL_MODEL",
    "build_replay_cache",
    "evaluate_path",
    "replay_feedback_stream",
    "replay_pairs",
    "replay_retrieval",
]

EVAL_MODEL = "semcached-eval"


def build_replay_cache(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    guards: Sequence[Guard] | None = None,
    texts: int = 200_000,
    **kwargs: Any,
) -> SemanticCache:
    """A :class:`SemanticCache` configured by ``settings`` (threshold, verifier, pair model,
    adaptive policy), on an in-memory exact store and vector index, so a replay touches no user
    data. ``guards=()`` replays with no rules and no pair model at all."""
    from semcached import factory

    if embedder is None:
        embedder = factory.build_embedder(settings)
    if isinstance(embedder, CachedEmbedder):
        # Room for every text of the replay: embedded once up front, never evicted midway.
        embedder.max_entries = max(embedder.max_entries, texts)
        vectors = embedder
    else:
        vectors = CachedEmbedder(embedder, max_entries=texts)
    options: dict[str, Any] = dict(kwargs)
    if guards is not None:
        options["guards"] = guards
        if not guards:
            options.setdefault("scorer", False)
        else:
            options.setdefault("scorer", None)
    cache = SemanticCache(
        settings,
        embedder=vectors,
        exact_store=MemoryExactStore(max_entries=max(1000, texts)),
        vector_backend=MemoryVectorBackend(),
        **options,
    )
    return cache


def _request(text: str) -> dict[str, Any]:
    return {"model": EVAL_MODEL, "temperature": 0, "messages": [{"role": "user", "content": text}]}


def _warm(cache: SemanticCache, texts: Sequence[str], batch: int = 2048) -> None:
    unique = list(dict.fromkeys(retrieval_text(t) for t in texts if t))
    for start in range(0, len(unique), batch):
        cache.embedder.embed(unique[start : start + batch])


def _outcome(
    lookup: LookupResult,
    policy: LookupResult,
    *,
    label: int,
    expected: str | None,
) -> Outcome:
    """What one lookup at the floor and one as configured found."""
    exact = lookup.hit and lookup.kind is HitKind.EXACT
    decision = lookup.decision
    verdicts = () if decision is None else tuple(decision.verdicts)
    closest = (
        verdicts[0].candidate if verdicts else (None if decision is None else decision.candidate)
    )
    top_similarity = 1.0 if exact else (None if closest is None else closest.similarity)
    top_id = expected if exact else (None if closest is None else closest.id)
    right = (lambda entry: entry == expected) if expected is not None else (lambda _: label == 1)
    return Outcome(
        label=label,
        top_similarity=top_similarity,
        top_correct=top_id is not None and right(top_id),
        verdicts=verdicts,
        closest=closest,
        expected=expected,
        exact=exact,
        policy_hit=policy.hit,
        policy_correct=policy.hit and right(policy.entry_id if expected is not None else "x"),
        rejected_by=tuple(v.veto.guard for v in verdicts if v.veto is not None),
    )


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
    for i, pair in enumerate(pairs):
        if i % _SCORE_BLOCK == 0:
            _prime_scores(cache, pairs[i : i + _SCORE_BLOCK])
        request_a = _request(pair.a)
        cache.store(request_a, {"pair": i}, namespace=ns)
        at_floor = cache.lookup(_request(pair.b), namespace=ns, threshold=floor)
        policy = cache.lookup(_request(pair.b), namespace=ns)
        cache.delete(cache.canonicalize(request_a, ns).exact_key, namespace=ns)
        outcomes.append(_outcome(at_floor, policy, label=pair.label, expected=None))
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(pairs))
    return _finish(cache, ns, "pairs", outcomes, floor=floor, start=start)


_SCORE_BLOCK = 512


def _prime_scores(cache: SemanticCache, pairs: Sequence[Pair]) -> None:
    """Score in one batch what the pair model will read for these pairs; the lookups then
    find the scores memoized (much faster than one by one)."""
    scorer = cache.verifier.scorer
    if scorer is None:
        return
    judged = [compare(p.a, p.b).judged for p in pairs]
    scorer.score_many([j for j in judged if j is not None])


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
    for i, (_, similar) in enumerate(sets):
        at_floor = cache.lookup(_request(similar), namespace=ns, threshold=floor)
        policy = cache.lookup(_request(similar), namespace=ns)
        outcomes.append(_outcome(at_floor, policy, label=1, expected=expected[i]))
        if progress is not None and (i + 1) % 1000 == 0:
            progress(i + 1, len(sets))
    return _finish(cache, ns, "retrieval", outcomes, floor=floor, start=start)


def _finish(
    cache: SemanticCache,
    namespace: str,
    mode: Mode,
    outcomes: list[Outcome],
    *,
    floor: float,
    start: float,
) -> Replay:
    """Drop the replay's namespace and package what it measured."""
    cache.invalidate(namespace)
    rejections = Counter(guard for o in outcomes for guard in o.rejected_by[:1])
    return Replay(
        mode=mode,
        outcomes=outcomes,
        floor=floor,
        policy_threshold=cache.threshold_for(namespace),
        verifier=cache.verifier,
        seconds=time.perf_counter() - start,
        rejections=dict(rejections),
    )


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
        scorer=None if verify else False,
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
