"""Two tenants, every route: tenant B walks every path and method of the OpenAPI schema
aimed at tenant A's data (A's namespace in the query, the header and the body; A's entry,
collection and item ids in the path) and never receives any of it, nor a server error."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from semcached.service.app import create_app
from semcached.service.auth import hash_api_key
from tests.servicekit import Service, chat, service_settings
from tests.upstream import serving

pytestmark = [pytest.mark.model, pytest.mark.redis]

KEY_A, KEY_B = "sk-walk-tenant-a", "sk-walk-tenant-b"
SECRET_QUESTION = "What is the vault combination for tenant A?"
SECRET_ANSWER = "SECRET-ANSWER-OF-TENANT-A"
SECRET_DOC = "SECRET-DOCUMENT-OF-TENANT-A about the vault"


def _body(path: str, namespace: str | None) -> Any:
    ns = {} if namespace is None else {"namespace": namespace}
    bodies: dict[str, Any] = {
        "/v1/cache/lookup": {"request": chat(SECRET_QUESTION), **ns},
        "/v1/cache/store": {"request": chat(SECRET_QUESTION), "response": {"x": "b"}, **ns},
        "/v1/cache/feedback": {"entry_id": "{entry}", "correct": False, **ns},
        "/v1/search": {"query": "vault combination", "collection": "docs-a", **ns},
        "/v1/chat/completions": chat(SECRET_QUESTION),
        "/v1/completions": {"model": "test-model", "prompt": SECRET_QUESTION},
        "/v1/embeddings": {"model": "e", "input": SECRET_QUESTION},
        "/v1/messages": {
            "model": "test-model",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": SECRET_QUESTION}],
        },
        "/v1/responses": {"model": "test-model", "input": SECRET_QUESTION, "store": False},
    }
    if path.endswith("/items") or "/items/" in path:
        return (
            {"items": [{"id": "doc-1", "text": "B's own"}]}
            if path.endswith("/items")
            else {"text": "B's own"}
        )
    return bodies.get(path, {})


def test_tenant_b_never_reads_tenant_a(service: Service) -> None:
    keys = {hash_api_key(KEY_A): "tenant-a", hash_api_key(KEY_B): "tenant-b"}
    settings = service_settings(service.settings.upstream_url, api_keys=keys)
    with serving(create_app(settings)) as server:
        a = httpx.Client(base_url=server.url, headers={"X-Semcached-Key": KEY_A}, timeout=60)
        b = httpx.Client(base_url=server.url, headers={"X-Semcached-Key": KEY_B}, timeout=60)
        stored = a.post(
            "/v1/cache/store",
            json={"request": chat(SECRET_QUESTION), "response": {"answer": SECRET_ANSWER}},
        )
        assert stored.status_code == 200, stored.text
        entry = stored.json()["entry_id"]
        put = a.post(
            "/v1/knowledge/docs-a/items", json={"items": [{"id": "doc-1", "text": SECRET_DOC}]}
        )
        assert put.status_code == 200, put.text
        assert (
            SECRET_ANSWER
            in a.post("/v1/cache/lookup", json={"request": chat(SECRET_QUESTION)}).text
        )
        schema = a.get("/openapi.json").json()
        walked = 0
        for template, operations in schema["paths"].items():
            path = re.sub(r"\{entry_id\}", entry, template)
            path = path.replace("{collection}", "docs-a").replace("{item_id}", "doc-1")
            for method in operations:
                for namespace in (None, "tenant-a"):
                    params = {} if namespace is None else {"namespace": namespace}
                    headers = {} if namespace is None else {"X-Semcached-Namespace": namespace}
                    body = _body(template, namespace)
                    if isinstance(body, dict) and body.get("entry_id") == "{entry}":
                        body = {**body, "entry_id": entry}
                    reply = b.request(
                        method.upper(), path, params=params, headers=headers,
                        json=body if method in ("post", "put", "patch") else None,
                    )  # fmt: skip
                    walked += 1
                    where = f"{method.upper()} {path} namespace={namespace}"
                    assert reply.status_code < 500 or reply.status_code in (502, 503), where
                    for secret in (SECRET_ANSWER, SECRET_DOC):
                        assert secret not in reply.text, f"{where} leaked: {reply.text[:300]}"
        # A's data is still there and still A's (nothing B did removed or changed it)
        assert (
            SECRET_ANSWER
            in a.post("/v1/cache/lookup", json={"request": chat(SECRET_QUESTION)}).text
        )
        assert a.get("/v1/knowledge/docs-a/items/doc-1").json()["text"] == SECRET_DOC
        a.delete("/v1/cache")
        a.delete("/v1/knowledge/docs-a")
        b.delete("/v1/cache")
        a.close()
        b.close()
    assert walked >= 2 * len(schema["paths"])
