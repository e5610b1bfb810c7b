"""``POST /v1/completions`` (legacy text completions) cached like chat, with the real openai
SDK against the fake upstream."""

from __future__ import annotations

import httpx
import pytest

from tests.servicekit import Service, chat, openai_sdk
from tests.upstream import Upstream

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_miss_exact_and_semantic_hits(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_sdk(service.url, ns)
    kinds, texts = [], []
    for prompt in ("How do I reset my password?",) * 2 + ("How can I reset my password?",):
        raw = client.completions.with_raw_response.create(
            model="instruct", prompt=prompt, temperature=0, max_tokens=20
        )
        kinds.append(raw.headers["x-semcached-cache"])
        texts.append(raw.parse().choices[0].text)
    assert kinds == ["miss", "exact", "semantic"]
    assert len(set(texts)) == 1 and upstream.count == 1


def test_streams_are_recorded_and_replayed(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_sdk(service.url, ns)
    prompt = "Write one line about tides."

    def streamed() -> str:
        parts = client.completions.create(model="instruct", prompt=prompt, stream=True)
        return "".join(chunk.choices[0].text for chunk in parts if chunk.choices)

    first, second = streamed(), streamed()
    assert first == second == f"answer #1 to: {prompt}"
    assert upstream.count == 1


def test_a_completion_never_serves_a_chat_and_lists_pass_through(
    service: Service, ns: str, upstream: Upstream
) -> None:
    question = "What is the capital of Peru?"
    client = openai_sdk(service.url, ns)
    client.completions.create(model="test-model", prompt=question, temperature=0)
    reply = httpx.post(
        f"{service.url}/v1/chat/completions", json=chat(question),
        headers={"X-Semcached-Namespace": ns},
    )  # fmt: skip
    assert reply.headers["x-semcached-cache"] == "miss"  # another form, another scope
    listed = httpx.post(
        f"{service.url}/v1/completions", json={"model": "instruct", "prompt": ["a", "b"]},
        headers={"X-Semcached-Namespace": ns},
    )  # fmt: skip
    assert listed.headers["x-semcached-cache"] == "bypass"  # relayed, never cached
