"""Client and AsyncClient: typed results against the real service; retries and error mapping
through httpx.MockTransport (the seam users get for their own tests)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from semcached.clients import AsyncClient, Client, LookupReply, RetryPolicy
from semcached.errors import (
    AuthenticationError,
    BackendError,
    InvalidRequestError,
    ServiceError,
    ServiceRequestError,
    ServiceUnavailableError,
    ServiceUnreachableError,
)
from tests.servers import free_port
from tests.servicekit import Service, chat

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
ANSWER = {"choices": [{"message": {"content": "Use the reset link."}}]}


@pytest.mark.model
@pytest.mark.redis
def test_client_round_trip_with_typed_results(service: Service, ns: str) -> None:
    with Client(service.url, namespace=ns) as client:
        miss = client.lookup(chat(QUESTION))
        assert isinstance(miss, LookupReply)
        assert miss.hit is False
        stored = client.store(chat(QUESTION), ANSWER, ttl_s=600)
        assert stored.stored is True
        hit = client.lookup(chat(PARAPHRASE))
        assert (hit.hit, hit.kind, hit.entry_id) == (True, "semantic", stored.entry_id)
        assert hit.response == ANSWER
        assert client.feedback(stored.entry_id, correct=False).removed is True
        assert client.lookup(chat(PARAPHRASE)).hit is False
        client.store(chat(QUESTION), ANSWER)
        assert client.delete(stored.entry_id).deleted is True
        assert client.invalidate().namespace == ns
        assert client.ready().ready is True
        assert "counters" in client.stats()


@pytest.mark.model
@pytest.mark.redis
def test_client_maps_service_errors(service: Service, ns: str) -> None:
    with Client(service.url, namespace=ns) as client:
        with pytest.raises(ServiceRequestError) as bad:
            client.lookup(chat(QUESTION), threshold=3)
        assert bad.value.field == "threshold"
        assert bad.value.status == 422
        assert isinstance(bad.value, InvalidRequestError)
        assert "fix:" in str(bad.value)
        with pytest.raises(ServiceRequestError) as empty:
            client.lookup(chat(""))
        assert empty.value.field == "request.messages.0.content"


@pytest.mark.model
@pytest.mark.redis
def test_async_client_round_trip(service: Service, ns: str) -> None:
    async def scenario() -> tuple[bool, bool, str | None]:
        async with AsyncClient(service.url, namespace=ns) as client:
            first = await client.lookup(chat(QUESTION))
            await client.store(chat(QUESTION), ANSWER)
            second = await client.lookup(chat(PARAPHRASE))
            await client.invalidate()
            return first.hit, second.hit, second.kind

    assert asyncio.run(scenario()) == (False, True, "semantic")


def test_connection_errors_are_retried_then_raised() -> None:
    attempts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        raise httpx.ConnectError("connection refused", request=request)

    retry = RetryPolicy(retries=2, backoff_s=0.0)
    client = Client("http://semcached.test", transport=httpx.MockTransport(refuse), retry=retry)
    with pytest.raises(ServiceUnreachableError) as error:
        client.lookup(chat(QUESTION))
    assert len(attempts) == 3
    assert "after 3 attempt(s)" in str(error.value)
    assert "semcached serve" in (error.value.fix or "")


def test_a_retry_that_succeeds_returns_the_answer() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(
            200, json={"hit": False, "threshold": 0.95, "namespace": "default", "extra": 1}
        )

    client = Client(
        "http://semcached.test",
        transport=httpx.MockTransport(flaky),
        retry=RetryPolicy(backoff_s=0.0),
    )
    reply = client.lookup(chat(QUESTION))
    assert reply.hit is False
    assert calls["n"] == 2


def test_read_timeouts_are_not_retried() -> None:
    """A request that may have reached the service is never sent twice."""
    calls = {"n": 0}

    def slow(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        raise httpx.ReadTimeout("too slow", request=request)

    client = Client("http://semcached.test", transport=httpx.MockTransport(slow))
    with pytest.raises(ServiceUnreachableError, match="did not answer in time"):
        client.store(chat(QUESTION), ANSWER)
    assert calls["n"] == 1


def _error(status: int, kind: str, field: str | None = None) -> httpx.MockTransport:
    body = {"error": {"type": kind, "message": f"{kind} happened", "field": field, "fix": "fix"}}
    return httpx.MockTransport(lambda request: httpx.Response(status, json=body))


@pytest.mark.parametrize(
    ("status", "kind", "expected", "also"),
    [
        (401, "unauthorized", AuthenticationError, ServiceError),
        (403, "forbidden_namespace", AuthenticationError, ServiceError),
        (422, "invalid_request", ServiceRequestError, InvalidRequestError),
        (400, "invalid_json", ServiceRequestError, InvalidRequestError),
        (503, "backend_unavailable", ServiceUnavailableError, BackendError),
        (500, "internal_error", ServiceError, ServiceError),
    ],
)
def test_error_bodies_map_to_semcached_exceptions(
    status: int, kind: str, expected: type[Exception], also: type[Exception]
) -> None:
    client = Client("http://semcached.test", transport=_error(status, kind, "threshold"))
    with pytest.raises(expected) as error:
        client.lookup(chat(QUESTION))
    assert isinstance(error.value, also)
    assert isinstance(error.value, ServiceError)
    assert error.value.status == status
    assert error.value.type == kind


def test_a_non_semcached_answer_is_a_clear_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>hi</html>"))
    client = Client("http://semcached.test", transport=transport)
    with pytest.raises(ServiceError, match="is base_url a semcached service"):
        client.lookup(chat(QUESTION))


def test_api_key_and_namespace_are_sent() -> None:
    seen: dict[str, Any] = {}

    def record(request: httpx.Request) -> httpx.Response:
        seen["key"] = request.headers.get("X-Semcached-Key")
        seen["url"] = str(request.url)
        return httpx.Response(200, json={"namespace": "tenant-a", "deleted": True})

    client = Client(
        "http://semcached.test/",
        api_key="sk-a",
        namespace="tenant-a",
        transport=httpx.MockTransport(record),
    )
    client.invalidate()
    assert seen["key"] == "sk-a"
    assert "tenant-a" in seen["url"]


def test_async_client_retries_and_maps_errors() -> None:
    calls = {"n": 0}

    async def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(
            403,
            json={"error": {"type": "forbidden_namespace", "message": "no", "field": "namespace"}},
        )

    async def scenario() -> None:
        async with AsyncClient(
            "http://semcached.test",
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(backoff_s=0.0),
        ) as client:
            await client.lookup(chat(QUESTION), namespace="other")

    with pytest.raises(AuthenticationError):
        asyncio.run(scenario())
    assert calls["n"] == 2


def test_unreachable_real_port() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(retries=1, backoff_s=0))
    with pytest.raises(ServiceUnreachableError):
        client.lookup(chat(QUESTION))


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http"):
        Client("127.0.0.1:8080")


@pytest.mark.parametrize(
    "failure",
    [
        lambda request: (_ for _ in ()).throw(httpx.ConnectError("refused", request=request)),
        lambda request: httpx.Response(
            503, json={"error": {"type": "backend_unavailable", "message": "redis down"}}
        ),
    ],
    ids=["unreachable", "unavailable"],
)
def test_get_or_call_fails_open_when_the_service_is_down(failure: Any) -> None:
    """The caller still gets the provider's answer, unstored, when semcached is down."""
    client = Client(
        "http://semcached.test",
        transport=httpx.MockTransport(failure),
        retry=RetryPolicy(retries=0),
    )
    answer = client.get_or_call(chat(QUESTION), lambda: {"answer": 42})
    assert answer.response == {"answer": 42}
    assert answer.source == "provider"
    assert answer.stored is False

    async def scenario() -> Any:
        async def handler(request: httpx.Request) -> httpx.Response:
            return failure(request)  # type: ignore[no-any-return]

        async with AsyncClient(
            "http://semcached.test",
            transport=httpx.MockTransport(handler),
            retry=RetryPolicy(retries=0),
        ) as aclient:
            return await aclient.get_or_call(chat(QUESTION), lambda: {"answer": 43})

    assert asyncio.run(scenario()).response == {"answer": 43}


def test_get_or_call_does_not_hide_a_rejected_request() -> None:
    client = Client("http://semcached.test", transport=_error(422, "invalid_request", "threshold"))
    with pytest.raises(ServiceRequestError):
        client.get_or_call(chat(QUESTION), lambda: {"answer": 42}, threshold=0.5)


@pytest.mark.parametrize(
    "name",
    [
        "semcached.clients",
        "semcached.clients.base",
        "semcached.clients.client",
        "semcached.clients.answers",
        "semcached.clients.wrap",
        "semcached.clients.openai_compat",
        "semcached.service.app",
        "semcached.service.auth",
        "semcached.service.errors",
        "semcached.service.metrics",
        "semcached.service.sse",
        "semcached.service.echo",
    ],
)
def test_public_names_are_in_all(name: str) -> None:
    import importlib
    import inspect

    module = importlib.import_module(name)
    exported = set(module.__all__)
    assert all(hasattr(module, symbol) for symbol in exported)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(v)
        and getattr(v, "__module__", name) == name
        and not n.isupper()
    }
    assert not public - exported - {"annotations"}, sorted(public - exported)


def test_concurrent_identical_calls_through_one_client_make_one_provider_call(
    service: Service, ns: str
) -> None:
    """Threads asking one client the same thing at once: one lookup, one provider call, the
    others answered with it (``coalesced``); a different question is its own flight."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    gate = threading.Event()
    calls: list[int] = []

    def provider() -> dict[str, Any]:
        calls.append(1)
        gate.wait(10)
        return {"answer": "one"}

    request = chat("What are your support hours on holidays?")
    with Client(service.url, namespace=ns) as client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client.get_or_call, request, provider) for _ in range(8)]
        deadline = time.monotonic() + 10
        while client.flights.get(_key(request, ns)) is None or (
            client.flights.get(_key(request, ns)).followers < 7  # type: ignore[union-attr]
        ):
            assert time.monotonic() < deadline, "the followers never joined"
            time.sleep(0.01)
        gate.set()
        answers = [f.result() for f in futures]
    assert len(calls) == 1
    assert sorted(a.source for a in answers) == ["coalesced"] * 7 + ["provider"]
    assert all(a.response == {"answer": "one"} for a in answers)
    assert sum(a.stored for a in answers) == 1


def test_the_async_client_coalesces_too(service: Service, ns: str) -> None:
    calls: list[int] = []

    async def provider() -> dict[str, Any]:
        calls.append(1)
        await asyncio.sleep(0.2)
        return {"answer": "async"}

    async def go() -> list[str]:
        async with AsyncClient(service.url, namespace=ns) as client:
            request = chat("Do you ship to Norway?")
            answers = await asyncio.gather(
                *(client.get_or_call(request, provider) for _ in range(5))
            )
        return [a.source for a in answers]

    sources = asyncio.run(go())
    assert len(calls) == 1 and sorted(sources) == ["coalesced"] * 4 + ["provider"]


def _key(request: dict[str, Any], ns: str) -> tuple[str, str, str]:
    from semcached.clients.client import _flight_key

    return _flight_key(request, ns)
