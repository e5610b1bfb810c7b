"""LiteLLM's SDK in front of the sidecar, as its users point it at a proxy (`api_base`): the
OpenAI and Anthropic providers reach semcached's cached routes, the second call is served
from the cache, and the provider is called once."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of its price list

import litellm
import pytest

from tests.servicekit import Service
from tests.upstream import Upstream

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_openai_provider_through_the_sidecar(service: Service, ns: str, upstream: Upstream) -> None:
    question = "How do I rotate my API key with LiteLLM in front?"
    answers = [
        litellm.completion(
            model="openai/test-model",
            api_base=service.base_url,
            api_key="sk-litellm",
            messages=[{"role": "user", "content": question}],
            temperature=0,
            extra_headers={"X-Semcached-Namespace": ns},
            num_retries=0,
        )
        for _ in range(2)
    ]
    assert [a.choices[0].message.content for a in answers] == [f"answer #1 to: {question}"] * 2
    assert upstream.count == 1
    assert upstream.calls[0].headers["authorization"] == "Bearer sk-litellm"


def test_anthropic_provider_through_the_sidecar(
    service: Service, ns: str, upstream: Upstream
) -> None:
    question = "Which regions does the Anthropic route cover?"
    answers = [
        litellm.completion(
            model="anthropic/claude-test",
            api_base=service.url,
            api_key="sk-ant-litellm",
            messages=[{"role": "user", "content": question}],
            max_tokens=32,
            extra_headers={"X-Semcached-Namespace": ns},
            num_retries=0,
        )
        for _ in range(2)
    ]
    texts = [a.choices[0].message.content for a in answers]
    assert texts[0] == texts[1] and question in texts[0]
    assert upstream.count == 1
    assert upstream.calls[0].headers.get("x-api-key") == "sk-ant-litellm"
