"""``POST /v1/responses`` with the real openai SDK: cached when stateless (``store: false``),
passed through when it depends on OpenAI's server-side state."""

from __future__ import annotations

import pytest

from tests.servicekit import Service, openai_sdk
from tests.upstream import Upstream

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_stateless_requests_hit_exactly_and_semantically(
    service: Service, ns: str, upstream: Upstream
) -> None:
    client = openai_sdk(service.url, ns)
    kinds, texts = [], []
    for text in ("How do I reset my password?",) * 2 + ("How can I reset my password?",):
        raw = client.responses.with_raw_response.create(
            model="gpt-test", input=text, instructions="Be brief.", store=False
        )
        kinds.append(raw.headers["x-semcached-cache"])
        texts.append(raw.parse().output_text)
    assert kinds == ["miss", "exact", "semantic"]
    assert len(set(texts)) == 1 and upstream.count == 1


def test_server_side_state_is_never_served_from_the_cache(
    service: Service, ns: str, upstream: Upstream
) -> None:
    client = openai_sdk(service.url, ns)
    for kwargs in ({}, {"store": True}, {"store": False, "previous_response_id": "resp_0"}):
        for _ in range(2):
            raw = client.responses.with_raw_response.create(
                model="gpt-test", input="What is my balance?", **kwargs
            )
            assert raw.headers["x-semcached-cache"] == "bypass"
    assert upstream.count == 6  # every one reached the provider


def test_streams_replay_in_the_responses_event_format(
    service: Service, ns: str, upstream: Upstream
) -> None:
    client = openai_sdk(service.url, ns)

    def streamed() -> tuple[str, list[str]]:
        events = list(
            client.responses.create(
                model="gpt-test", input="Name three tides.", store=False, stream=True
            )
        )
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        return text, [e.type for e in events]

    first, kinds = streamed()
    second, again = streamed()
    assert first == second == "answer #1 to: Name three tides."
    assert kinds == again and kinds[-1] == "response.completed" and upstream.count == 1
