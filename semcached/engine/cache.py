"""The engine: look a request up by exact key, then by meaning, else call the provider and store.

Fail open, never fail wrong: a failing backend (Redis, ChromaDB, the embedder) turns into a
miss plus a counter and a log line, and the caller still gets the provider's answer. A hit is
only possible within the request's scope (see :mod:`semcached.request`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from semcached.embeddings.base import Embedder
from semcached.engine.entries import NO_EXPIRY, CacheEntry, SemanticStore
from semcached.engine.flights import SingleFlight
from semcached.engine.results import (
    CallResult,
    LookupResult,
    Source,
    bypassed_lookup,
    served_from_cache,
)
from semcached.engine.stats import CacheStats
from semcached.errors import BackendError, InvalidRequestError
from semcached.index.exact.base import ExactStore
from semcached.index.vector.base import VectorBackend
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Candidate, Decision, Guard, HitKind, MissReason, decide
from semcached.request import CanonicalRequest, ChatRequest, canonicalize
from semcached.settings import DEFAULT_THRESHOLD, NondeterministicPolicy, Settings

__all__ = ["CallResult", "LookupResult", "Request", "SemanticCache", "Source"]

log = logging.getLogger("semcached")

Request = ChatRequest | Mapping[str, Any]


class SemanticCache:
    """The semantic cache, in-process. ``SemanticCache()`` runs on embedded defaults.

    Components not given are built from :class:`~semcached.settings.Settings` (read from
    ``SEMCACHED_*`` variables): an in-process exact store (or Redis with ``SEMCACHED_REDIS_URL``),
    an embedded ChromaDB under ``SEMCACHED_DATA_DIR`` (or a server with ``SEMCACHED_CHROMA_URL``)
    and the packaged all-MiniLM-L6-v2.

    Example::

        cache = SemanticCache()
        request = {"model": "gpt-4o-mini", "temperature": 0,
                   "messages": [{"role": "user", "content": "What is the capital of France?"}]}
        result = cache.get_or_call(request, lambda: openai_client.chat.completions.create(
            **request).model_dump())
        print(result.source, result.lookup.explain())
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        exact_store: ExactStore | None = None,
        vector_backend: VectorBackend | None = None,
        namespace: str | None = None,
        threshold: float | None = None,
        namespace_thresholds: Mapping[str, float] | None = None,
        top_k: int | None = None,
        ttl_s: float | None = None,
        max_entries_per_namespace: int | None = None,
        nondeterministic: NondeterministicPolicy | None = None,
        guards: Sequence[Guard] | None = None,
        adaptive: AdaptiveThresholds | None = None,
    ) -> None:
        needs_settings = settings is None and None in (embedder, exact_store, vector_backend)
        if needs_settings:
            settings = Settings()
        from semcached import factory

        cfg = settings
        # `is None`, not `or`: stores and embedders with __len__ are falsy when empty.
        self.embedder = embedder if embedder is not None else factory.build_embedder(_required(cfg))
        self.exact_store = (
            exact_store if exact_store is not None else factory.build_exact_store(_required(cfg))
        )
        backend = (
            vector_backend
            if vector_backend is not None
            else factory.build_vector_backend(_required(cfg))
        )
        self.namespace = namespace or (cfg.namespace if cfg else "default")
        self.threshold = _pick(threshold, cfg.threshold if cfg else None, DEFAULT_THRESHOLD)
        _check_threshold(self.threshold, "threshold")
        self.namespace_thresholds = dict(
            namespace_thresholds
            if namespace_thresholds is not None
            else (cfg.namespace_thresholds if cfg else {})
        )
        for ns, value in self.namespace_thresholds.items():
            _check_threshold(value, f"namespace_thresholds[{ns!r}]")
        self.top_k = _pick(top_k, cfg.top_k if cfg else None, 4)
        self.ttl_s = ttl_s if ttl_s is not None else (cfg.ttl_s if cfg else None)
        self.nondeterministic: NondeterministicPolicy = nondeterministic or (
            cfg.nondeterministic if cfg else "cache"
        )
        # guards=None: the verifier as configured (on by default); guards=(): none at all.
        self.guards: list[Guard] = list(guards) if guards is not None else _default_guards(cfg)
        self.adaptive = adaptive if adaptive is not None else _default_adaptive(cfg)
        # After a veto of the closest candidate, do not fall back to a farther one.
        self.stop_at_veto = cfg.verifier.stop_at_veto if cfg else True
        if self.adaptive is not None:
            self.guards.append(self.adaptive.guard())
        self.semantic = SemanticStore(
            backend,
            model_id=self.embedder.model_id,
            prefix=cfg.chroma.collection_prefix if cfg else "semcached",
            max_entries=_pick(
                max_entries_per_namespace, cfg.max_entries_per_namespace if cfg else None, 100_000
            ),
        )
        self.stats = CacheStats()
        self._flights: SingleFlight[Any] = SingleFlight()

    # -- lookup -----------------------------------------------------------------------------

    def threshold_for(self, namespace: str, override: float | None = None) -> float:
        """The threshold in force: per call, else per namespace, else global."""
        if override is not None:
            _check_threshold(override, "threshold")
            return float(override)
        configured = float(self.namespace_thresholds.get(namespace, self.threshold))
        if self.adaptive is not None:
            return self.adaptive.threshold(namespace, configured)
        return configured

    def canonicalize(self, request: Request, namespace: str | None = None) -> CanonicalRequest:
        return canonicalize(request, namespace or self.namespace)

    def lookup(
        self, request: Request, *, namespace: str | None = None, threshold: float | None = None
    ) -> LookupResult:
        """Exact layer, then the semantic layer. Never raises for a backend failure."""
        canon = self.canonicalize(request, namespace)
        return self._lookup(canon, self.threshold_for(canon.namespace, threshold))

    def _lookup(self, canon: CanonicalRequest, threshold: float) -> LookupResult:
        timings: dict[str, float] = {}
        failed: list[str] = []
        base = LookupResult(
            hit=False,
            namespace=canon.namespace,
            exact_key=canon.exact_key,
            scope_key=canon.scope_key,
            threshold=threshold,
            timings_ms=timings,
        )
        policy = self._policy(canon)
        if policy == "bypass":
            return self._miss(base, MissReason.BYPASSED, failed)

        payload = self._timed(
            timings, "exact", failed, lambda: self.exact_store.get(canon.namespace, canon.exact_key)
        )
        if isinstance(payload, dict) and "response" in payload:
            self.stats.incr("hits.exact")
            return replace(
                base,
                hit=True,
                kind=HitKind.EXACT,
                response=payload["response"],
                entry_id=canon.exact_key,
                similarity=1.0,
                failed_backends=tuple(failed),
            )
        if policy == "exact_only":
            return self._miss(base, MissReason.EXACT_ONLY, failed)
        if not canon.text:
            return self._miss(base, MissReason.NO_TEXT, failed)

        vectors = self._timed(timings, "embed", failed, lambda: self.embedder.embed([canon.text]))
        if vectors is None:
            return self._miss(base, MissReason.BACKEND_ERROR, failed)
        candidates = self._timed(
            timings,
            "vector",
            failed,
            lambda: self.semantic.search(canon.namespace, canon.scope_key, vectors[0], self.top_k),
        )
        if candidates is None:
            return self._miss(base, MissReason.BACKEND_ERROR, failed)

        same = next((c for c in candidates if c.id == canon.exact_key), None)
        if same is not None:
            # The identical request, persisted in the vector index (e.g. after a restart with
            # the in-process exact store): serve it as exact and warm the exact layer.
            self._warm_exact(canon, same, failed)
            return self._hit(base, HitKind.EXACT, same, failed)

        start = time.perf_counter()
        decision = decide(
            canon.text, candidates, threshold, self.guards, stop_at_veto=self.stop_at_veto
        )
        self._observe(timings, "decide", time.perf_counter() - start)
        for rejection in decision.rejections:
            self.stats.incr(f"rejections.{rejection.guard}")
        candidate = decision.candidate
        if decision.hit and candidate is not None:
            if self.adaptive is not None:
                self.adaptive.record_hit(canon.namespace, candidate.id, candidate.similarity)
            return self._hit(base, HitKind.SEMANTIC, candidate, failed, decision)
        reason = decision.reason or MissReason.NO_CANDIDATES
        self.stats.incr("misses")
        self.stats.incr(f"misses.{reason}")
        return replace(
            base,
            reason=reason,
            decision=decision,
            similarity=decision.similarity,
            entry_id=None if candidate is None else candidate.id,
            candidate_text=None if candidate is None else candidate.text,
            failed_backends=tuple(failed),
        )

    # -- store ------------------------------------------------------------------------------

    def store(
        self,
        request: Request,
        response: Any,
        *,
        namespace: str | None = None,
        ttl_s: float | None = None,
    ) -> bool:
        """Store ``response`` for ``request`` in both layers; ``False`` if a backend failed.

        Raises :class:`InvalidRequestError` (field ``response``) when the response is not JSON.
        """
        canon = self.canonicalize(request, namespace)
        return self._store(canon, response, ttl_s)

    def _store(self, canon: CanonicalRequest, response: Any, ttl_s: float | None) -> bool:
        try:
            json.dumps(response, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidRequestError(
                f"the response must be JSON-serialisable to be cached: {exc}. Return a dict "
                "(e.g. `completion.model_dump()` for the openai SDK)",
                field="response",
            ) from exc
        if self._policy(canon) == "bypass":
            self.stats.incr("store.skipped")
            return False
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if ttl is not None and ttl <= 0:
            raise InvalidRequestError(f"ttl_s must be positive, got {ttl}", field="ttl_s")
        now = time.time()
        failed: list[str] = []
        timings: dict[str, float] = {}
        ok = True
        if canon.text and self._policy(canon) == "cache":
            # Vector first: it carries the response, so it is complete on its own; the exact
            # layer is only a faster path to the same answer.
            entry = CacheEntry(
                id=canon.exact_key,
                namespace=canon.namespace,
                scope_key=canon.scope_key,
                model=canon.model,
                text=canon.text,
                response=response,
                created_at=now,
                expires_at=None if ttl is None else now + ttl,
            )
            vectors = self._timed(
                timings, "embed", failed, lambda: self.embedder.embed([canon.text])
            )
            evicted = (
                None
                if vectors is None
                else self._timed(
                    timings, "vector_write", failed, lambda: self.semantic.put(entry, vectors[0])
                )
            )
            if evicted is None:
                ok = False
            elif evicted:
                self.stats.incr("evictions", evicted)
        payload = {"id": canon.exact_key, "response": response, "created_at": now}
        failures_before = len(failed)
        self._timed(
            timings,
            "exact_write",
            failed,
            lambda: self.exact_store.set(canon.namespace, canon.exact_key, payload, ttl),
        )
        ok = ok and len(failed) == failures_before
        self.stats.incr("stores" if ok else "store.failed")
        return ok

    # -- get_or_call ------------------------------------------------------------------------

    def get_or_call(
        self,
        request: Request,
        call: Callable[[], Any],
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        ttl_s: float | None = None,
        skip_lookup: bool = False,
        skip_store: bool = False,
    ) -> CallResult:
        """Serve from cache, else call ``call()`` once (single-flight) and store its answer.

        ``call`` is a zero-argument callable returning a JSON-serialisable response. Its
        exceptions propagate unchanged to the caller and to every concurrent twin, and are
        never cached.
        """
        canon = self.canonicalize(request, namespace)
        limit = self.threshold_for(canon.namespace, threshold)
        lookup = bypassed_lookup(canon, limit) if skip_lookup else self._lookup(canon, limit)
        cached = served_from_cache(lookup)
        if cached is not None:
            return cached

        def lead() -> tuple[Any, bool]:
            response = self._call_provider(call)
            self._maybe_probe(lookup, response)
            return response, (not skip_store) and self._store_quietly(canon, response, ttl_s)

        (response, stored), shared = self._flights.run(canon.exact_key, lead)
        if shared:
            self.stats.incr("provider.coalesced")
        return CallResult(
            response=response,
            source="coalesced" if shared else "provider",
            lookup=lookup,
            stored=stored and not shared,
        )

    def _call_provider(self, call: Callable[[], Any]) -> Any:
        with self.stats.counted("provider"):
            return call()

    def _store_quietly(self, canon: CanonicalRequest, response: Any, ttl_s: float | None) -> bool:
        try:
            return self._store(canon, response, ttl_s)
        except InvalidRequestError as exc:
            log.warning("not caching the provider's answer: %s", exc)
            self.stats.incr("store.skipped")
            return False

    # -- maintenance ------------------------------------------------------------------------

    def delete(self, entry_id: str, *, namespace: str | None = None) -> None:
        """Forget one entry (its id is the request's exact key) in both layers."""
        ns = namespace or self.namespace
        self.exact_store.delete(ns, entry_id)
        self.semantic.delete(ns, [entry_id])

    def feedback(
        self,
        entry_id: str,
        *,
        correct: bool,
        namespace: str | None = None,
        similarity: float | None = None,
    ) -> None:
        """Report whether a served entry answered its request correctly.

        Without an adaptive policy, a wrong report stops the entry being served at once (it
        is deleted from both layers). With one (``adaptive=``), the verdict moves the decision
        boundary instead: the entry now needs a closer match than the one it got wrong, and
        the namespace's threshold follows its observed false-hit rate (``similarity`` defaults
        to the one the entry was last served at). Counted as ``feedback.correct`` or
        ``feedback.wrong``.

        Example::

            result = cache.get_or_call(request, call)
            if result.source == "semantic" and not looks_right(result.response):
                cache.feedback(result.lookup.entry_id, correct=False)
        """
        self.stats.incr("feedback.correct" if correct else "feedback.wrong")
        if self.adaptive is not None and self.adaptive.feedback(
            entry_id, correct=correct, namespace=namespace, similarity=similarity
        ):
            return
        if not correct:
            self.delete(entry_id, namespace=namespace)

    def invalidate(self, namespace: str | None = None) -> None:
        """Forget every entry of a namespace, in both layers."""
        ns = namespace or self.namespace
        self.exact_store.clear(ns)
        self.semantic.clear(ns)

    def sweep(self, namespace: str | None = None) -> int:
        """Delete expired vector entries of a namespace now; returns how many."""
        removed = self.semantic.sweep(namespace or self.namespace)
        self.stats.incr("expired", removed)
        return removed

    def count(self, namespace: str | None = None) -> int:
        """How many entries (live or not yet swept) the namespace's vector index holds."""
        return self.semantic.count(namespace or self.namespace)

    def close(self) -> None:
        self.exact_store.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------

    def _maybe_probe(self, lookup: LookupResult, fresh: Any) -> None:
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
            same = adaptive.probe(
                lookup.namespace, decision.candidate.similarity, decision.candidate.response, fresh
            )
        except Exception as exc:  # a user's compare function must not fail the request
            log.warning("adaptive compare failed, ignoring this probe: %s", exc)
            return
        self.stats.incr("adaptive.probe.same" if same else "adaptive.probe.different")

    def _policy(self, canon: CanonicalRequest) -> NondeterministicPolicy:
        return "cache" if canon.is_deterministic else self.nondeterministic

    def _warm_exact(self, canon: CanonicalRequest, candidate: Candidate, failed: list[str]) -> None:
        expires = candidate.metadata.get("expires_at")
        ttl = None
        if isinstance(expires, int | float) and expires < NO_EXPIRY:
            ttl = max(0.001, float(expires) - time.time())
        payload = {
            "id": candidate.id,
            "response": candidate.response,
            "created_at": candidate.metadata.get("created_at", time.time()),
        }
        self._timed(
            {},
            "exact_write",
            failed,
            lambda: self.exact_store.set(canon.namespace, canon.exact_key, payload, ttl),
        )

    def _hit(
        self,
        base: LookupResult,
        kind: HitKind,
        candidate: Candidate,
        failed: list[str],
        decision: Decision | None = None,
    ) -> LookupResult:
        self.stats.incr(f"hits.{kind}")
        return replace(
            base,
            hit=True,
            kind=kind,
            response=candidate.response,
            entry_id=candidate.id,
            similarity=candidate.similarity,
            candidate_text=candidate.text,
            decision=decision,
            failed_backends=tuple(failed),
        )

    def _miss(self, base: LookupResult, reason: MissReason, failed: list[str]) -> LookupResult:
        self.stats.incr("misses")
        self.stats.incr(f"misses.{reason}")
        return replace(base, reason=reason, failed_backends=tuple(failed))

    def _observe(self, timings: dict[str, float], stage: str, seconds: float) -> None:
        timings[stage] = round(seconds * 1000, 4)
        self.stats.observe(stage, seconds)

    def _timed(
        self, timings: dict[str, float], stage: str, failed: list[str], fn: Callable[[], Any]
    ) -> Any:
        """Run one backend step; on failure count it, log it and return ``None`` (fail open)."""
        start = time.perf_counter()
        try:
            return fn()
        except BackendError as exc:
            self._backend_failed(exc.backend, stage, exc, failed)
        except Exception as exc:  # a backend bug must not fail the caller's request either
            self._backend_failed(_BACKEND_OF_STAGE.get(stage, stage), stage, exc, failed)
        finally:
            self._observe(timings, stage, time.perf_counter() - start)
        return None

    def _backend_failed(self, backend: str, stage: str, exc: Exception, failed: list[str]) -> None:
        failed.append(backend)
        self.stats.incr(f"errors.{backend}")
        log.warning("%s failed during %s, failing open: %s", backend, stage, exc)


_BACKEND_OF_STAGE = {
    "exact": "exact_store",
    "exact_write": "exact_store",
    "embed": "embedder",
    "vector": "vector_index",
    "vector_write": "vector_index",
}


def _default_guards(settings: Settings | None) -> list[Guard]:
    from semcached.policy.guards.rules import default_guards

    if settings is None:
        return default_guards()
    options = settings.verifier
    if not options.enabled:
        return []
    return default_guards(
        options.checks,
        cross_encoder_path=options.cross_encoder_path,
        cross_encoder_min_score=options.cross_encoder_min_score,
    )


def _default_adaptive(settings: Settings | None) -> AdaptiveThresholds | None:
    if settings is None or not settings.adaptive.enabled:
        return None
    options = settings.adaptive
    return AdaptiveThresholds(
        max_false_hit_rate=options.max_false_hit_rate,
        floor=options.floor,
        min_observations=options.min_observations,
        confidence=options.confidence,
    )


def _pick(*values: Any) -> Any:
    return next(v for v in values if v is not None)


def _required(settings: Settings | None) -> Settings:
    assert settings is not None  # guaranteed by the constructor: built when a part is missing
    return settings


def _check_threshold(value: float, name: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidRequestError(
            f"{name} must be a cosine similarity within [0, 1], got {value!r}", field=name
        )
