"""A streamed and a plain call share one entry, in every cached API, parsed by the real SDKs:
a recorded stream is assembled into the API's answer, a stored answer becomes its events."""

from __future__ import annotations

import pytest

from tests.servicekit import Service, anthropic_sdk, chat, openai_sdk
from tests.upstream import Upstream

pytestmark = [pytest.mark.model, pytest.mark.redis]


def test_chat_stream_then_plain_then_stream(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_sdk(service.url, ns)
    question = "Which regions do you deliver to?"
    parts = client.chat.completions.create(**chat(question), stream=True)  # type: ignore[call-overload]
    streamed = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    raw = client.chat.completions.with_raw_response.create(**chat(question))  # type: ignore[call-overload]
    assert raw.headers["x-semcached-cache"] == "exact"
    plain = raw.parse()
    assert plain.choices[0].message.content == streamed
    assert plain.choices[0].finish_reason == "stop" and plain.object == "chat.completion"
    assert upstream.count == 1


def test_chat_plain_then_stream(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_sdk(service.url, ns)
    question = "How long does a refund take?"
    plain = client.chat.completions.create(**chat(question))  # type: ignore[call-overload]
    parts = list(client.chat.completions.create(**chat(question), stream=True))  # type: ignore[call-overload]
    streamed = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
    assert streamed == plain.choices[0].message.content and upstream.count == 1
    assert [c.choices[0].finish_reason for c in parts if c.choices][-1] == "stop"


def test_completions_share_too(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_sdk(service.url, ns)
    prompt = "Finish this: the tide comes in"
    parts = client.completions.create(model="instruct", prompt=prompt, stream=True)
    streamed = "".join(c.choices[0].text for c in parts if c.choices)
    plain = client.completions.create(model="instruct", prompt=prompt)
    assert plain.choices[0].text == streamed and upstream.count == 1


def test_anthropic_messages_share_both_ways(service: Service, ns: str, upstream: Upstream) -> None:
    client = anthropic_sdk(service.url, ns, api_key="sk-ant")
    ask = {"model": "claude-test", "max_tokens": 32,
           "messages": [{"role": "user", "content": "Is there a family plan?"}]}  # fmt: skip
    with client.messages.stream(**ask) as stream:  # type: ignore[arg-type]
        streamed = stream.get_final_text()
    plain = client.messages.create(**ask)  # type: ignore[arg-type]
    block = plain.content[0]
    assert block.type == "text" and block.text == streamed
    assert plain.stop_reason == "end_turn"
    other = {**ask, "messages": [{"role": "user", "content": "Is there a student plan?"}]}
    first = client.messages.create(**other)  # type: ignore[arg-type]
    with client.messages.stream(**other) as stream:  # type: ignore[arg-type]
        again = stream.get_final_text()
    block = first.content[0]
    assert block.type == "text" and again == block.text and upstream.count == 2


def test_responses_share_both_ways(service: Service, ns: str, upstream: Upstream) -> None:
    client = openai_sdk(service.url, ns)
    events = list(
        client.responses.create(model="gpt-test", input="Name a tide.", store=False, stream=True)
    )
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    plain = client.responses.create(model="gpt-test", input="Name a tide.", store=False)
    assert plain.output_text == streamed
    first = client.responses.create(model="gpt-test", input="Name a river.", store=False)
    replayed = list(
        client.responses.create(model="gpt-test", input="Name a river.", store=False, stream=True)
    )
    text = "".join(e.delta for e in replayed if e.type == "response.output_text.delta")
    assert text == first.output_text and replayed[-1].type == "response.completed"
    assert upstream.count == 2
