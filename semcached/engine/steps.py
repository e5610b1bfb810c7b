"""The IO of the engine's states, shared by the sync and the async driver.

:class:`Steps` performs one state of :mod:`semcached.engine.core` (an exact-store read, an
embedding, a vector search, a decision) and writes what a miss stores. Every backend call is
timed and fails open: an exception becomes a :class:`~semcached.engine.core.Failure`, a counter
(``errors.<backend>``) and a log line, never an exception for the caller. The sync driver calls
:meth:`Steps.run` in its own thread; the async one calls it on the event loop for stores that
never block and in bounded worker threads for everything else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, assert_never

import numpy as np

from semcached.embeddings.base import Embedder
from semcached.embeddings.cache import CachedEmbedder
from semcached.engine.core import (
    AskJudge,
    Decide,
    Embed,
    Failure,
    Finished,
    Plan,
    ProbeExact,
    Search,
    State,
    StoreWrite,
    Vector,
    exact_payload,
    store_plan,
)
from semcached.engine.entries import NO_EXPIRY, SemanticStore
from semcached.engine.judge import Judge
from semcached.engine.results import LookupResult
from semcached.engine.stats import CacheStats
from semcached.errors import BackendError, InvalidRequestError
from semcached.index.exact.base import ExactStore
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Candidate, Decision, MissReason
from semcached.policy.segments import retrieval_text

__all__ = ["Decider", "Steps"]

log = logging.getLogger("semcached")

Decider = Callable[[str, Sequence[Candidate], float], Decision]

_JUDGE_CHARS = 8000  # what the judge reads of each text, at most

_BACKEND_OF_STAGE = {
    "exact": "exact_store",
    "exact_write": "exact_store",
    "embed": "embedder",
    "vector": "vector_index",
    "vector_write": "vector_index",
    "decide": "verifier",
    "judge": "judge",
}


class Steps:
    """The backends of one cache and the IO each engine state needs of them."""

    def __init__(
        self,
        *,
        exact_store: ExactStore,
        embedder: Embedder,
        semantic: SemanticStore,
        stats: CacheStats,
        decide: Decider,
        top_k: int,
        ttl_s: float | None = None,
        adaptive: AdaptiveThresholds | None = None,
        clock: Callable[[], float] = time.time,
        judge: Judge | None = None,
    ) -> None:
        self.clock = clock
        self.judge = judge
        self.ttl_s = self.check_ttl(ttl_s) if ttl_s is not None else None
        self.exact_store = exact_store
        self.embedder = embedder
        self.semantic = semantic
        self.stats = stats
        self.decide = decide
        self.top_k = top_k
        self.adaptive = adaptive

    # -- one state --------------------------------------------------------------------------

    def embed_one(self, text: str, namespace: str) -> Any:
        """One text's vector; a remembered one only from the same namespace (timings of a
        shared memo would tell a tenant which prompts another namespace asked)."""
        if isinstance(self.embedder, CachedEmbedder):
            return self.embedder.embed([text], scope=namespace)[0]
        return self.embedder.embed([text])[0]

    def run(self, state: State, timings: dict[str, float]) -> Any:
        """Perform the IO ``state`` asks for and return the outcome its ``next`` takes."""
        match state:
            case ProbeExact(plan=plan):
                canon = plan.canon
                return self.timed(
                    timings, "exact", lambda: self.exact_store.get(canon.namespace, canon.exact_key)
                )
            case Embed(plan=plan):
                namespace = plan.canon.namespace
                return self.timed(timings, "embed", lambda: self.embed_one(state.text, namespace))
            case Search(plan=plan, vector=vector):
                canon = plan.canon
                return self.timed(
                    timings,
                    "vector",
                    lambda: self.semantic.search(
                        canon.namespace, canon.scope_key, vector, plan.top_k
                    ),
                )
            case Decide(plan=plan, candidates=candidates):
                outcome = self.timed(
                    timings, "decide", lambda: self.decide(state.text, candidates, plan.threshold)
                )
                if isinstance(outcome, Failure):  # a verifier bug: never serve on it
                    return Decision(
                        hit=False,
                        threshold=plan.threshold,
                        reason=MissReason.BACKEND_ERROR,
                        candidate=candidates[0] if candidates else None,
                    )
                return outcome
            case AskJudge():
                judge = self.judge
                if judge is None:
                    return None  # no judge configured: no verdict, the candidate is not served
                cached, query = state.texts
                return self.timed(
                    timings, "judge", lambda: judge.ask(cached[:_JUDGE_CHARS], query[:_JUDGE_CHARS])
                )
            case Finished():
                raise ValueError("a finished lookup has no step left to run")
            case _:
                assert_never(state)

    def finished(self, finished: Finished, timings: dict[str, float]) -> LookupResult:
        """Count a finished lookup, warm the exact layer if asked, attach the timings."""
        lookup = finished.lookup
        if lookup.hit:
            self.stats.incr(f"hits.{lookup.kind}")
            candidate = None if lookup.decision is None else lookup.decision.candidate
            if self.adaptive is not None and candidate is not None:
                self.adaptive.record_hit(lookup.namespace, candidate.id, candidate.similarity)
        else:
            self.stats.incr("misses")
            self.stats.incr(f"misses.{lookup.reason or MissReason.NO_CANDIDATES}")
        if lookup.decision is not None:
            for rejection in lookup.decision.rejections:
                self.stats.incr(f"rejections.{rejection.guard}")
        failed = list(lookup.failed_backends)
        if finished.warm is not None:
            self.warm(lookup.namespace, finished.warm, timings, failed)
        lookup.timings_ms.update(timings)
        if len(failed) != len(lookup.failed_backends):
            lookup = replace(lookup, failed_backends=tuple(failed))
        return lookup

    # -- writes -----------------------------------------------------------------------------

    def check_ttl(self, ttl_s: float | None) -> float | None:
        """The TTL a store uses (``None``: the cache's default); a clear error if invalid."""
        ttl = getattr(self, "ttl_s", None) if ttl_s is None else ttl_s
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0
        ):
            raise InvalidRequestError(
                f"ttl_s must be a positive number of seconds, got {ttl!r}", field="ttl_s"
            )
        return ttl

    def store(
        self,
        plan: Plan,
        response: Any,
        ttl_s: float | None,
        vector: Vector | None = None,
        timings: dict[str, float] | None = None,
    ) -> bool:
        """Store ``response`` for the planned request (serialised once; the lookup's vector
        reused); ``False`` if a backend failed or the policy bypasses storing.

        Raises :class:`InvalidRequestError` when the response is not JSON or the TTL is bad.
        """
        ttl = self.check_ttl(ttl_s)
        write = store_plan(
            plan.canon, plan.policy, response, ttl_s=ttl, now=self.clock(), vector=vector
        )
        if plan.policy == "bypass":
            self.stats.incr("store.skipped")
            return False
        return self.write(write, {} if timings is None else timings)

    def store_quietly(
        self, plan: Plan, response: Any, ttl_s: float | None, vector: Vector | None = None
    ) -> bool:
        """:meth:`store` for a provider's answer: one that cannot be cached is skipped with a
        warning (the caller still gets it)."""
        try:
            return self.store(plan, response, ttl_s, vector)
        except InvalidRequestError as exc:
            log.warning("not caching the provider's answer: %s", exc)
            self.stats.incr("store.skipped")
            return False

    def write(self, write: StoreWrite, timings: dict[str, float]) -> bool:
        """Write a store: the vector entry first (it carries the answer, so it is complete on
        its own), then the exact layer. ``False`` when a backend failed."""
        ok = True
        if write.entry is not None:
            vector = write.vector
            if vector is None:
                text, namespace = retrieval_text(write.entry.text), write.namespace
                outcome = self.timed(timings, "embed", lambda: self.embed_one(text, namespace))
                vector = None if isinstance(outcome, Failure) else outcome
            if vector is None:
                ok = False
            else:
                entry, found = write.entry, vector
                evicted = self.timed(
                    timings, "vector_write", lambda: self.semantic.put(entry, found)
                )
                if isinstance(evicted, Failure):
                    ok = False
                elif evicted:
                    self.stats.incr("evictions", evicted)
        written = self.timed(
            timings,
            "exact_write",
            lambda: self.exact_store.set(write.namespace, write.key, write.payload, write.ttl_s),
        )
        ok = ok and not isinstance(written, Failure)
        self.stats.incr("stores" if ok else "store.failed")
        return ok

    def write_many(self, writes: Sequence[StoreWrite]) -> int:
        """Write many stores in batches: one embedding call and one vector upsert per
        namespace, then the exact layer. Returns how many were written. A failing backend
        raises (bulk work is retried by its caller, not failed open entry by entry)."""
        by_namespace: dict[str, list[StoreWrite]] = {}
        for write in writes:
            by_namespace.setdefault(write.namespace, []).append(write)
        written = 0
        for namespace, group in by_namespace.items():
            with_entries = [w for w in group if w.entry is not None]
            missing = [w for w in with_entries if w.vector is None]
            if missing:
                texts = [retrieval_text(w.entry.text) for w in missing if w.entry is not None]
                if isinstance(self.embedder, CachedEmbedder):
                    vectors = self.embedder.embed(texts, scope=namespace)
                else:
                    vectors = self.embedder.embed(texts)
                fresh = iter(vectors)
                with_entries = [
                    w if w.vector is not None else w.with_vector(next(fresh)) for w in with_entries
                ]
            if with_entries:
                entries = [w.entry for w in with_entries if w.entry is not None]
                matrix = np.stack([np.asarray(w.vector, dtype=np.float32) for w in with_entries])
                evicted = self.semantic.put_many(entries, matrix)
                if evicted:
                    self.stats.incr("evictions", evicted)
            for write in group:
                self.exact_store.set(write.namespace, write.key, write.payload, write.ttl_s)
            written += len(group)
            self.stats.incr("stores", len(group))
        return written

    def warm(
        self, namespace: str, candidate: Candidate, timings: dict[str, float], failed: list[str]
    ) -> None:
        """Copy an entry found in the vector index into the exact layer, with its TTL left."""
        expires = candidate.metadata.get("expires_at")
        ttl = None
        if isinstance(expires, int | float) and expires < NO_EXPIRY:
            ttl = max(0.001, float(expires) - self.clock())
        if candidate.raw_response is None:
            return
        created = candidate.metadata.get("created_at", self.clock())
        payload = exact_payload(candidate.id, candidate.raw_response, float(created))
        outcome = self.timed(
            timings,
            "exact_write",
            lambda: self.exact_store.set(namespace, candidate.id, payload, ttl),
        )
        if isinstance(outcome, Failure):
            failed.append(outcome.backend)

    # -- the provider -----------------------------------------------------------------------

    def probe(self, lookup: LookupResult, fresh: Any) -> None:
        """A near miss: let the adaptive policy compare the close candidate's answer with the
        provider's, so it learns whether a lower threshold would have been right."""
        adaptive, decision = self.adaptive, lookup.decision
        if adaptive is None or decision is None or decision.candidate is None or lookup.hit:
            return
        if decision.reason is not MissReason.BELOW_THRESHOLD:
            return
        if not adaptive.should_probe(decision.candidate.similarity, lookup.threshold):
            return
        try:
            cached = decision.candidate.answer()
            same = adaptive.probe(lookup.namespace, decision.candidate.similarity, cached, fresh)
        except Exception as exc:  # a user's compare function must not fail the request
            log.warning("adaptive compare failed, ignoring this probe: %s", exc)
            return
        self.stats.incr("adaptive.probe.same" if same else "adaptive.probe.different")

    # -- failing open -----------------------------------------------------------------------

    def timed(self, timings: dict[str, float], stage: str, fn: Callable[[], Any]) -> Any:
        """Run one backend step: its result, or a :class:`Failure` (counted and logged)."""
        start = time.perf_counter()
        try:
            return fn()
        except BackendError as exc:
            return self._failed(exc.backend, stage, exc)
        except Exception as exc:  # a backend bug must not fail the caller's request either
            return self._failed(_BACKEND_OF_STAGE.get(stage, stage), stage, exc)
        finally:
            elapsed = time.perf_counter() - start
            timings[stage] = round(elapsed * 1000, 4)
            self.stats.observe(stage, elapsed)

    def _failed(self, backend: str, stage: str, exc: Exception) -> Failure:
        self.stats.incr(f"errors.{backend}")
        log.warning("%s failed during %s, failing open: %s", backend, stage, exc)
        return Failure(backend, str(exc))
