"""The cache controls callers already send (Cache-Control, LiteLLM's `cache` body field,
semcached's headers), on a real uvicorn server with the real openai SDK and the fake upstream."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.servicekit import Service, chat
from tests.upstream import Upstream

pytestmark = [pytest.mark.model, pytest.mark.redis]


def _post(service: Service, ns: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{service.url}/v1/chat/completions",
        json=body,
        headers={"X-Semcached-Namespace": ns, **headers},
        timeout=60,
    )


def test_the_litellm_cache_field_is_honoured_and_never_sent_upstream(
    service: Service, ns: str, upstream: Upstream
) -> None:
    question = "What is the refund window for annual plans?"
    first = _post(service, ns, {**chat(question), "cache": {"no-store": True}})
    assert first.headers["x-semcached-cache"] == "miss"
    assert "cache" not in upstream.calls[-1].body  # stripped before the upstream
    again = _post(service, ns, chat(question))
    assert again.headers["x-semcached-cache"] == "miss"  # nothing was stored
    assert upstream.count == 2
    third = _post(service, ns, chat(question))
    assert third.headers["x-semcached-cache"] == "exact"  # the field never changed the key
    bypass = _post(service, ns, {**chat(question), "cache": {"no-cache": True, "ttl": 60}})
    assert bypass.headers["x-semcached-cache"] == "bypass" and upstream.count == 3
    # through the SDK, as LiteLLM users write it
    client = openai.OpenAI(base_url=service.base_url, api_key="sk-test", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        **chat(question), extra_body={"cache": {"namespace": ns}}
    )
    assert raw.headers["x-semcached-cache"] == "exact"
    assert raw.headers["x-semcached-namespace"] == ns
    assert raw.parse().choices[0].message.content


def test_max_age_serves_only_younger_entries(service: Service, ns: str, upstream: Upstream) -> None:
    question = "How do I rotate my API key?"
    _post(service, ns, chat(question))
    assert (
        _post(service, ns, chat(question), **{"Cache-Control": "max-age=3600"}).headers[
            "x-semcached-cache"
        ]
        == "exact"
    )
    before = upstream.count
    stale = _post(service, ns, chat(question), **{"Cache-Control": "max-age=0"})
    assert stale.headers["x-semcached-cache"] == "miss" and upstream.count == before + 1
    # a reworded question finds the same (now refreshed) entry only if young enough
    reworded = "How can I rotate my API key?"
    shared = _post(service, ns, chat(reworded), **{"Cache-Control": "max-age=3600, s-maxage=0"})
    assert shared.headers["x-semcached-cache"] == "miss"  # s-maxage wins for a shared cache
    body = _post(service, ns, {**chat(question), "cache": {"s-maxage": 3600}})
    assert body.headers["x-semcached-cache"] == "exact"


@pytest.mark.parametrize(
    ("extra", "headers", "field"),
    [
        ({"cache": {"ttl": "soon"}}, {}, "cache.ttl"),
        ({"cache": {"no-cache": "yes"}}, {}, "cache.no-cache"),
        ({"cache": {"forever": True}}, {}, "cache.forever"),
        ({"cache": "no-cache"}, {}, "cache"),
        ({}, {"Cache-Control": "max-age=soon"}, "Cache-Control"),
        ({}, {"X-Semcached-Skip-Store": "perhaps"}, "X-Semcached-Skip-Store"),
    ],
)
def test_a_malformed_control_is_a_422_naming_it(
    service: Service,
    ns: str,
    upstream: Upstream,
    extra: dict[str, Any],
    headers: dict[str, str],
    field: str,
) -> None:
    before = upstream.count
    reply = _post(service, ns, {**chat("Is there a student discount?"), **extra}, **headers)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["field"] == field and error["fix"]
    assert upstream.count == before


def test_the_openai_sdk_reads_our_errors_in_its_own_shape(service: Service, ns: str) -> None:
    """On the provider routes an error is OpenAI's shape (message, type, param, code) with
    semcached's field and fix kept, and the fix in the message the SDK shows."""
    client = openai.OpenAI(base_url=service.base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.UnprocessableEntityError) as failure:
        client.chat.completions.create(
            **chat("Any discount for students?"), extra_body={"cache": {"ttl": "soon"}}
        )
    error = failure.value
    assert error.param == "cache.ttl" and error.code == "invalid_cache_control"
    assert "fix: send cache.ttl as seconds" in error.message
    body = error.body
    assert isinstance(body, dict) and body["field"] == "cache.ttl" and body["fix"]
