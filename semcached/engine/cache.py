"""The engine's sync driver: :class:`SemanticCache`, the in-process semantic cache.

Each call is planned once (the request canonicalised and validated a single time), then its
lookup runs through the states of :mod:`semcached.engine.core`, whose IO
:class:`~semcached.engine.steps.Steps` performs. Fail open, never fail wrong: a failing backend
(Redis, ChromaDB, the embedder) turns into a miss plus a counter and a log line, and the caller
still gets the provider's answer. A hit is only possible within the request's scope (see
:mod:`semcached.request`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from semcached.embeddings.base import Embedder
from semcached.engine.adaptive_state import ExactStoreAdaptiveState
from semcached.engine.configured import configured_adaptive, configured_guards, configured_scorer
from semcached.engine.core import Finished, Plan, StoreWrite, begin, store_plan
from semcached.engine.entries import SemanticStore
from semcached.engine.flights import Flight, Flights, lead_or_follow
from semcached.engine.judge import Judge
from semcached.engine.results import (
    CallResult,
    FeedbackResult,
    LookupResult,
    Source,
    served_from_cache,
)
from semcached.engine.stats import CacheStats
from semcached.engine.steps import Steps
from semcached.engine.streams import (
    Replay,
    StreamResult,
    iterate,
    recorded_stream,
    replayed_events,
)
from semcached.engine.write_behind import WriteBehind
from semcached.errors import InvalidRequestError
from semcached.index.exact.base import ExactStore
from semcached.index.vector.base import VectorBackend
from semcached.index.vector.memory import MemoryVectorBackend
from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import Candidate, Decision, Guard
from semcached.policy.verifier import PairScorer, Verifier
from semcached.request import CanonicalRequest, ChatRequest, canonicalize
from semcached.settings import (
    DEFAULT_MIN_SCORE,
    DEFAULT_STOP_AT_VETO,
    DEFAULT_THRESHOLD,
    NondeterministicPolicy,
    Settings,
    VerifierOptions,
    WriteBehindOptions,
)

__all__ = ["CallResult", "LookupResult", "Request", "SemanticCache", "Source"]

log = logging.getLogger("semcached")

Request = ChatRequest | CanonicalRequest | Mapping[str, Any]


class SemanticCache:
    """The semantic cache, in-process. ``SemanticCache()`` runs on embedded defaults.

    Components not given are built from :class:`~semcached.settings.Settings` (read from
    ``SEMCACHED_*`` variables): an in-process exact store (or Redis with ``SEMCACHED_REDIS_URL``),
    an embedded ChromaDB under ``SEMCACHED_DATA_DIR`` (or a server with ``SEMCACHED_CHROMA_URL``)
    and the packaged all-MiniLM-L6-v2.

    ``clock`` (epoch seconds) dates entries and expires them; tests pass a fake one.

    ``write_behind``: a stored answer's vector entry is written to the vector index by a
    background thread (:mod:`semcached.engine.write_behind` says what is promised), journaled
    under ``<data_dir>/journal`` when the index is the configured one (or under
    ``SEMCACHED_WRITE_BEHIND__JOURNAL_DIR`` when that is set); on by default when the cache is
    built from settings (``SEMCACHED_WRITE_BEHIND__ENABLED``), off for explicit backends
    alone. ``close()`` writes what is still queued.

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
        clock: Callable[[], float] = time.time,
        scorer: PairScorer | Literal[False] | None = None,
        min_score: float | None = None,
        judge: Judge | None = None,
        judge_band: float | None = None,
        write_behind: bool | None = None,
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
        self.guards: list[Guard] = list(guards) if guards is not None else configured_guards(cfg)
        self.adaptive = adaptive if adaptive is not None else configured_adaptive(cfg)
        # After a veto of the closest candidate, do not fall back to a farther one.
        self.stop_at_veto = cfg.verifier.stop_at_veto if cfg else DEFAULT_STOP_AT_VETO
        if self.adaptive is not None:
            self.guards.append(self.adaptive.guard())
            if self.adaptive.shared is None and self.exact_store.blocking:
                # A shared exact store (Redis): replicas learn from each other's feedback.
                self.adaptive.share(ExactStoreAdaptiveState(self.exact_store))
        self.semantic = SemanticStore(
            backend,
            model_id=self.embedder.model_id,
            prefix=cfg.chroma.collection_prefix if cfg else "semcached",
            max_entries=_pick(
                max_entries_per_namespace, cfg.max_entries_per_namespace if cfg else None, 100_000
            ),
            clock=clock,
        )
        self.stats = CacheStats()
        # Settings given: their write-behind (on by default); explicit backends alone: off.
        behind = cfg.write_behind if cfg else WriteBehindOptions(enabled=False)
        if write_behind if write_behind is not None else behind.enabled:
            # Journaled when the index is the configured one (a cache on an index of its own,
            # a tool's or a test's, must not adopt the service's journal) or a root is named.
            journal = None
            if cfg is not None and not isinstance(backend, MemoryVectorBackend):
                if behind.journal_dir is not None:
                    journal = behind.journal_dir
                elif vector_backend is None:
                    journal = cfg.data_dir / "journal"
            self.semantic.write_behind(
                WriteBehind(
                    self.semantic.put_now,
                    journal_dir=journal,
                    stats=self.stats,
                    model_id=self.embedder.model_id,
                    fsync=behind.fsync,
                    max_pending=behind.max_pending,
                    max_delay_s=behind.max_delay_ms / 1000,
                )
            )
        self.flights = Flights()
        # guards given and no scorer: exactly those guards (tests, replays); scorer=False: none.
        chosen = configured_scorer(cfg, explicit=guards is not None) if scorer is None else scorer
        self.judge = judge
        options = cfg.verifier if cfg else None
        self.verifier = Verifier(
            self.guards,
            scorer=chosen or None,
            min_score=_pick(min_score, options.min_score if options else None, DEFAULT_MIN_SCORE),
            max_candidates=(options or VerifierOptions()).max_candidates,
            stop_at_veto=self.stop_at_veto,
            judge_band=_pick(judge_band, 0.0) if judge is not None else 0.0,
            partial_min_score=(options or VerifierOptions()).partial_min_score,
        )
        self.steps = Steps(
            exact_store=self.exact_store,
            embedder=self.embedder,
            semantic=self.semantic,
            stats=self.stats,
            decide=self._decide,
            top_k=self.top_k,
            ttl_s=self.ttl_s,
            adaptive=self.adaptive,
            clock=clock,
            judge=judge,
        )

    # -- planning (pure) --------------------------------------------------------------------

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
        """The request's canonical form, keys and text (see :func:`semcached.canonicalize`).

        A :class:`CanonicalRequest` is returned as it is (it was made for its own namespace).
        """
        if isinstance(request, CanonicalRequest):
            if namespace is not None and namespace != request.namespace:
                raise InvalidRequestError(
                    f"this canonical request was made for namespace {request.namespace!r}, "
                    f"not {namespace!r}; canonicalize the request for that namespace",
                    field="namespace",
                )
            return request
        return canonicalize(request, namespace or self.namespace)

    def plan(
        self,
        request: Request | CanonicalRequest,
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        skip_lookup: bool = False,
        max_age_s: float | None = None,
    ) -> Plan:
        """Canonicalise and validate ``request`` once, and fix the policy for this call
        (``max_age_s``: serve only entries younger than that, as HTTP's ``max-age``)."""
        canon = self.canonicalize(request, namespace)
        if max_age_s is not None and not (isinstance(max_age_s, int | float) and max_age_s >= 0):
            raise InvalidRequestError(
                f"max_age_s must be a number of seconds >= 0, got {max_age_s!r}",
                field="max_age_s",
            )
        return Plan(
            canon=canon,
            threshold=self.threshold_for(canon.namespace, threshold),
            policy=self.policy_for(canon),
            top_k=self.top_k,
            skip_lookup=skip_lookup,
            judge=self.judge is not None,
            min_created_at=None if max_age_s is None else self.steps.clock() - max_age_s,
        )

    def policy_for(self, canon: CanonicalRequest) -> NondeterministicPolicy:
        """``cache`` for a deterministic request, else the non-determinism policy."""
        return "cache" if canon.is_deterministic else self.nondeterministic

    def _decide(self, text: str, candidates: Sequence[Candidate], threshold: float) -> Decision:
        self.verifier.stop_at_veto = self.stop_at_veto  # replays may change it on the cache
        return self.verifier.decide(text, candidates, threshold)

    # -- lookup -----------------------------------------------------------------------------

    def lookup(
        self,
        request: Request,
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        max_age_s: float | None = None,
    ) -> LookupResult:
        """Exact layer, then the semantic layer. Never raises for a backend failure.
        ``max_age_s`` serves only entries younger than that many seconds."""
        plan = self.plan(request, namespace=namespace, threshold=threshold, max_age_s=max_age_s)
        return self._drive(plan).lookup

    def _drive(self, plan: Plan) -> Finished:
        timings: dict[str, float] = {}
        state = begin(plan)
        while not isinstance(state, Finished):
            state = state.next(self.steps.run(state, timings))
        return Finished(self.steps.finished(state, timings), state.vector, state.warm)

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
        return self.steps.store(self.plan(request, namespace=namespace), response, ttl_s)

    def store_many(
        self,
        items: Iterable[tuple[Request, Any]],
        *,
        namespace: str | None = None,
        ttl_s: float | None = None,
        batch_size: int = 256,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Store many ``(request, response)`` pairs in batches (bulk import): each batch is
        one embedding call, one vector upsert and the exact writes. Returns how many were
        stored (requests the non-determinism policy bypasses are skipped). ``progress(n)`` is
        called with the count stored so far after each batch.

        Raises :class:`InvalidRequestError` for a response that is not JSON (naming its
        position) before anything of that batch is written, and a backend's error as it is.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        ttl = self.steps.check_ttl(ttl_s)
        done = 0
        pending: list[StoreWrite] = []
        for position, (request, response) in enumerate(items):
            plan = self.plan(request, namespace=namespace)
            if plan.policy == "bypass":
                continue
            try:
                write = store_plan(
                    plan.canon, plan.policy, response, ttl_s=ttl, now=self.steps.clock()
                )
            except InvalidRequestError as exc:
                raise InvalidRequestError(f"item {position}: {exc}", field="response") from exc
            pending.append(write)
            if len(pending) >= batch_size:
                done += self.steps.write_many(pending)
                pending = []
                if progress is not None:
                    progress(done)
        if pending:
            done += self.steps.write_many(pending)
            if progress is not None:
                progress(done)
        return done

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
        max_age_s: float | None = None,
    ) -> CallResult:
        """Serve from cache, else call ``call()`` once (single-flight) and store its answer.

        ``call`` is a zero-argument callable returning a JSON-serialisable response. Its
        exceptions propagate unchanged to the caller and to every concurrent twin (sync or
        async callers of this cache alike), and are never cached.
        """
        plan = self.plan(
            request, namespace=namespace, threshold=threshold, skip_lookup=skip_lookup,
            max_age_s=max_age_s,
        )  # fmt: skip
        self.steps.check_ttl(ttl_s)
        finished = self._drive(plan)
        lookup = finished.lookup
        cached = served_from_cache(lookup)
        if cached is not None:
            return cached

        def lead() -> tuple[Any, bool]:
            with self.stats.counted("provider"):
                response = call()
            self.steps.probe(lookup, response)
            if skip_store:
                return response, False
            return response, self.steps.store_quietly(plan, response, ttl_s, finished.vector)

        (response, stored), shared = lead_or_follow(
            self.flights, ("call", plan.canon.exact_key), lead
        )
        if shared:
            self.stats.incr("provider.coalesced")
        return CallResult(
            response=response,
            source="coalesced" if shared else "provider",
            lookup=lookup,
            stored=stored and not shared,
        )

    def get_or_stream(
        self,
        request: Request,
        open_stream: Callable[[], Iterable[Any]],
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        ttl_s: float | None = None,
        skip_lookup: bool = False,
        skip_store: bool = False,
        replay: Replay | None = None,
        max_age_s: float | None = None,
    ) -> StreamResult:
        """Serve a stream from cache, else relay ``open_stream()`` once and record it.

        ``open_stream`` returns the provider's stream as an iterable of JSON values (e.g. SDK
        chunks as dicts). A stream that ends normally is stored and later replayed event for
        event; one that raises is never stored, and its exception reaches every consumer after
        the events that came before it. Concurrent twins of a streamed miss share the one
        provider stream (``source == "coalesced"``), receiving every event from the first. A
        stored non-streamed answer is replayed as ``replay(answer)`` (default: one event).

        Example::

            result = cache.get_or_stream(request, lambda: (
                chunk.model_dump() for chunk in client.chat.completions.create(
                    **request, stream=True)))
            for chunk in result.events:
                print(chunk)
        """
        plan = self.plan(
            request, namespace=namespace, threshold=threshold, skip_lookup=skip_lookup,
            max_age_s=max_age_s,
        )  # fmt: skip
        self.steps.check_ttl(ttl_s)
        finished = self._drive(plan)
        lookup = finished.lookup
        cached = served_from_cache(lookup)
        if cached is not None:
            events = replayed_events(lookup.response, replay)
            return StreamResult(source=cached.source, lookup=lookup, events=iterate(events))
        flight, leader = self.flights.join(("stream", plan.canon.exact_key))
        if leader:
            pump = threading.Thread(
                target=self._pump,
                args=(flight, open_stream, plan, finished),
                kwargs={"ttl_s": ttl_s, "skip_store": skip_store},
                name="semcached-stream",
                daemon=True,
            )
            pump.start()
        else:
            self.stats.incr("provider.coalesced")
        return StreamResult(
            source="provider" if leader else "coalesced",
            lookup=lookup,
            events=flight.iter_events(),
            flight=flight,
        )

    def _pump(
        self,
        flight: Flight,
        open_stream: Callable[[], Iterable[Any]],
        plan: Plan,
        finished: Finished,
        *,
        ttl_s: float | None,
        skip_store: bool,
    ) -> None:
        """Relay the provider's stream into the flight; store it once it ended normally."""
        try:
            with self.stats.counted("provider"):
                for event in open_stream():
                    flight.push(event)
            stored = False
            if not skip_store:
                response = recorded_stream(flight.events)
                self.steps.probe(finished.lookup, response)
                stored = self.steps.store_quietly(plan, response, ttl_s, finished.vector)
            flight.finish(stored)
        except BaseException as exc:
            flight.fail(exc)
        finally:
            self.flights.release(flight)

    # -- maintenance ------------------------------------------------------------------------

    def delete(self, entry_id: str, *, namespace: str | None = None) -> None:
        """Forget one entry (its id is the request's exact key) in both layers."""
        ns = namespace or self.namespace
        # The vector entry first (after the queued writes): deleting the exact copy first
        # would let a lookup meanwhile find the vector entry and copy it back.
        self.semantic.delete(ns, [entry_id])
        self.exact_store.delete(ns, entry_id)

    def feedback(
        self,
        entry_id: str,
        *,
        correct: bool,
        namespace: str | None = None,
        similarity: float | None = None,
    ) -> FeedbackResult:
        """Report whether a served entry answered its request correctly; returns what was done.

        Without an adaptive policy, a wrong report stops the entry being served at once (it
        is deleted from both layers: ``action == "deleted"``). With one (``adaptive=``), the
        verdict moves the decision boundary instead (``action == "learned"``): the entry now
        needs a closer match than the one it got wrong, and the namespace's threshold follows
        its observed false-hit rate (``similarity`` defaults to the one the entry was last
        served at). Counted as ``feedback.correct`` or ``feedback.wrong``.

        Example::

            result = cache.get_or_call(request, call)
            if result.source == "semantic" and not looks_right(result.response):
                cache.feedback(result.lookup.entry_id, correct=False)
        """
        ns = namespace or self.namespace
        self.stats.incr("feedback.correct" if correct else "feedback.wrong")
        if self.adaptive is not None and self.adaptive.feedback(
            entry_id, correct=correct, namespace=ns, similarity=similarity
        ):
            return FeedbackResult(
                entry_id=entry_id, namespace=ns, correct=correct, action="learned"
            )
        if not correct:
            self.delete(entry_id, namespace=ns)
            return FeedbackResult(
                entry_id=entry_id, namespace=ns, correct=correct, action="deleted"
            )
        return FeedbackResult(entry_id=entry_id, namespace=ns, correct=correct, action="recorded")

    def invalidate(self, namespace: str | None = None) -> None:
        """Forget every entry of a namespace, in both layers."""
        ns = namespace or self.namespace
        self.semantic.clear(ns)  # first, as in delete()
        self.exact_store.clear(ns)

    def sweep(self, namespace: str | None = None) -> int:
        """Delete expired vector entries of a namespace now; returns how many."""
        removed = self.semantic.sweep(namespace or self.namespace)
        self.stats.incr("expired", removed)
        return removed

    def count(self, namespace: str | None = None) -> int:
        """How many entries (live or not yet swept) the namespace's vector index holds."""
        return self.semantic.count(namespace or self.namespace)

    def close(self) -> None:
        """Write queued vector entries (what cannot be stays journaled), close the stores."""
        self.semantic.close()
        self.exact_store.close()

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
