"""The LangChain cache on semcached, with real langchain-core chat models (a scripted one
that answers from a list, so a second provider call would show as the next answer), the real
embedding model and the real verifier."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from semcached.clients.langchain import SemcachedCache, request_for
from semcached.embeddings import CachedEmbedder, Embedder
from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import SemanticCache
from semcached.index import MemoryExactStore
from semcached.index.vector.memory import MemoryVectorBackend

pytestmark = pytest.mark.model


@pytest.fixture
def cache(embedder: Embedder) -> SemanticCache:
    return SemanticCache(
        embedder=CachedEmbedder(embedder), exact_store=MemoryExactStore(),
        vector_backend=MemoryVectorBackend(),
    )  # fmt: skip


def test_a_second_identical_call_and_a_rewording_are_served_from_the_cache(
    cache: SemanticCache,
) -> None:
    model = FakeListChatModel(
        responses=["first answer", "second answer"], cache=SemcachedCache(cache)
    )
    system = SystemMessage("You are a support agent.")
    one = model.invoke([system, HumanMessage("How do I reset my password?")])
    two = model.invoke([system, HumanMessage("How do I reset my password?")])
    three = model.invoke([system, HumanMessage("How can I reset my password?")])
    assert one.content == two.content == three.content == "first answer"
    other = model.invoke([system, HumanMessage("How do I delete my account?")])
    assert other.content == "second answer"  # a different question reached the model


def test_the_scope_holds_the_model_parameters_and_the_system_prompt(
    cache: SemanticCache,
) -> None:
    lc = SemcachedCache(cache)
    a = FakeListChatModel(responses=["from a"], cache=lc)
    b = FakeListChatModel(responses=["from b"], cache=lc, sleep=0.0)  # other parameters
    question = [HumanMessage("What is the refund window?")]
    assert a.invoke(question).content == "from a"
    assert b.invoke(question).content == "from b"  # another llm_string: never shared
    c = FakeListChatModel(responses=["from c"], cache=lc)
    assert c.invoke([SystemMessage("Answer in French."), *question]).content == "from c"
    exact = FakeListChatModel(responses=["x", "y"], cache=SemcachedCache(cache, semantic=False))
    exact.invoke("How do I rotate a key?")
    assert exact.invoke("How can I rotate a key?").content == "y"  # exact only: a miss


def test_the_request_is_chat_messages_and_the_model_a_digest() -> None:
    from langchain_core.load import dumps

    prompt = dumps([SystemMessage("be brief"), HumanMessage("hi")])
    request = request_for(prompt, "model=x temperature=0.7")
    assert request["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert request["model"].startswith("langchain/") and "0.7" not in request["model"]
    assert request_for("plain prompt", "m")["messages"] == [
        {"role": "user", "content": "plain prompt"}
    ]


def test_async_models_and_the_async_cache(embedder: Embedder) -> None:
    async def go() -> list[str]:
        acache = AsyncSemanticCache(
            cache=SemanticCache(
                embedder=CachedEmbedder(embedder), exact_store=MemoryExactStore(),
                vector_backend=MemoryVectorBackend(),
            )
        )  # fmt: skip
        model = FakeListChatModel(responses=["one", "two"], cache=SemcachedCache(acache))
        first = await model.ainvoke("Where is my parcel?")
        second = await model.ainvoke("Where is my parcel?")
        await acache.aclose()
        return [str(first.content), str(second.content)]

    assert asyncio.run(go()) == ["one", "one"]
