"""The async twin of :class:`~semcached.engine.cache.SemanticCache`.

Embedding, ChromaDB and Redis calls run in worker threads, so the event loop is never blocked;
single-flight uses asyncio futures, so concurrent identical requests in one loop make one
provider call.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from semcached.engine.cache import Request, SemanticCache
from semcached.engine.flights import AsyncSingleFlight
from semcached.engine.results import CallResult, LookupResult, bypassed_lookup, served_from_cache

__all__ = ["AsyncSemanticCache"]

ProviderCall = Callable[[], Awaitable[Any]] | Callable[[], Any]


class AsyncSemanticCache:
    """``async`` semantic cache. Takes the same arguments as :class:`SemanticCache`, or one.

    Example::

        cache = AsyncSemanticCache()
        result = await cache.get_or_call(request, lambda: client.chat.completions.create(...))
    """

    def __init__(self, *args: Any, cache: SemanticCache | None = None, **kwargs: Any) -> None:
        self.sync = cache if cache is not None else SemanticCache(*args, **kwargs)
        self._flights: AsyncSingleFlight[tuple[Any, bool]] = AsyncSingleFlight()

    @property
    def stats(self) -> Any:
        return self.sync.stats

    async def lookup(
        self, request: Request, *, namespace: str | None = None, threshold: float | None = None
    ) -> LookupResult:
        return await asyncio.to_thread(
            self.sync.lookup, request, namespace=namespace, threshold=threshold
        )

    async def store(
        self,
        request: Request,
        response: Any,
        *,
        namespace: str | None = None,
        ttl_s: float | None = None,
    ) -> bool:
        return await asyncio.to_thread(
            self.sync.store, request, response, namespace=namespace, ttl_s=ttl_s
        )

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
    ) -> CallResult:
        """Serve from cache, else await ``call()`` once per exact key and store its answer."""
        canon = self.sync.canonicalize(request, namespace)
        limit = self.sync.threshold_for(canon.namespace, threshold)
        if skip_lookup:
            lookup = bypassed_lookup(canon, limit)
        else:
            lookup = await asyncio.to_thread(self.sync._lookup, canon, limit)
        cached = served_from_cache(lookup)
        if cached is not None:
            return cached

        async def lead() -> tuple[Any, bool]:
            response = await self._call_provider(call)
            await asyncio.to_thread(self.sync._maybe_probe, lookup, response)
            if skip_store:
                return response, False
            stored = await asyncio.to_thread(self.sync._store_quietly, canon, response, ttl_s)
            return response, stored

        (response, stored), shared = await self._flights.run(canon.exact_key, lead)
        if shared:
            self.sync.stats.incr("provider.coalesced")
        return CallResult(
            response=response,
            source="coalesced" if shared else "provider",
            lookup=lookup,
            stored=stored and not shared,
        )

    async def _call_provider(self, call: ProviderCall) -> Any:
        with self.sync.stats.counted("provider"):
            if inspect.iscoroutinefunction(call):
                return await call()
            result = await asyncio.to_thread(call)
            return await result if inspect.isawaitable(result) else result

    async def delete(self, entry_id: str, *, namespace: str | None = None) -> None:
        await asyncio.to_thread(self.sync.delete, entry_id, namespace=namespace)

    async def feedback(
        self,
        entry_id: str,
        *,
        correct: bool,
        namespace: str | None = None,
        similarity: float | None = None,
    ) -> None:
        """Report whether a served entry was right (see :meth:`SemanticCache.feedback`)."""
        await asyncio.to_thread(
            self.sync.feedback,
            entry_id,
            correct=correct,
            namespace=namespace,
            similarity=similarity,
        )

    async def invalidate(self, namespace: str | None = None) -> None:
        await asyncio.to_thread(self.sync.invalidate, namespace)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.sync.close)

    async def __aenter__(self) -> AsyncSemanticCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
