"""The engine's async driver: :class:`AsyncSemanticCache`.

The same states and the same IO steps as the sync driver (it shares one
:class:`~semcached.engine.cache.SemanticCache`'s components, flights and stats), run so the
event loop never blocks: a store that never blocks (the in-process exact store) is called
inline, everything else in a bounded worker pool of its own (exact store, vector index,
embedder, verifier, writes) with a deadline, so one hung backend cannot starve another and
exact hits never wait behind vector work. A step past its deadline fails open like any
failure. Sync and async callers of one cache share one single-flight table.

Example::

    cache = AsyncSemanticCache()
    result = await cache.get_or_call(request, lambda: client.chat.completions.create(...))
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from semcached.engine.cache import Request, SemanticCache
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
    begin,
)
from semcached.engine.flights import Flight, alead_or_follow
from semcached.engine.results import (
    BackendHealth,
    CallResult,
    FeedbackResult,
    LookupResult,
    served_from_cache,
)
from semcached.engine.stats import CacheStats
from semcached.engine.streams import (
    AsyncStreamResult,
    Replay,
    aiterate,
    recorded_stream,
    replayed_events,
)
from semcached.errors import BackendError
from semcached.request import CanonicalRequest

__all__ = ["AsyncSemanticCache", "Deadlines", "ProviderCall", "StreamOpener"]

T = TypeVar("T")
log = logging.getLogger("semcached")
ProviderCall = Callable[[], Awaitable[Any]] | Callable[[], Any]
StreamOpener = Callable[[], AsyncIterable[Any] | Awaitable[AsyncIterable[Any]] | Iterable[Any]]
_END = object()


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each backend step may take before the lookup fails open without it (seconds).

    The worker thread of a step past its deadline is left to finish; its pool is bounded, so a
    hung backend holds at most that many threads and nothing else.
    """

    exact: float = 1.0
    embed: float = 10.0
    vector: float = 5.0
    decide: float = 5.0
    write: float = 30.0


# "admin": deletes, invalidation, sweeps and counts, which wait for queued vector writes:
# never in the pool that stores a miss's answer or relays a stream.
_POOL_SIZES = {"exact": 8, "embed": 4, "vector": 4, "decide": 2, "write": 4, "admin": 2}
_BACKEND = {"exact": "exact_store", "embed": "embedder", "vector": "vector_index",
            "decide": "verifier", "write": "vector_index", "admin": "vector_index"}  # fmt: skip


class AsyncSemanticCache:
    """``async`` semantic cache. Takes the same arguments as :class:`SemanticCache`, or one.

    Example::

        cache = AsyncSemanticCache()
        result = await cache.get_or_call(request, lambda: client.chat.completions.create(...))
    """

    def __init__(
        self,
        *args: Any,
        cache: SemanticCache | None = None,
        deadlines: Deadlines | None = None,
        **kwargs: Any,
    ) -> None:
        self.sync = cache if cache is not None else SemanticCache(*args, **kwargs)
        self.steps = self.sync.steps
        self.flights = self.sync.flights
        self.deadlines = deadlines or Deadlines()
        self._pools = {
            name: ThreadPoolExecutor(size, thread_name_prefix=f"semcached-{name}")
            for name, size in _POOL_SIZES.items()
        }
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def stats(self) -> CacheStats:
        return self.sync.stats

    @property
    def namespace(self) -> str:
        return self.sync.namespace

    def canonicalize(self, request: Request, namespace: str | None = None) -> CanonicalRequest:
        """The request's canonical form (pure: no IO)."""
        return self.sync.canonicalize(request, namespace)

    def threshold_for(self, namespace: str, override: float | None = None) -> float:
        return self.sync.threshold_for(namespace, override)

    # -- running steps ------------------------------------------------------------------------

    async def _in_pool(self, pool: str, fn: Callable[..., T], *args: Any) -> T | Failure:
        """``fn(*args)`` in ``pool``'s threads, or a :class:`Failure` past the pool's deadline."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pools[pool], fn, *args)
        deadline: float = getattr(self.deadlines, pool)
        try:
            return await asyncio.wait_for(future, timeout=deadline)
        except TimeoutError:
            backend = _BACKEND[pool]
            self.stats.incr(f"errors.{backend}")
            self.stats.incr(f"timeouts.{backend}")
            return Failure(backend, f"no answer within {deadline:g}s")

    async def _run(self, state: State, timings: dict[str, float]) -> Any:
        match state:
            case ProbeExact():
                if not self.steps.exact_store.blocking:
                    return self.steps.run(state, timings)  # no thread hop for exact hits
                return await self._in_pool("exact", self.steps.run, state, timings)
            case Embed():
                return await self._in_pool("embed", self.steps.run, state, timings)
            case Search():
                return await self._in_pool("vector", self.steps.run, state, timings)
            case Decide() | AskJudge():
                return await self._in_pool("decide", self.steps.run, state, timings)
            case Finished():
                raise ValueError("a finished lookup has no step left to run")

    async def _drive(self, plan: Plan) -> Finished:
        timings: dict[str, float] = {}
        state: State = begin(plan)
        while not isinstance(state, Finished):
            state = state.next(await self._run(state, timings))
        shared = self.steps.adaptive is not None and self.steps.adaptive.shared is not None
        if (state.warm is not None or shared) and self.steps.exact_store.blocking:
            lookup = await self._in_pool("exact", self.steps.finished, state, timings)
            if isinstance(lookup, Failure):
                lookup = state.lookup
        else:
            lookup = self.steps.finished(state, timings)
        return Finished(lookup, state.vector, state.warm)

    async def _store_quietly(
        self, plan: Plan, response: Any, ttl_s: float | None, vector: Any
    ) -> bool:
        stored = await self._in_pool(
            "write", self.steps.store_quietly, plan, response, ttl_s, vector
        )
        return stored is True

    # -- the API --------------------------------------------------------------------------------

    async def lookup(
        self,
        request: Request,
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        max_age_s: float | None = None,
    ) -> LookupResult:
        """Exact layer, then the semantic layer. Never raises for a backend failure."""
        plan = self.sync.plan(
            request, namespace=namespace, threshold=threshold, max_age_s=max_age_s
        )
        return (await self._drive(plan)).lookup

    async def store(
        self,
        request: Request,
        response: Any,
        *,
        namespace: str | None = None,
        ttl_s: float | None = None,
    ) -> bool:
        """Store ``response`` for ``request`` in both layers; ``False`` if a backend failed."""
        plan = self.sync.plan(request, namespace=namespace)
        stored = await self._in_pool("write", self.steps.store, plan, response, ttl_s)
        return stored is True

    async def get_or_call(
        self,
        request: Request,
        call: ProviderCall,
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        ttl_s: float | None = None,
        skip_lookup: bool = False,
        skip_store: bool = False,
        max_age_s: float | None = None,
    ) -> CallResult:
        """Serve from cache, else await ``call()`` once per exact key and store its answer."""
        plan = self.sync.plan(
            request, namespace=namespace, threshold=threshold, skip_lookup=skip_lookup,
            max_age_s=max_age_s,
        )  # fmt: skip
        self.steps.check_ttl(ttl_s)
        finished = await self._drive(plan)
        lookup = finished.lookup
        cached = served_from_cache(lookup)
        if cached is not None:
            return cached

        async def lead() -> tuple[Any, bool]:
            with self.stats.counted("provider"):
                response = await _called(call)
            self.steps.probe(lookup, response)
            if skip_store:
                return response, False
            return response, await self._store_quietly(plan, response, ttl_s, finished.vector)

        key = ("call", plan.canon.exact_key)
        (response, stored), shared = await alead_or_follow(self.flights, key, lead)
        if shared:
            self.stats.incr("provider.coalesced")
        return CallResult(
            response=response,
            source="coalesced" if shared else "provider",
            lookup=lookup,
            stored=stored and not shared,
        )

    async def get_or_stream(
        self,
        request: Request,
        open_stream: StreamOpener,
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        ttl_s: float | None = None,
        skip_lookup: bool = False,
        skip_store: bool = False,
        replay: Replay | None = None,
        max_age_s: float | None = None,
    ) -> AsyncStreamResult:
        """The async twin of :meth:`SemanticCache.get_or_stream`.

        ``open_stream`` returns an async iterable of events (or a coroutine giving one; a
        plain iterable is read in a worker thread). The provider's stream is pumped by a task
        of its own, so a consumer that goes away does not cut it for the others: it is still
        recorded and stored when it ends normally.
        """
        plan = self.sync.plan(
            request, namespace=namespace, threshold=threshold, skip_lookup=skip_lookup,
            max_age_s=max_age_s,
        )  # fmt: skip
        self.steps.check_ttl(ttl_s)
        finished = await self._drive(plan)
        lookup = finished.lookup
        cached = served_from_cache(lookup)
        if cached is not None:
            events = replayed_events(lookup.response, replay)
            return AsyncStreamResult(source=cached.source, lookup=lookup, events=aiterate(events))
        flight, leader = self.flights.join(("stream", plan.canon.exact_key))
        if leader:
            task = asyncio.get_running_loop().create_task(
                self._pump(flight, open_stream, plan, finished, ttl_s=ttl_s, skip_store=skip_store)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self.stats.incr("provider.coalesced")
        return AsyncStreamResult(
            source="provider" if leader else "coalesced",
            lookup=lookup,
            events=flight.aiter_events(),
            flight=flight,
        )

    async def _pump(
        self,
        flight: Flight,
        open_stream: StreamOpener,
        plan: Plan,
        finished: Finished,
        *,
        ttl_s: float | None,
        skip_store: bool,
    ) -> None:
        try:
            with self.stats.counted("provider"):
                async for event in _events(open_stream, self._pools["write"]):
                    flight.push(event)
            stored = False
            if not skip_store:
                response = recorded_stream(flight.events)
                self.steps.probe(finished.lookup, response)
                stored = await self._store_quietly(plan, response, ttl_s, finished.vector)
            flight.finish(stored)
        except BaseException as exc:
            flight.fail(exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self.flights.release(flight)

    # -- the exact layer alone (deterministic endpoints: embeddings) --------------------------

    async def exact_get_many(self, namespace: str, keys: Sequence[str]) -> list[bytes | None]:
        """Values stored under ``keys`` in the exact layer alone (``None`` for each missing);
        a failing or slow exact store fails open (every value ``None``, counted)."""
        if not keys:
            return []
        try:
            values = await self._in_pool(
                "exact", self.steps.exact_store.get_many, namespace, list(keys)
            )
        except BackendError as exc:
            log.warning("exact store read failed, failing open: %s", exc)
            self.stats.incr("errors.exact_store")
            return [None] * len(keys)
        if isinstance(values, Failure):
            return [None] * len(keys)
        return list(values)

    async def exact_set_many(
        self, namespace: str, items: Sequence[tuple[str, bytes]], ttl_s: float | None = None
    ) -> bool:
        """Store ``(key, value)`` pairs in the exact layer alone; ``False`` when it failed."""
        self.steps.check_ttl(ttl_s)
        store = self.steps.exact_store

        def write() -> None:
            for key, value in items:
                store.set(namespace, key, value, ttl_s)

        try:
            outcome = await self._in_pool("write", write)
        except BackendError as exc:
            log.warning("exact store write failed: %s", exc)
            self.stats.incr("errors.exact_store")
            return False
        return not isinstance(outcome, Failure)

    async def delete(self, entry_id: str, *, namespace: str | None = None) -> None:
        await self._required("admin", self.sync.delete, entry_id, namespace=namespace)

    async def feedback(
        self,
        entry_id: str,
        *,
        correct: bool,
        namespace: str | None = None,
        similarity: float | None = None,
    ) -> FeedbackResult:
        """Report whether a served entry was right (see :meth:`SemanticCache.feedback`)."""
        result: FeedbackResult = await self._required(
            "admin",
            self.sync.feedback,
            entry_id,
            correct=correct,
            namespace=namespace,
            similarity=similarity,
        )
        return result

    async def invalidate(self, namespace: str | None = None) -> None:
        await self._required("admin", self.sync.invalidate, namespace)

    async def sweep(self, namespace: str | None = None) -> int:
        removed: int = await self._required("admin", self.sync.sweep, namespace)
        return removed

    async def count(self, namespace: str | None = None) -> int:
        found: int = await self._required("admin", self.sync.count, namespace)
        return found

    async def _required(self, pool: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Maintenance calls raise their backend's errors (they cannot fail open)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pools[pool], lambda: fn(*args, **kwargs))

    @property
    def embedder(self) -> Any:
        """The embedder (the loaded model), for components that share it."""
        return self.steps.embedder

    async def check_backends(self, timeout_s: float = 5.0) -> dict[str, BackendHealth]:
        """Ask each backend whether it answers (exact store, vector index, embedder), at once,
        each in its own pool and within ``timeout_s``."""
        checks: dict[str, tuple[str, Callable[[], object]]] = {
            "exact_store": ("exact", self.steps.exact_store.ping),
            "vector_index": ("vector", self.steps.semantic.backend.heartbeat),
            "embedder": ("embed", lambda: self.steps.embedder.embed(["readiness probe"])),
        }
        results = await asyncio.gather(
            *(self._health(pool, fn, timeout_s) for pool, fn in checks.values())
        )
        return dict(zip(checks, results, strict=True))

    async def _health(self, pool: str, fn: Callable[[], object], timeout_s: float) -> BackendHealth:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            await asyncio.wait_for(loop.run_in_executor(self._pools[pool], fn), timeout_s)
        except TimeoutError:
            detail = f"no answer within {timeout_s:g}s"
        except Exception as exc:  # any failure means not healthy; the message says which
            detail = f"{type(exc).__name__}: {exc}"
        else:
            detail = "ok"
        return BackendHealth(detail == "ok", detail, round((loop.time() - start) * 1000, 3))

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.to_thread(self.sync.close)
        for pool in self._pools.values():
            pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> AsyncSemanticCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


async def _called(call: ProviderCall) -> Any:
    if inspect.iscoroutinefunction(call):
        return await call()
    result = await asyncio.to_thread(call)
    return await result if inspect.isawaitable(result) else result


async def _events(open_stream: StreamOpener, pool: ThreadPoolExecutor) -> AsyncIterator[Any]:
    """The provider's events as an async iterator, whatever ``open_stream`` returns."""
    opened = open_stream()
    if inspect.isawaitable(opened):
        opened = await opened
    if isinstance(opened, AsyncIterable):
        async for event in opened:
            yield event
        return
    iterator: Iterator[Any] = iter(opened)
    loop = asyncio.get_running_loop()
    while True:
        event = await loop.run_in_executor(pool, next, iterator, _END)
        if event is _END:
            return
        yield event
