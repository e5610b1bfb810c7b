"""Wrap any LLM call with the cache, in one line, in-process or against a service.

The same code works with a :class:`~semcached.engine.cache.SemanticCache` (in-process) and a
:class:`~semcached.clients.Client` (a ``semcached serve`` somewhere); their async twins work
with :func:`aget_or_call` and ``async`` functions.

Example::

    cache = SemanticCache()                       # or Client("http://127.0.0.1:8080")

    @cached(cache, namespace="support")
    def ask(*, model: str, messages: list[dict], temperature: float = 0) -> dict:
        return openai_client.chat.completions.create(
            model=model, messages=messages, temperature=temperature).model_dump()

    ask(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from semcached.clients.answers import CacheAnswer
from semcached.clients.client import AsyncClient, Client
from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import CallResult, SemanticCache

__all__ = ["AnyCache", "aget_or_call", "cached", "get_or_call"]

P = ParamSpec("P")
R = TypeVar("R")
AnyCache = SemanticCache | AsyncSemanticCache | Client | AsyncClient


def _from_result(result: CallResult) -> CacheAnswer:
    lookup = result.lookup
    return CacheAnswer(
        response=result.response,
        source=result.source,
        similarity=lookup.similarity if result.cached else None,
        entry_id=lookup.entry_id if result.cached else lookup.exact_key,
        stored=result.stored,
    )


def get_or_call(
    cache: SemanticCache | Client,
    request: Mapping[str, Any],
    call: Callable[[], Any],
    *,
    namespace: str | None = None,
    threshold: float | None = None,
    ttl_s: float | None = None,
) -> CacheAnswer:
    """Look ``request`` up; on a miss run ``call()`` and store its answer.

    Example::

        answer = get_or_call(cache, request, lambda: provider(**request))
        answer.response, answer.source      # ..., "provider" | "exact" | "semantic"
    """
    if isinstance(cache, Client):
        return cache.get_or_call(
            request, call, namespace=namespace, threshold=threshold, ttl_s=ttl_s
        )
    if isinstance(cache, SemanticCache):
        result = cache.get_or_call(
            request, call, namespace=namespace, threshold=threshold, ttl_s=ttl_s
        )
        return _from_result(result)
    raise TypeError(
        f"expected a SemanticCache or a semcached.clients.Client, got {type(cache).__name__}; "
        "use aget_or_call for the async ones"
    )


async def aget_or_call(
    cache: AnyCache,
    request: Mapping[str, Any],
    call: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    namespace: str | None = None,
    threshold: float | None = None,
    ttl_s: float | None = None,
) -> CacheAnswer:
    """The async twin of :func:`get_or_call`; ``call`` may be sync or async.

    A sync ``SemanticCache`` or ``Client`` is driven from a worker thread, so the event loop
    never blocks.
    """
    if isinstance(cache, AsyncClient):
        return await cache.get_or_call(
            request, call, namespace=namespace, threshold=threshold, ttl_s=ttl_s
        )
    if isinstance(cache, SemanticCache):
        cache = AsyncSemanticCache(cache=cache)
    if isinstance(cache, AsyncSemanticCache):
        result = await cache.get_or_call(
            request, call, namespace=namespace, threshold=threshold, ttl_s=ttl_s
        )
        return _from_result(result)
    if isinstance(cache, Client):
        # The sync client runs in a worker thread; an async ``call`` runs back on this loop.
        import asyncio

        loop = asyncio.get_running_loop()

        def call_from_thread() -> Any:
            value = call()
            if inspect.isawaitable(value):
                return asyncio.run_coroutine_threadsafe(_awaited(value), loop).result()
            return value

        return await asyncio.to_thread(
            cache.get_or_call,
            request,
            call_from_thread,
            namespace=namespace,
            threshold=threshold,
            ttl_s=ttl_s,
        )
    raise TypeError(f"expected a semcached cache or client, got {type(cache).__name__}")


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def _request_of(signature: inspect.Signature, name: str, args: Any, kwargs: Any) -> dict[str, Any]:
    if args:
        raise TypeError(
            f"{name}() is cached: pass the request as keyword arguments "
            f"(model=..., messages=...), got {len(args)} positional argument(s)"
        )
    bound = signature.bind(**kwargs)
    bound.apply_defaults()
    request: dict[str, Any] = {}
    for key, value in bound.arguments.items():
        if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
            request.update(value)
        else:
            request[key] = value
    return request


def _jsonable(value: Any) -> Any:
    """An SDK object (pydantic: ``ChatCompletion``...) as its JSON dict; anything else as is
    (a value that is not JSON is then refused by the cache with the fix to apply)."""
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else value


def _typed(value: Any, returns: type[Any] | None) -> Any:
    if returns is None:
        return value
    validate = getattr(returns, "model_validate", None)
    if not callable(validate):
        raise TypeError(
            f"returns= needs a pydantic model class (e.g. ChatCompletion), got {returns!r}"
        )
    return validate(value)


def cached(
    cache: AnyCache,
    *,
    namespace: str | None = None,
    threshold: float | None = None,
    ttl_s: float | None = None,
    returns: type[Any] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function of an OpenAI-style request (keyword arguments) with the cache.

    The keyword arguments, defaults included, are the request: ``model``, ``messages`` and the
    parameters. The function returns a JSON-serialisable answer or an SDK object (stored as
    its ``model_dump()``). ``returns=ChatCompletion`` gives the SDK's object back on a hit and
    a miss alike (default: the stored dict). ``async def`` functions are supported with any
    cache; sync ones need a ``SemanticCache`` or a ``Client``.

    Example::

        @cached(SemanticCache(), returns=ChatCompletion)
        def ask(*, model: str, messages: list, temperature: float = 0) -> ChatCompletion:
            return client.chat.completions.create(model=model, messages=messages,
                                                  temperature=temperature)
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)
        name = getattr(fn, "__name__", "function")
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                request = _request_of(signature, name, args, kwargs)

                async def call() -> Any:
                    return _jsonable(await fn(**request))  # type: ignore[call-arg]

                answer = await aget_or_call(
                    cache, request, call, namespace=namespace, threshold=threshold, ttl_s=ttl_s
                )
                return _typed(answer.response, returns)

            return cast("Callable[P, R]", async_wrapper)
        if not isinstance(cache, SemanticCache | Client):
            raise TypeError(
                f"{name}() is synchronous, so it needs a SemanticCache or a Client, got "
                f"{type(cache).__name__}; make it `async def` to use an async cache"
            )
        sync_cache = cache

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            request = _request_of(signature, name, args, kwargs)
            answer = get_or_call(
                sync_cache,
                request,
                lambda: _jsonable(fn(**request)),  # type: ignore[call-arg]
                namespace=namespace,
                threshold=threshold,
                ttl_s=ttl_s,
            )
            return cast("R", _typed(answer.response, returns))

        return wrapper

    return decorate
