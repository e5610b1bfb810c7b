"""Every provider route the cache does not handle is relayed as it is, on a real uvicorn
server, to the fake upstream, with httpx and the real openai SDK; no cookie crosses tenants."""

from __future__ import annotations

import httpx
import openai
import pytest

from semcached.service.app import create_app
from tests.servers import free_port
from tests.servicekit import Service, chat, service_settings
from tests.upstream import Upstream, serving

pytestmark = [pytest.mark.model, pytest.mark.redis]


@pytest.fixture
def relayed(upstream: Upstream) -> list[dict[str, object]]:
    with upstream.lock:
        upstream.relayed.clear()
    return upstream.relayed


def test_models_through_the_openai_sdk(service: Service, relayed: list[dict[str, object]]) -> None:
    client = openai.OpenAI(base_url=service.base_url, api_key="sk-provider", max_retries=0)
    models = client.models.list()
    assert [m.id for m in models.data] == ["gpt-test"]
    raw = client.models.with_raw_response.list()
    assert raw.headers["x-request-id"] == "req-models"  # the upstream's headers reach the SDK
    assert raw.headers["openai-processing-ms"] == "3"
    assert raw.headers["x-semcached-cache"] == "bypass"
    seen = relayed[-1]
    assert seen["method"] == "GET" and seen["path"] == "models"
    headers = seen["headers"]
    assert isinstance(headers, dict) and headers["authorization"] == "Bearer sk-provider"


def test_method_query_body_and_status_are_relayed_unchanged(
    service: Service, relayed: list[dict[str, object]]
) -> None:
    body = b'{"input": ["one", "two"], "model": "embed-x"}'
    reply = httpx.post(
        f"{service.url}/v1/files/upload?purpose=batch&limit=2",
        content=body,
        headers={"content-type": "application/json", "x-semcached-namespace": "t-relay",
                 "openai-beta": "assistants=v2"},
    )  # fmt: skip
    assert reply.status_code == 201
    assert reply.json() == {
        "method": "POST",
        "path": "files/upload",
        "query": "purpose=batch&limit=2",
        "body": body.decode(),
    }
    headers = relayed[-1]["headers"]
    assert isinstance(headers, dict)
    assert headers["openai-beta"] == "assistants=v2"
    assert not any(name.startswith("x-semcached-") for name in headers)  # ours stay here
    for method in ("DELETE", "PUT", "PATCH"):
        reply = httpx.request(method, f"{service.url}/v1/things/7")
        assert reply.status_code == 201 and reply.json()["method"] == method


def test_errors_and_streams_pass_as_the_upstream_sent_them(
    service: Service, relayed: list[dict[str, object]]
) -> None:
    reply = httpx.get(f"{service.url}/v1/limited")
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "3"
    assert reply.headers["x-ratelimit-remaining-requests"] == "0"
    assert reply.json()["error"]["type"] == "rate_limit"
    with httpx.stream("GET", f"{service.url}/v1/slow-stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert b"".join(stream.iter_bytes()) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


def test_no_cookie_crosses_from_one_caller_to_another(
    service: Service, relayed: list[dict[str, object]]
) -> None:
    """The one upstream client keeps no cookie jar: a Set-Cookie answering tenant A is not
    sent with tenant B's request, and is not handed to a caller either."""
    first = httpx.post(f"{service.url}/v1/login", headers={"x-semcached-namespace": "tenant-a"})
    assert first.status_code == 200 and "set-cookie" not in first.headers
    httpx.get(f"{service.url}/v1/anything", headers={"x-semcached-namespace": "tenant-b"})
    headers = relayed[-1]["headers"]
    assert isinstance(headers, dict) and "cookie" not in headers
    # nor on the cached route's misses
    httpx.post(f"{service.url}/v1/login")
    reply = httpx.post(
        f"{service.url}/v1/chat/completions", json=chat("Any cookie for tenant B?"),
        headers={"x-semcached-namespace": "tenant-b"},
    )  # fmt: skip
    assert reply.status_code == 200
    assert "cookie" not in service.upstream.calls[-1].headers


def test_semcached_routes_are_never_relayed(
    service: Service, relayed: list[dict[str, object]]
) -> None:
    before = len(relayed)
    reply = httpx.post(f"{service.url}/v1/cache/lokup", json={})
    assert reply.status_code == 404
    error = reply.json()["error"]
    assert error["field"] == "path" and error["fix"]
    assert len(relayed) == before


def test_unreachable_upstream_is_a_json_502_and_none_configured_a_503(service: Service) -> None:
    dead = service_settings(f"http://127.0.0.1:{free_port()}/v1")
    with serving(create_app(dead, cache=service.cache)) as server:
        reply = httpx.get(f"{server.url}/v1/models")
    assert reply.status_code == 502 and reply.json()["error"]["type"] == "upstream_unreachable"
    with serving(create_app(service_settings(None), cache=service.cache)) as server:
        reply = httpx.get(f"{server.url}/v1/models")
    assert reply.status_code == 503
    assert "SEMCACHED_UPSTREAM_URL" in reply.json()["error"]["fix"]
