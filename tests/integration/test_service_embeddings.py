"""``POST /v1/embeddings`` cached exactly per input, with the real openai SDK (sync and
async) against the fake upstream, which records every input it was asked to embed."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest

from tests.servicekit import Service, openai_sdk
from tests.upstream import Upstream

pytestmark = [pytest.mark.model, pytest.mark.redis]


@pytest.fixture
def embedded(upstream: Upstream) -> list[object]:
    with upstream.lock:
        upstream.embedded.clear()
    return upstream.embedded


def test_a_batch_calls_the_upstream_only_for_inputs_not_cached(
    service: Service, ns: str, embedded: list[object]
) -> None:
    client = openai_sdk(service.url, ns)
    first = client.embeddings.create(model="emb-small", input=["alpha", "beta"])
    assert embedded == ["alpha", "beta"]
    raw = client.embeddings.with_raw_response.create(
        model="emb-small", input=["gamma", "alpha", "beta", "gamma"]
    )
    assert embedded == ["alpha", "beta", "gamma"]  # only the new one, once
    assert raw.headers["x-semcached-cache"] == "partial"
    assert raw.headers["x-semcached-cached-inputs"] == "2/4"
    second = raw.parse()
    assert [d.index for d in second.data] == [0, 1, 2, 3]
    assert second.data[1].embedding == first.data[0].embedding  # reassembled in order
    assert second.data[2].embedding == first.data[1].embedding
    assert second.data[0].embedding == second.data[3].embedding
    again = client.embeddings.with_raw_response.create(model="emb-small", input="alpha")
    assert again.headers["x-semcached-cache"] == "exact" and len(embedded) == 3
    assert again.parse().usage.total_tokens == 0  # nothing was spent
    assert again.parse().data[0].embedding == first.data[0].embedding


def test_the_key_holds_model_dimensions_and_encoding(
    service: Service, ns: str, embedded: list[object]
) -> None:
    base = {"model": "emb-small", "input": ["delta"]}
    url = f"{service.url}/v1/embeddings"
    headers = {"X-Semcached-Namespace": ns}
    floats = httpx.post(url, json={**base, "encoding_format": "float"}, headers=headers).json()
    assert isinstance(floats["data"][0]["embedding"], list)
    b64 = httpx.post(url, json={**base, "encoding_format": "base64"}, headers=headers).json()
    assert isinstance(b64["data"][0]["embedding"], str)
    small = httpx.post(url, json={**base, "dimensions": 2}, headers=headers).json()
    assert len(small["data"][0]["embedding"]) == 2
    other = httpx.post(url, json={**base, "model": "emb-large"}, headers=headers)
    assert other.headers["x-semcached-cache"] == "miss"
    assert len(embedded) == 4  # each one a different vector: none served for another
    same = httpx.post(url, json={**base, "user": "someone"}, headers=headers)
    assert same.headers["x-semcached-cache"] == "exact"  # `user` does not change a vector
    tokens = httpx.post(url, json={"model": "emb-small", "input": [1, 2, 3]}, headers=headers)
    assert tokens.status_code == 200 and embedded[-1] == [1, 2, 3]
    again = httpx.post(url, json={"model": "emb-small", "input": [1, 2, 3]}, headers=headers)
    assert again.headers["x-semcached-cache"] == "exact"


def test_controls_namespaces_and_bad_input(
    service: Service, ns: str, embedded: list[object]
) -> None:
    url = f"{service.url}/v1/embeddings"
    body = {"model": "emb-small", "input": ["epsilon"]}
    httpx.post(url, json=body, headers={"X-Semcached-Namespace": ns})
    other = httpx.post(url, json=body, headers={"X-Semcached-Namespace": ns + "-other"})
    assert other.headers["x-semcached-cache"] == "miss"  # namespaces never share
    fresh = httpx.post(
        url, json={**body, "cache": {"no-cache": True}}, headers={"X-Semcached-Namespace": ns}
    )
    assert fresh.headers["x-semcached-cache"] == "bypass" and len(embedded) == 3
    for bad, field in (
        ({"model": "emb-small", "input": []}, "input"),
        ({"model": "emb-small", "input": ["ok", ""]}, "input.1"),
        ({"model": "emb-small", "input": ["x"], "encoding_format": "hex"}, "encoding_format"),
    ):
        reply = httpx.post(url, json=bad, headers={"X-Semcached-Namespace": ns})
        assert reply.status_code == 422, reply.text
        assert reply.json()["error"]["param"] == field


def test_the_async_sdk_too(service: Service, ns: str, embedded: list[object]) -> None:
    async def go() -> list[list[float]]:
        client = openai.AsyncOpenAI(
            base_url=service.base_url, api_key="sk-test", max_retries=0,
            default_headers={"X-Semcached-Namespace": ns},
        )  # fmt: skip
        one = await client.embeddings.create(model="emb-small", input=["zeta", "eta"])
        two = await client.embeddings.create(model="emb-small", input=["eta", "zeta"])
        await client.close()
        return [one.data[0].embedding, two.data[1].embedding]

    first, second = asyncio.run(go())
    assert first == second and embedded == ["zeta", "eta"]
