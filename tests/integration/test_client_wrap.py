"""cached() / get_or_call(): the same code against a remote service and an in-process cache;
the OpenAI SDK helpers against the proxy."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from semcached.clients import (
    AsyncClient,
    Client,
    aget_or_call,
    async_openai_client,
    cache_headers,
    cache_info,
    cached,
    get_or_call,
    openai_client,
)
from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import SemanticCache
from semcached.index import ChromaBackend, MemoryExactStore
from tests.servicekit import Service, chat
from tests.upstream import Upstream

pytestmark = [pytest.mark.model]

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"


@pytest.fixture
def local_cache(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> Iterator[SemanticCache]:
    cache = SemanticCache(
        embedder=CachedEmbedder(st_embedder),
        exact_store=MemoryExactStore(),
        vector_backend=ChromaBackend(path=tmp_path / "chroma"),
    )
    yield cache
    cache.close()


def _the_same_code(cache: Any, namespace: str) -> tuple[list[str], int]:
    """What a user writes once, whatever ``cache`` is."""
    calls: list[str] = []

    @cached(cache, namespace=namespace)
    def ask(
        *, model: str, messages: list[dict[str, str]], temperature: float = 0
    ) -> dict[str, Any]:
        calls.append(messages[-1]["content"])
        return {"answer": f"provider answer to {messages[-1]['content']}"}

    sources = []
    for question in (QUESTION, QUESTION, PARAPHRASE):
        answer = get_or_call(
            cache,
            chat(question),
            lambda q=question: {"answer": f"provider answer to {q}"},
            namespace=namespace + "-explicit",
        )
        sources.append(answer.source)
        ask(model="test-model", messages=[{"role": "user", "content": question}])
    return sources, len(calls)


@pytest.mark.redis
def test_same_code_remote_and_in_process(
    service: Service, ns: str, local_cache: SemanticCache
) -> None:
    with Client(service.url) as remote:
        remote_result = _the_same_code(remote, ns)
    local_result = _the_same_code(local_cache, ns)
    assert remote_result == local_result == (["provider", "exact", "semantic"], 1)


def test_cached_keeps_defaults_in_the_key_and_rejects_positional(
    local_cache: SemanticCache,
) -> None:
    calls = {"n": 0}

    @cached(local_cache, namespace="defaults")
    def ask(*, model: str, messages: list[dict[str, str]], temperature: float = 0) -> str:
        calls["n"] += 1
        return "ok"

    messages = [{"role": "user", "content": QUESTION}]
    assert ask(model="m", messages=messages) == "ok"
    assert ask(model="m", messages=messages, temperature=0) == "ok"
    assert calls["n"] == 1
    with pytest.raises(TypeError, match="keyword arguments"):
        ask("m", messages)  # type: ignore[misc]


def test_sync_function_needs_a_sync_cache(local_cache: SemanticCache) -> None:
    with pytest.raises(TypeError, match="async def"):

        @cached(AsyncSemanticCache(cache=local_cache))
        def ask(**request: Any) -> str:
            return "x"


@pytest.mark.redis
def test_async_wrappers_remote_and_in_process(
    service: Service, ns: str, local_cache: SemanticCache
) -> None:
    async def scenario(cache: Any) -> list[str]:
        calls: list[str] = []

        @cached(cache, namespace=ns)
        async def ask(**request: Any) -> dict[str, str]:
            calls.append(request["messages"][-1]["content"])
            await asyncio.sleep(0)
            return {"answer": "async provider answer"}

        for question in (QUESTION, PARAPHRASE):
            await ask(**chat(question))
        answer = await aget_or_call(cache, chat(QUESTION), lambda: {"x": 1}, namespace=ns)
        return [*calls, answer.source]

    async def remote() -> list[str]:
        async with AsyncClient(service.url) as client:
            return await scenario(client)

    assert asyncio.run(remote()) == [QUESTION, "exact"]
    assert asyncio.run(scenario(AsyncSemanticCache(cache=local_cache))) == [QUESTION, "exact"]


@pytest.mark.redis
def test_openai_helpers_through_the_proxy(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_client(service.base_url, api_key="sk-provider", namespace=ns, max_retries=0)
    messages: Any = [{"role": "user", "content": QUESTION}]
    first = client.chat.completions.with_raw_response.create(
        model="test-model", temperature=0, messages=messages
    )
    assert cache_info(first.headers).kind == "miss"
    paraphrase: Any = [{"role": "user", "content": PARAPHRASE}]
    second = client.chat.completions.with_raw_response.create(
        model="test-model", temperature=0, messages=paraphrase
    )
    info = cache_info(second.headers)
    assert info.hit
    assert info.kind == "semantic"
    assert info.similarity is not None
    assert info.similarity >= 0.95
    assert info.namespace == ns
    strict = client.chat.completions.with_raw_response.create(
        model="test-model",
        temperature=0,
        messages=paraphrase,
        extra_headers=cache_headers(threshold=1.0, skip_store=True),
    )
    assert cache_info(strict.headers).kind == "miss"
    assert upstream.count == 2
    assert upstream.calls[0].headers["authorization"] == "Bearer sk-provider"

    async def streamed() -> str:
        aclient = async_openai_client(service.base_url, namespace=ns, max_retries=0)
        stream = await aclient.chat.completions.create(
            model="test-model", temperature=0, messages=messages, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await aclient.close()
        return text

    text = asyncio.run(streamed())
    assert text == asyncio.run(streamed()) == first.parse().choices[0].message.content
    assert upstream.count == 2  # the plain call's stored answer serves the streams too


def test_cache_headers_validate() -> None:
    assert cache_headers(namespace="a", ttl_s=5, skip_lookup=True) == {
        "X-Semcached-Namespace": "a",
        "X-Semcached-TTL": "5.0",
        "X-Semcached-Skip-Lookup": "true",
    }
    with pytest.raises(ValueError, match="threshold"):
        cache_headers(threshold=2)


def test_cached_returns_sdk_objects_and_refuses_what_is_not_json(
    service: Service, ns: str, upstream: Upstream
) -> None:
    """`cached(returns=ChatCompletion)` gives the SDK's object on a miss and a hit, in-process
    and over HTTP alike; an answer that is not JSON is returned uncached, the same way."""
    from openai.types.chat import ChatCompletion

    client = openai_client(service.url, namespace=ns, max_retries=0)  # no /v1: added
    assert str(client.base_url).rstrip("/").endswith("/v1")
    calls: list[int] = []

    for cache in (Client(service.url, namespace=ns), service.cache):

        @cached(cache, returns=ChatCompletion)
        def ask(*, model: str, messages: list[Any], temperature: float = 0) -> ChatCompletion:
            calls.append(1)
            return client.chat.completions.create(
                model=model, messages=messages, temperature=temperature
            )

        question = [{"role": "user", "content": f"Typed answers please ({type(cache).__name__})"}]
        first, second = (
            ask(model="test-model", messages=question),
            ask(model="test-model", messages=question),
        )
        assert isinstance(first, ChatCompletion) and isinstance(second, ChatCompletion)
        assert first.choices[0].message.content == second.choices[0].message.content

        class Opaque:
            pass

        answer = get_or_call(cache, chat(f"opaque {type(cache).__name__}"), lambda: {"x": Opaque()})
        assert answer.source == "provider" and not answer.stored
    assert len(calls) == 2  # one miss per cache; the hits called nothing
