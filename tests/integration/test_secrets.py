"""Credentials never shown: a service run with a password in every URL (Redis, Chroma, the
upstream), every backend down, probed on every kind of route; no body and no log line holds
a password."""

from __future__ import annotations

import logging

import httpx
import pytest
from pydantic import SecretStr

from semcached.service.app import create_app
from tests.servers import free_port
from tests.servicekit import chat, service_settings
from tests.upstream import serving

pytestmark = pytest.mark.model

SECRETS = ("redis-pw-1", "chroma-pw-2", "upstream-pw-3")


def test_no_password_in_any_body_or_log(caplog: pytest.LogCaptureFixture) -> None:
    settings = service_settings(
        f"http://up:{SECRETS[2]}@127.0.0.1:{free_port()}/v1",
        redis_url=SecretStr(f"redis://:{SECRETS[0]}@127.0.0.1:{free_port()}/0"),
        chroma_url=f"http://chroma:{SECRETS[1]}@127.0.0.1:{free_port()}",
    )
    bodies: list[str] = []
    with (
        caplog.at_level(logging.DEBUG),
        serving(create_app(settings)) as server,  # starts though every backend is down
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        for method, path, body in (
            ("GET", "/readyz", None),
            ("POST", "/v1/cache/lookup", {"request": chat("Where is my order?")}),
            ("POST", "/v1/cache/store", {"request": chat("Where?"), "response": {"a": 1}}),
            ("POST", "/v1/chat/completions", chat("Where is my parcel?")),
            ("GET", "/v1/models", None),
            ("GET", "/v1/knowledge/collections", None),
            ("POST", "/v1/search", {"collection": "docs", "query": "refunds"}),
            ("GET", "/metrics", None),
        ):
            reply = http.request(method, path, json=body)
            assert reply.status_code < 500 or reply.status_code in (502, 503), path
            bodies.append(f"{path} {reply.status_code} {reply.headers} {reply.text}")
    ready = bodies[0]
    assert "chroma:***@127.0.0.1" in ready  # the backend is named, its password masked
    text = "\n".join(bodies) + "\n" + caplog.text
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked"
