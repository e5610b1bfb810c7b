"""``Client`` and ``AsyncClient``: the semcached HTTP API from Python.

Example::

    from semcached.clients import Client

    with Client("http://127.0.0.1:8080", api_key="...") as cache:
        answer = cache.get_or_call(request, lambda: openai.chat.completions.create(
            **request).model_dump())
        print(answer.source, answer.response)
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from semcached.clients.answers import (
    CacheAnswer,
    DeleteReply,
    FeedbackReply,
    LookupReply,
    Readiness,
    StoreReply,
)
from semcached.clients.base import DEFAULT_TIMEOUT_S, BaseClient, Call, RetryPolicy
from semcached.engine.flights import alead_or_follow, lead_or_follow
from semcached.errors import (
    InvalidRequestError,
    ServiceUnavailableError,
    ServiceUnreachableError,
)
from semcached.request import canonicalize

__all__ = ["FAIL_OPEN", "AsyncClient", "Client"]

log = logging.getLogger("semcached.clients")

Request = Mapping[str, Any]

# The service being down must not fail the caller's LLM call: get_or_call goes to the provider.
FAIL_OPEN = (ServiceUnreachableError, ServiceUnavailableError)


def _warn_open(what: str, exc: Exception) -> None:
    log.warning("semcached %s failed, calling the provider directly (fail open): %s", what, exc)


def _flight_key(request: Request, namespace: str | None) -> tuple[str, str, str]:
    """Identical requests (by their canonical exact key) to one namespace share a flight."""
    canon = canonicalize(request, namespace or "(the key's own)")
    return ("client-call", namespace or "", canon.exact_key)


def _coalesced(answer: CacheAnswer) -> CacheAnswer:
    """A follower's copy: the leader's answer, stored by the leader."""
    if answer.cached:
        return answer
    return answer.model_copy(update={"source": "coalesced", "stored": False})


def _answer_from_lookup(reply: LookupReply) -> CacheAnswer:
    return CacheAnswer(
        response=reply.response,
        source=reply.kind or "exact",
        similarity=reply.similarity,
        entry_id=reply.entry_id,
    )


class Client(BaseClient):
    """Synchronous client of a semcached service.

    ``timeout`` bounds every call (seconds or an ``httpx.Timeout``); connection failures are
    retried per ``retry``; errors raise :class:`~semcached.errors.ServiceError` subclasses.
    ``transport`` replaces the network (``httpx.MockTransport`` in tests).

    Example::

        client = Client("http://127.0.0.1:8080", namespace="support")
        reply = client.lookup({"model": "gpt-4o-mini", "messages": [...]})
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        namespace: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key=api_key, namespace=namespace, timeout=timeout, retry=retry
        )
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport,
        )

    def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                return self._http.request(
                    call.method, call.path, json=call.json, params=call.params
                )
            except httpx.HTTPError as exc:
                if not self.retry.should_retry(exc, attempt):
                    raise self._unreachable(exc, attempt + 1) from exc
                time.sleep(self.retry.delay(attempt))
                attempt += 1

    def lookup(
        self, request: Request, *, namespace: str | None = None, threshold: float | None = None
    ) -> LookupReply:
        """Look ``request`` up by exact key, then by meaning."""
        return self._parse(self._send(self._lookup(request, namespace, threshold)), LookupReply)

    def store(
        self,
        request: Request,
        response: Any,
        *,
        namespace: str | None = None,
        ttl_s: float | None = None,
    ) -> StoreReply:
        """Store ``response`` (any JSON) as the answer to ``request``."""
        call = self._store(request, response, namespace, ttl_s)
        return self._parse(self._send(call), StoreReply)

    def delete(self, entry_id: str, *, namespace: str | None = None) -> DeleteReply:
        return self._parse(self._send(self._delete(entry_id, namespace)), DeleteReply)

    def invalidate(self, namespace: str | None = None) -> DeleteReply:
        """Forget every entry of ``namespace`` (default: the client's, else the key's)."""
        return self._parse(self._send(self._invalidate(namespace)), DeleteReply)

    def feedback(
        self, entry_id: str, *, correct: bool, namespace: str | None = None
    ) -> FeedbackReply:
        """Report a served entry right or wrong; a wrong one stops being served."""
        call = self._feedback(entry_id, correct, namespace)
        return self._parse(self._send(call), FeedbackReply)

    def ready(self) -> Readiness:
        """``GET /readyz``: ``ready``, ``degraded`` (a backend down, requests still answered) or
        ``not_ready`` (strict readiness); ``.ready`` says whether it answers requests."""
        response = self._send(Call("GET", "/readyz"))
        if response.status_code == 503 and "backends" in response.text:
            return Readiness.model_validate(response.json())
        return self._parse(response, Readiness)

    def stats(self) -> dict[str, Any]:
        response = self._send(Call("GET", "/v1/stats"))
        self._raise_for_error(response)
        data: dict[str, Any] = response.json()
        return data

    def get_or_call(
        self,
        request: Request,
        call: Callable[[], Any],
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        ttl_s: float | None = None,
    ) -> CacheAnswer:
        """Answer from the cache, else ``call()`` (a JSON-serialisable answer) and store it.

        ``call``'s exceptions propagate unchanged and nothing is stored. Fails open: when the
        service is unreachable or unavailable, ``call()`` answers and the answer is returned
        unstored (a warning is logged); a rejected request or a wrong key still raises.
        Concurrent identical calls through this client (threads) make one lookup and one
        ``call()``: the others get its answer (``source="coalesced"``).
        """

        def lead() -> CacheAnswer:
            try:
                reply = self.lookup(request, namespace=namespace, threshold=threshold)
            except FAIL_OPEN as exc:
                _warn_open("lookup", exc)
            else:
                if reply.hit:
                    return _answer_from_lookup(reply)
            response = call()
            try:
                stored = self.store(request, response, namespace=namespace, ttl_s=ttl_s)
            except FAIL_OPEN as exc:
                _warn_open("store", exc)
                return CacheAnswer(response=response, source="provider")
            except InvalidRequestError as exc:  # not JSON: returned, not cached (as in-process)
                log.warning("not caching the provider's answer: %s", exc)
                return CacheAnswer(response=response, source="provider")
            return CacheAnswer(
                response=response, source="provider", entry_id=stored.entry_id,
                stored=stored.stored,
            )  # fmt: skip

        key = _flight_key(request, namespace or self.namespace)
        answer, shared = lead_or_follow(self.flights, key, lead)
        return _coalesced(answer) if shared else answer

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(BaseClient):
    """``async`` client of a semcached service; the same methods as :class:`Client`.

    Example::

        async with AsyncClient("http://127.0.0.1:8080") as cache:
            answer = await cache.get_or_call(request, call_the_provider)
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        api_key: str | None = None,
        namespace: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url, api_key=api_key, namespace=namespace, timeout=timeout, retry=retry
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self._headers,
            timeout=self._timeout,
            transport=transport,
        )

    async def _send(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                return await self._http.request(
                    call.method, call.path, json=call.json, params=call.params
                )
            except httpx.HTTPError as exc:
                if not self.retry.should_retry(exc, attempt):
                    raise self._unreachable(exc, attempt + 1) from exc
                await asyncio.sleep(self.retry.delay(attempt))
                attempt += 1

    async def lookup(
        self, request: Request, *, namespace: str | None = None, threshold: float | None = None
    ) -> LookupReply:
        response = await self._send(self._lookup(request, namespace, threshold))
        return self._parse(response, LookupReply)

    async def store(
        self,
        request: Request,
        response: Any,
        *,
        namespace: str | None = None,
        ttl_s: float | None = None,
    ) -> StoreReply:
        reply = await self._send(self._store(request, response, namespace, ttl_s))
        return self._parse(reply, StoreReply)

    async def delete(self, entry_id: str, *, namespace: str | None = None) -> DeleteReply:
        return self._parse(await self._send(self._delete(entry_id, namespace)), DeleteReply)

    async def invalidate(self, namespace: str | None = None) -> DeleteReply:
        return self._parse(await self._send(self._invalidate(namespace)), DeleteReply)

    async def feedback(
        self, entry_id: str, *, correct: bool, namespace: str | None = None
    ) -> FeedbackReply:
        reply = await self._send(self._feedback(entry_id, correct, namespace))
        return self._parse(reply, FeedbackReply)

    async def ready(self) -> Readiness:
        response = await self._send(Call("GET", "/readyz"))
        if response.status_code == 503 and "backends" in response.text:
            return Readiness.model_validate(response.json())
        return self._parse(response, Readiness)

    async def stats(self) -> dict[str, Any]:
        response = await self._send(Call("GET", "/v1/stats"))
        self._raise_for_error(response)
        data: dict[str, Any] = response.json()
        return data

    async def get_or_call(
        self,
        request: Request,
        call: Callable[[], Awaitable[Any]] | Callable[[], Any],
        *,
        namespace: str | None = None,
        threshold: float | None = None,
        ttl_s: float | None = None,
    ) -> CacheAnswer:
        """Answer from the cache, else await ``call()`` and store its answer (fails open).
        Concurrent identical calls through this client make one lookup and one ``call()``."""

        async def lead() -> CacheAnswer:
            try:
                reply = await self.lookup(request, namespace=namespace, threshold=threshold)
            except FAIL_OPEN as exc:
                _warn_open("lookup", exc)
            else:
                if reply.hit:
                    return _answer_from_lookup(reply)
            response = call()
            if inspect.isawaitable(response):
                response = await response
            try:
                stored = await self.store(request, response, namespace=namespace, ttl_s=ttl_s)
            except FAIL_OPEN as exc:
                _warn_open("store", exc)
                return CacheAnswer(response=response, source="provider")
            except InvalidRequestError as exc:  # not JSON: returned, not cached (as in-process)
                log.warning("not caching the provider's answer: %s", exc)
                return CacheAnswer(response=response, source="provider")
            return CacheAnswer(
                response=response, source="provider", entry_id=stored.entry_id,
                stored=stored.stored,
            )  # fmt: skip

        key = _flight_key(request, namespace or self.namespace)
        answer, shared = await alead_or_follow(self.flights, key, lead)
        return _coalesced(answer) if shared else answer

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
