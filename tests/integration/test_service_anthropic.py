"""``POST /v1/messages`` with the real anthropic SDK (sync, async, streaming) against the
sidecar and the fake upstream: misses, exact and semantic hits, streams replayed in
Anthropic's own event format, errors in Anthropic's shape."""

from __future__ import annotations

import asyncio

import anthropic
import httpx
import pytest

from semcached.service.app import create_app
from tests.servers import free_port
from tests.servicekit import Service, anthropic_sdk, service_settings
from tests.upstream import Upstream, serving

pytestmark = [pytest.mark.model, pytest.mark.redis]

PASSWORD = "How do I reset my password?"


def _ask(text: str) -> dict[str, object]:
    return {
        "model": "claude-test",
        "max_tokens": 64,
        "system": "You are a support agent.",
        "messages": [{"role": "user", "content": text}],
    }


def test_miss_exact_and_semantic_hits(service: Service, ns: str, upstream: Upstream) -> None:
    client = anthropic_sdk(service.url, ns)
    kinds, texts = [], []
    for text in (PASSWORD, PASSWORD, "How can I reset my password?"):
        raw = client.messages.with_raw_response.create(**_ask(text))  # type: ignore[arg-type]
        kinds.append(raw.headers["x-semcached-cache"])
        block = raw.parse().content[0]
        texts.append(block.text if block.type == "text" else "")
    assert kinds == ["miss", "exact", "semantic"]
    assert texts == [f"answer #1 to: {PASSWORD}"] * 3 and upstream.count == 1
    sent = upstream.calls[-1].headers
    # the SDK's credential (this SDK sends it as a bearer token) and version reach the upstream
    assert sent.get("authorization") == "Bearer sk-ant-test" or sent.get("x-api-key")
    assert "anthropic-version" in sent
    httpx.post(
        f"{service.url}/v1/messages", json=_ask("Is there a free trial?"),
        headers={"x-api-key": "sk-ant-raw", "anthropic-version": "2023-06-01",
                 "anthropic-beta": "tools-2024", "X-Semcached-Namespace": ns},
    )  # fmt: skip
    raw_sent = upstream.calls[-1].headers
    assert raw_sent["x-api-key"] == "sk-ant-raw" and raw_sent["anthropic-beta"] == "tools-2024"
    other = client.messages.with_raw_response.create(
        **{**_ask(PASSWORD), "system": "Answer in French."}  # type: ignore[arg-type]
    )
    assert other.headers["x-semcached-cache"] == "miss"  # the system prompt is in the scope


def test_streams_replay_in_anthropics_event_format(
    service: Service, ns: str, upstream: Upstream
) -> None:
    client = anthropic_sdk(service.url, ns)
    question = "Which plans include priority support?"

    def streamed() -> tuple[str, list[str]]:
        with client.messages.stream(**_ask(question)) as stream:  # type: ignore[arg-type]
            kinds = [event.type for event in stream]
            return stream.get_final_text(), kinds

    first, kinds_first = streamed()
    second, kinds_second = streamed()
    assert first == second == f"answer #1 to: {question}"
    assert kinds_first == kinds_second and kinds_first[0] == "message_start"
    assert kinds_first[-1] == "message_stop" and upstream.count == 1
    with httpx.stream(
        "POST", f"{service.url}/v1/messages", json={**_ask(question), "stream": True},
        headers={"X-Semcached-Namespace": ns},
    ) as raw:  # fmt: skip
        body = b"".join(raw.iter_bytes()).decode()
        assert raw.headers["x-semcached-cache"] == "exact"
    assert body.startswith("event: message_start\ndata: ") and "[DONE]" not in body


def test_errors_are_in_anthropics_shape(service: Service, ns: str) -> None:
    client = anthropic_sdk(service.url, ns)
    with pytest.raises(anthropic.UnprocessableEntityError) as failure:
        client.messages.create(model="claude-test", max_tokens=0, messages=[])  # type: ignore[arg-type]
    body = failure.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["fix"]
    assert "fix:" in body["error"]["message"]


def test_the_async_sdk(service: Service, ns: str, upstream: Upstream) -> None:
    async def go() -> list[str]:
        client = anthropic.AsyncAnthropic(
            base_url=service.url, api_key="sk-ant-test", max_retries=0,
            default_headers={"X-Semcached-Namespace": ns},
        )  # fmt: skip
        out = []
        for _ in range(2):
            message = await client.messages.create(**_ask("Where is my order?"))  # type: ignore[arg-type]
            block = message.content[0]
            out.append(block.text if block.type == "text" else "")
        await client.close()
        return out

    first, second = asyncio.run(go())
    assert first == second and upstream.count == 1


def test_an_unreachable_upstream_is_a_502_in_anthropic_shape(service: Service, ns: str) -> None:
    dead = service_settings(f"http://127.0.0.1:{free_port()}/v1")
    with serving(create_app(dead, cache=service.cache)) as server:
        client = anthropic_sdk(server.url, ns)
        with pytest.raises(anthropic.APIStatusError) as raised:
            client.messages.create(**_ask("Is anyone there?"))  # type: ignore[arg-type]
    assert raised.value.status_code == 502
    body = raised.value.response.json()
    assert body["type"] == "error" and body["error"]["code"] == "upstream_unreachable"
    assert "could not be reached" in body["error"]["message"]
