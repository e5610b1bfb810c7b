"""The cache API, health, readiness, metrics, and every bad-input case, on a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.engine.cache import SemanticCache
from semcached.index import ChromaBackend, RedisExactStore
from semcached.service.app import create_app
from tests.recording import WrappedEmbedder
from tests.servers import free_port
from tests.servicekit import MAX_BODY_BYTES, MAX_PROMPT_CHARS, Service, chat, service_settings
from tests.upstream import serving

pytestmark = [pytest.mark.model, pytest.mark.redis]

PASSWORD = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
ANSWER = {
    "choices": [{"message": {"content": "Use the reset link."}}],
    "usage": {"total_tokens": 9},
}


@pytest.fixture
def http(service: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url) as client:
        yield client


def test_lookup_store_exact_semantic_delete(http: httpx.Client, ns: str) -> None:
    """Store an answer, find it exactly and by meaning, then delete it."""
    miss = http.post("/v1/cache/lookup", json={"request": chat(PASSWORD), "namespace": ns})
    assert miss.status_code == 200
    assert miss.json()["hit"] is False
    assert miss.json()["reason"] == "no_candidates"

    stored = http.post(
        "/v1/cache/store", json={"request": chat(PASSWORD), "response": ANSWER, "namespace": ns}
    ).json()
    assert stored["stored"] is True
    assert stored["namespace"] == ns
    entry = stored["entry_id"]

    exact = http.post("/v1/cache/lookup", json={"request": chat(PASSWORD), "namespace": ns}).json()
    assert (exact["hit"], exact["kind"], exact["entry_id"]) == (True, "exact", entry)
    assert exact["response"] == ANSWER

    semantic = http.post(
        "/v1/cache/lookup", json={"request": chat(PARAPHRASE), "namespace": ns}
    ).json()
    assert (semantic["hit"], semantic["kind"], semantic["entry_id"]) == (True, "semantic", entry)
    assert semantic["similarity"] >= 0.95
    assert semantic["explanation"].startswith("semantic hit")

    strict = http.post(
        "/v1/cache/lookup",
        json={"request": chat(PARAPHRASE), "namespace": ns, "threshold": 0.999},
    ).json()
    assert strict["hit"] is False
    assert strict["reason"] == "below_threshold"

    deleted = http.delete(f"/v1/cache/entries/{entry}", params={"namespace": ns})
    assert deleted.json() == {"namespace": ns, "entry_id": entry, "deleted": True}
    again = http.post("/v1/cache/lookup", json={"request": chat(PARAPHRASE), "namespace": ns})
    assert again.json()["hit"] is False


def test_invalidate_forgets_the_namespace_only(http: httpx.Client, ns: str) -> None:
    for namespace in (ns, ns + "-keep"):
        http.post(
            "/v1/cache/store",
            json={"request": chat(PASSWORD), "response": ANSWER, "namespace": namespace},
        )
    assert http.delete("/v1/cache", params={"namespace": ns}).json()["deleted"] is True
    gone = http.post("/v1/cache/lookup", json={"request": chat(PASSWORD), "namespace": ns})
    kept = http.post(
        "/v1/cache/lookup", json={"request": chat(PASSWORD), "namespace": ns + "-keep"}
    )
    assert gone.json()["hit"] is False
    assert kept.json()["hit"] is True


def test_feedback_wrong_stops_serving_and_is_counted(http: httpx.Client, ns: str) -> None:
    http.post(
        "/v1/cache/store", json={"request": chat(PASSWORD), "response": ANSWER, "namespace": ns}
    )
    hit = http.post("/v1/cache/lookup", json={"request": chat(PARAPHRASE), "namespace": ns}).json()
    assert hit["hit"] is True
    before = _metric(http, "semcached_false_hit_reports_total")
    reply = http.post(
        "/v1/cache/feedback", json={"entry_id": hit["entry_id"], "correct": False, "namespace": ns}
    )
    assert reply.json()["removed"] is True
    assert _metric(http, "semcached_false_hit_reports_total") == before + 1
    after = http.post("/v1/cache/lookup", json={"request": chat(PARAPHRASE), "namespace": ns})
    assert after.json()["hit"] is False
    fine = http.post(
        "/v1/cache/feedback", json={"entry_id": hit["entry_id"], "correct": True, "namespace": ns}
    )
    assert fine.json()["removed"] is False


def _metric(http: httpx.Client, name: str) -> float:
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def test_health_ready_stats_openapi(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert set(ready.json()["backends"]) == {"exact_store", "vector_index", "embedder"}
    stats = http.get("/v1/stats").json()
    assert {"counters", "hit_rate", "stages_ms", "tokens_saved"} <= set(stats)
    paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/v1/cache/lookup",
        "/v1/cache/store",
        "/v1/cache/entries/{entry_id}",
        "/v1/cache",
        "/v1/cache/feedback",
        "/v1/chat/completions",
        "/readyz",
        "/metrics",
        "/v1/stats",
    ):
        assert path in paths


def test_backend_down_readyz_names_it_and_the_proxy_fails_open(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Any, service: Service, ns: str
) -> None:
    """Redis unreachable: /readyz stays 200 but says `degraded` and names exact_store (every
    request is still answered: a load balancer must not drop the replica); the proxy answers;
    the backend gauge says which is down. Strict readiness answers 503 instead."""
    dead_redis = RedisExactStore(f"redis://127.0.0.1:{free_port()}/0", timeout_s=0.2)
    cache = SemanticCache(
        embedder=CachedEmbedder(st_embedder),
        exact_store=dead_redis,
        vector_backend=ChromaBackend(path=tmp_path / "chroma"),
    )
    upstream_url = service.settings.upstream_url
    with serving(create_app(service_settings(upstream_url), cache=cache)) as server:
        ready = httpx.get(f"{server.url}/readyz")
        answer = httpx.post(
            f"{server.url}/v1/chat/completions",
            json=chat(PASSWORD),
            headers={"X-Semcached-Namespace": ns},
        )
        delete = httpx.delete(f"{server.url}/v1/cache", params={"namespace": ns})
        metrics = httpx.get(f"{server.url}/metrics").text
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "degraded"
    assert body["backends"]["exact_store"]["ok"] is False
    assert body["backends"]["vector_index"]["ok"] is True
    assert "exact_store" in body["error"]["message"]
    assert 'semcached_backend_up{backend="exact_store"} 0.0' in metrics
    assert 'semcached_backend_up{backend="vector_index"} 1.0' in metrics
    assert answer.status_code == 200
    assert "answer #" in answer.json()["choices"][0]["message"]["content"]
    assert delete.status_code == 503
    assert delete.json()["error"]["type"] == "backend_unavailable"
    strict = service_settings(upstream_url)
    strict = strict.model_copy(
        update={"service": strict.service.model_copy(update={"strict_readiness": True})}
    )
    with serving(create_app(strict, cache=cache)) as server:
        ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
    cache.close()


LONG = "x" * (MAX_PROMPT_CHARS + 1)
GOOD = chat(PASSWORD)

# (method, path, json body | raw bytes, extra headers, status, error field)
BAD_INPUTS: list[tuple[str, str, Any, dict[str, str], int, str | None]] = [
    ("POST", "/v1/cache/lookup", b"{not json", {}, 400, None),
    ("POST", "/v1/cache/lookup", [1, 2], {}, 422, None),
    ("POST", "/v1/cache/lookup", {}, {}, 422, "request"),
    ("POST", "/v1/cache/lookup", {"request": "hi"}, {}, 422, "request"),
    ("POST", "/v1/cache/lookup", {"request": {"messages": []}}, {}, 422, "request.model"),
    ("POST", "/v1/cache/lookup", {"request": {"model": "m"}}, {}, 422, "request.messages"),
    (
        "POST",
        "/v1/cache/lookup",
        {"request": {"model": "m", "messages": []}},
        {},
        422,
        "request.messages",
    ),
    (
        "POST",
        "/v1/cache/lookup",
        {"request": {"model": "m", "messages": "hi"}},
        {},
        422,
        "request.messages",
    ),
    ("POST", "/v1/cache/lookup", {"request": chat("")}, {}, 422, "request.messages.0.content"),
    ("POST", "/v1/cache/lookup", {"request": chat("   ")}, {}, 422, "request.messages.0.content"),
    ("POST", "/v1/cache/lookup", {"request": chat(LONG)}, {}, 422, "request.messages"),
    ("POST", "/v1/cache/lookup", {"request": GOOD, "threshold": 1.5}, {}, 422, "threshold"),
    ("POST", "/v1/cache/lookup", {"request": GOOD, "threshold": -0.1}, {}, 422, "threshold"),
    ("POST", "/v1/cache/lookup", {"request": GOOD, "threshold": "high"}, {}, 422, "threshold"),
    ("POST", "/v1/cache/lookup", {"request": GOOD, "threshhold": 0.9}, {}, 422, "threshhold"),
    ("POST", "/v1/cache/lookup", {"request": GOOD, "namespace": ""}, {}, 422, "namespace"),
    (
        "POST",
        "/v1/cache/lookup",
        {"request": chat(PASSWORD, temperature="hot")},
        {},
        422,
        "request.temperature",
    ),
    ("POST", "/v1/cache/store", {"request": GOOD}, {}, 422, "response"),
    ("POST", "/v1/cache/store", {"request": GOOD, "response": None}, {}, 422, "response"),
    ("POST", "/v1/cache/store", {"request": GOOD, "response": {}, "ttl_s": -1}, {}, 422, "ttl_s"),
    ("POST", "/v1/cache/store", {"request": GOOD, "response": {}, "ttl_s": 1e12}, {}, 422, "ttl_s"),
    ("POST", "/v1/cache/feedback", {"entry_id": "nope", "correct": False}, {}, 422, "entry_id"),
    ("POST", "/v1/cache/feedback", {"entry_id": "0" * 32}, {}, 422, "correct"),
    ("DELETE", "/v1/cache/entries/not-an-id", None, {}, 422, "entry_id"),
    ("POST", "/v1/chat/completions", b"{", {}, 400, None),
    ("POST", "/v1/chat/completions", {"messages": GOOD["messages"]}, {}, 422, "model"),
    ("POST", "/v1/chat/completions", {"model": "m", "messages": []}, {}, 422, "messages"),
    ("POST", "/v1/chat/completions", {"model": "m", "messages": "hi"}, {}, 422, "messages"),
    ("POST", "/v1/chat/completions", {"model": "m", "messages": [{}]}, {}, 422, "messages.0.role"),
    ("POST", "/v1/chat/completions", chat(""), {}, 422, "messages.0.content"),
    ("POST", "/v1/chat/completions", chat(LONG), {}, 422, "messages"),
    ("POST", "/v1/chat/completions", chat(PASSWORD, temperature=5), {}, 422, "temperature"),
    ("POST", "/v1/chat/completions", chat(PASSWORD, temperature="hot"), {}, 422, "temperature"),
    ("POST", "/v1/chat/completions", chat(PASSWORD, n=0), {}, 422, "n"),
    ("POST", "/v1/chat/completions", chat(PASSWORD, stream="yes please"), {}, 422, "stream"),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": Infinity}',
        {},
        422,
        "seed",
    ),
    (
        "POST",
        "/v1/chat/completions",
        GOOD,
        {"X-Semcached-Threshold": "7"},
        422,
        "X-Semcached-Threshold",
    ),
    (
        "POST",
        "/v1/chat/completions",
        GOOD,
        {"X-Semcached-TTL": "-5"},
        422,
        "X-Semcached-TTL",
    ),
    (
        "POST",
        "/v1/chat/completions",
        GOOD,
        {"X-Semcached-Skip-Lookup": "maybe"},
        422,
        "X-Semcached-Skip-Lookup",
    ),
    ("POST", "/v1/chat/completions", b"x" * (MAX_BODY_BYTES + 1), {}, 413, None),
    ("GET", "/nowhere", None, {}, 404, None),
    ("GET", "/v1/cache/nowhere", None, {}, 404, "path"),  # ours: never relayed
    ("PUT", "/v1/cache/lookup", None, {}, 405, "method"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "field"),
    BAD_INPUTS,
    ids=[f"{i}-{case[1]}-{case[5]}" for i, case in enumerate(BAD_INPUTS)],
)
def test_bad_input_is_a_4xx_naming_the_field_and_the_fix(
    http: httpx.Client,
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str],
    status: int,
    field: str | None,
) -> None:
    kwargs: dict[str, Any] = {"headers": {"Content-Type": "application/json", **headers}}
    if isinstance(body, bytes):
        kwargs["content"] = body
    elif body is not None:
        kwargs["json"] = body
    reply = http.request(method, path, **kwargs)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    if path.startswith("/v1/chat/"):  # the provider's dialect: OpenAI's keys, ours kept
        assert set(error) == {"type", "message", "field", "fix", "param", "code"}
        assert error["param"] == field and error["code"] == error["type"]
        assert not error["fix"] or error["fix"] in error["message"]  # SDK users see the fix
    else:
        assert set(error) == {"type", "message", "field", "fix"}
    assert error["field"] == field
    assert error["message"]
    if status != 404 or field is not None:
        assert error["fix"]


def test_chunked_bodies_are_bounded_too(http: httpx.Client, ns: str) -> None:
    """A body without Content-Length is read within the limit: 413 beyond it, served below."""

    def chunks(total: int) -> Iterator[bytes]:
        yield b'{"request": {"model": "m", "messages": [{"role": "user", "content": "'
        yield b"x" * total
        yield b'"}]}, "namespace": "' + ns.encode() + b'"}'

    big = http.post("/v1/cache/lookup", content=chunks(MAX_BODY_BYTES + 10))
    assert big.status_code == 413
    assert big.json()["error"]["type"] == "payload_too_large"
    small = http.post(
        "/v1/cache/lookup", content=chunks(10), headers={"Content-Type": "application/json"}
    )
    assert small.status_code == 200
    assert small.json()["hit"] is False


def test_readyz_never_shows_upstream_credentials() -> None:
    from semcached.service.routes.ops import _without_credentials

    assert _without_credentials("https://user:pw@llm.example:8443/v1") == (
        "https://llm.example:8443/v1"
    )
    assert _without_credentials("https://api.openai.com/v1") == "https://api.openai.com/v1"
    assert _without_credentials(None) is None


class GatedEmbedder(WrappedEmbedder):
    """The real model, but each embed waits for the test to open the gate."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        super().__init__(inner)
        self.entered = threading.Event()
        self.gate = threading.Event()

    def embed(self, texts: Any) -> Any:
        self.entered.set()
        assert self.gate.wait(timeout=30)
        return self.inner.embed(texts)


def test_embedding_never_blocks_the_event_loop(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Any, memory_store: Any
) -> None:
    """While a lookup is stuck inside the embedder, the same server keeps answering."""
    embedder = GatedEmbedder(st_embedder)
    cache = SemanticCache(
        embedder=embedder,
        exact_store=memory_store,
        vector_backend=ChromaBackend(path=tmp_path / "chroma"),
    )
    with serving(create_app(service_settings(None), cache=cache)) as server:
        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(
            httpx.post, f"{server.url}/v1/cache/lookup", json={"request": chat(PASSWORD)}
        )
        assert embedder.entered.wait(timeout=30)
        health = httpx.get(f"{server.url}/healthz", timeout=10)
        stats = httpx.get(f"{server.url}/v1/stats", timeout=10)
        assert not pending.done()
        embedder.gate.set()
        assert pending.result(timeout=30).status_code == 200
        pool.shutdown()
    assert health.status_code == 200
    assert stats.status_code == 200


def test_an_unexpected_error_is_still_a_json_500(service: Service) -> None:
    """Never a bare 500: a bug in a route leaves as the JSON error shape."""
    from fastapi.testclient import TestClient

    app = create_app(service_settings(None), cache=service.cache)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        reply = client.get("/boom")
    assert reply.status_code == 500
    assert reply.json()["error"]["type"] == "internal_error"
    assert "RuntimeError" in reply.json()["error"]["message"]


def test_docs_are_served_without_the_internet(http: httpx.Client) -> None:
    """/docs loads Swagger UI from the package itself: no CDN (the sidecar may have no
    internet), and every asset the page names is served."""
    page = http.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "cdn." not in page.text and "jsdelivr" not in page.text
    import re

    assets = re.findall(r'(?:src|href)="(/docs-assets/[^"]+)"', page.text)
    assert len(assets) >= 2
    for asset in assets:
        assert http.get(asset).status_code == 200, asset
    assert http.get("/docs/oauth2-redirect").status_code == 200
