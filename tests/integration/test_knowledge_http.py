"""The knowledge routes through the real app (create_app), in-process over httpx ASGI."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from semcached import KnowledgeBase, SemanticCache, Settings
from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.index import ChromaBackend, MemoryExactStore
from semcached.index.knowledge import ChromaKnowledgeStore
from semcached.service.app import create_app
from semcached.service.auth import KEY_HEADER, hash_api_key

pytestmark = [pytest.mark.model]

SAMPLE = Path(__file__).resolve().parents[2] / "semcached" / "data" / "knowledge_sample.jsonl"
KEY_A = "key-for-tenant-a"


class Api:
    """A synchronous face on an ASGI app (one event loop per call keeps tests simple)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(go())


@pytest.fixture(scope="module")
def parts(
    st_embedder: SentenceTransformerEmbedder, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SemanticCache, KnowledgeBase]:
    folder = tmp_path_factory.mktemp("kb-http")
    backend = ChromaBackend(path=folder / "chroma")
    embedder = CachedEmbedder(st_embedder)
    cache = SemanticCache(embedder=embedder, exact_store=MemoryExactStore(), vector_backend=backend)
    kb = KnowledgeBase(
        embedder=embedder,
        store=ChromaKnowledgeStore(path=folder / "chroma"),
        lexical_dir=folder / "lexical",
        refresh_s=0,
    )
    return cache, kb


@pytest.fixture(scope="module")
def api(parts: tuple[SemanticCache, KnowledgeBase]) -> Api:
    """An open service (no API keys) with the sample corpus in collection "sample"."""
    cache, kb = parts
    app = create_app(Settings(api_keys={}), cache=cache, knowledge=kb)
    client = Api(app)
    items = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    reply = client.call("POST", "/v1/knowledge/sample/items", json={"items": items})
    assert reply.status_code == 200, reply.text
    assert reply.json()["written"] == len(items)
    return client


@pytest.fixture(scope="module")
def keyed(parts: tuple[SemanticCache, KnowledgeBase]) -> Api:
    """The same stores behind a service whose only key is bound to namespace tenant-a."""
    cache, kb = parts
    settings = Settings(api_keys={hash_api_key(KEY_A): "tenant-a"})
    return Api(create_app(settings, cache=cache, knowledge=kb))


def test_search_returns_items_with_chunks_scores_and_metadata(api: Api) -> None:
    reply = api.call(
        "POST",
        "/v1/search",
        json={"query": "how can I change my password", "k": 3, "collection": "sample"},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["mode"] == "hybrid" and body["namespace"] == "default"
    top = body["hits"][0]
    assert top["id"] == "acct-reset-password"
    assert top["metadata"]["topic"] == "account"
    assert 0 < top["score"] <= 1 and top["similarity"] > 0.3 and top["lexical_score"] > 0
    assert "Reset password" in top["chunks"][0]["text"]


def test_search_filters_and_modes(api: Api) -> None:
    body = {
        "query": "sign-in security",
        "k": 5,
        "mode": "dense",
        "collection": "sample",
        "where": {"year": {"$gte": 2024}},
        "where_document": {"$contains": "Settings"},
        "min_score": 0.1,
    }
    reply = api.call("POST", "/v1/search", json=body)
    assert reply.status_code == 200, reply.text
    hits = reply.json()["hits"]
    assert [h["id"] for h in hits] == ["acct-reset-password"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 1000}, "k"),
        ({"query": "x", "mode": "semantic"}, "mode"),
        ({"query": "x", "where": {"year": {"$gtx": 2020}}}, "where.year.$gtx"),
        ({"query": "x", "where": {"$nor": [{"a": 1}, {"b": 1}]}}, "where.$nor"),
        ({"query": "x", "where_document": {"$like": "x"}}, "where_document.$like"),
        ({"query": "x", "limit": 3}, "limit"),
        ({"query": "x", "collection": "bad/name"}, "collection"),
    ],
)
def test_bad_search_input_is_a_4xx_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    body.setdefault("collection", "sample")
    reply = api.call("POST", "/v1/search", json=body)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["field"] == field
    assert error["type"] == "invalid_request"
    assert error["message"] and error["fix"]


def test_unknown_collection_is_a_404(api: Api) -> None:
    reply = api.call("POST", "/v1/search", json={"query": "x", "collection": "nothing-here"})
    assert reply.status_code == 404
    assert reply.json()["error"]["field"] == "collection"


def test_item_round_trip(api: Api) -> None:
    put = api.call(
        "PUT",
        "/v1/knowledge/notes/items/docs/intro.md",
        json={"text": "Kubernetes schedules pods onto nodes.", "metadata": {"kind": "note"}},
    )
    assert put.status_code == 200, put.text
    assert put.json()["written"] == 1
    got = api.call("GET", "/v1/knowledge/notes/items/docs/intro.md")
    assert got.status_code == 200
    assert got.json()["text"] == "Kubernetes schedules pods onto nodes."
    assert got.json()["metadata"] == {"kind": "note"}
    listed = api.call("GET", "/v1/knowledge/notes/items", params={"limit": 10}).json()
    assert [item["id"] for item in listed["items"]] == ["docs/intro.md"]
    collections = api.call("GET", "/v1/knowledge/collections").json()
    names = {c["name"]: c for c in collections["collections"]}
    assert names["notes"]["items"] == 1 and names["sample"]["items"] == 31

    found = api.call("POST", "/v1/search", json={"query": "pods", "collection": "notes"})
    assert found.json()["hits"][0]["id"] == "docs/intro.md"
    deleted = api.call("DELETE", "/v1/knowledge/notes/items/docs/intro.md")
    assert deleted.json()["deleted"] is True
    assert api.call("GET", "/v1/knowledge/notes/items/docs/intro.md").status_code == 404
    assert api.call("DELETE", "/v1/knowledge/notes/items/docs/intro.md").status_code == 404
    assert api.call("DELETE", "/v1/knowledge/notes").status_code == 200
    assert api.call("DELETE", "/v1/knowledge/notes").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [{"id": "a"}]}, "items.0.text"),
        (
            {"items": [{"id": "a", "text": "x", "metadata": {"tags": ["a"]}}]},
            "items.0.metadata.tags",
        ),
        (
            {"items": [{"id": "a", "text": "x", "metadata": {"_kb_item": "b"}}]},
            "items.0.metadata._kb_item",
        ),
    ],
)
def test_bad_items_are_a_4xx_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    reply = api.call("POST", "/v1/knowledge/bad/items", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == field


def test_keys_bind_knowledge_to_their_namespace(keyed: Api) -> None:
    headers = {KEY_HEADER: KEY_A}
    put = keyed.call(
        "PUT",
        "/v1/knowledge/private/items/p1",
        json={"text": "Tenant A's roadmap."},
        headers=headers,
    )
    assert put.status_code == 200 and put.json()["namespace"] == "tenant-a"
    mine = keyed.call(
        "POST", "/v1/search", json={"query": "roadmap", "collection": "private"}, headers=headers
    )
    assert mine.json()["hits"][0]["id"] == "p1"
    other = keyed.call(
        "POST",
        "/v1/search",
        json={"query": "roadmap", "collection": "private", "namespace": "tenant-b"},
        headers=headers,
    )
    assert other.status_code == 403
    assert other.json()["error"]["field"] == "namespace"
    by_header = keyed.call(
        "POST",
        "/v1/search",
        json={"query": "roadmap", "collection": "private"},
        headers={**headers, "X-Semcached-Namespace": "tenant-b"},
    )
    assert by_header.status_code == 403
    foreign = keyed.call(
        "GET", "/v1/knowledge/collections", params={"namespace": "default"}, headers=headers
    )
    assert foreign.status_code == 403
    anonymous = keyed.call("POST", "/v1/search", json={"query": "roadmap", "collection": "private"})
    assert anonymous.status_code == 401


def test_create_app_builds_its_own_knowledge_base(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """Without an injected one, the app builds a KnowledgeBase from Settings and the cache's
    model, on the configured ChromaDB."""
    settings = Settings(api_keys={}, data_dir=tmp_path / "data")
    backend = ChromaBackend(path=tmp_path / "data" / "chroma")
    cache = SemanticCache(
        embedder=st_embedder, exact_store=MemoryExactStore(), vector_backend=backend
    )
    app = create_app(settings, cache=cache)
    assert isinstance(app.state.knowledge, KnowledgeBase)
    assert app.state.knowledge.embedder is st_embedder
    client = Api(app)
    put = client.call("PUT", "/v1/knowledge/default/items/x", json={"text": "Owls hunt at night."})
    assert put.status_code == 200, put.text
    found = client.call("POST", "/v1/search", json={"query": "nocturnal birds", "k": 1})
    assert found.json()["hits"][0]["id"] == "x"
    reopened = KnowledgeBase(
        embedder=st_embedder, store=ChromaKnowledgeStore(path=tmp_path / "data" / "chroma")
    )
    stored = reopened.get("x")
    assert stored is not None and stored.text == "Owls hunt at night."


def test_a_huge_metadata_map_is_refused_up_front_and_the_collection_keeps_working(
    api: Api,
) -> None:
    """6,000 metadata keys (88 KB) once broke a ChromaDB collection for good: now a 413 names
    the field before anything is written (no Retry-After: retrying cannot help), and every
    later write, listing and search on that collection works."""
    huge = {f"field_{n:05d}": f"value {n}" for n in range(6000)}
    assert len(json.dumps(huge)) > 88_000
    body = {
        "items": [
            {"id": "fine", "text": "Ferries leave the harbour at dawn."},
            {"id": "bad", "text": "Too much metadata.", "metadata": huge},
        ]
    }
    reply = api.call("POST", "/v1/knowledge/harbour/items", json=body)
    assert reply.status_code == 413, reply.text
    error = reply.json()["error"]
    assert (error["type"], error["field"]) == ("payload_too_large", "items.1.metadata")
    assert "6000" in error["message"] and error["fix"]
    assert "retry-after" not in reply.headers
    assert api.call("GET", "/v1/knowledge/harbour/items").status_code == 404  # nothing written

    ok = api.call("POST", "/v1/knowledge/harbour/items", json={"items": body["items"][:1]})
    assert ok.status_code == 200, ok.text
    again = api.call("POST", "/v1/knowledge/harbour/items", json=body)
    assert again.status_code == 413
    found = api.call("POST", "/v1/search", json={"query": "ferry at dawn", "collection": "harbour"})
    assert found.status_code == 200 and found.json()["hits"][0]["id"] == "fine"
    listed = api.call("GET", "/v1/knowledge/harbour/items").json()["items"]
    assert [item["id"] for item in listed] == ["fine"]
    assert api.call("DELETE", "/v1/knowledge/harbour").status_code == 200


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"$and": "x"}, "items.0.metadata.$and"),
        ({"$gt": 1}, "items.0.metadata.$gt"),
        ({"#document": "x"}, "items.0.metadata.#document"),
    ],
)
def test_reserved_metadata_keys_are_a_422_not_a_503(
    api: Api, metadata: dict[str, Any], field: str
) -> None:
    """Keys ChromaDB would refuse deep inside a write are refused up front as the client's
    mistake (a 422 naming the key), never as a backend outage with Retry-After."""
    body = {"items": [{"id": "a", "text": "x", "metadata": metadata}]}
    reply = api.call("POST", "/v1/knowledge/reserved/items", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["field"] == field
    assert "retry-after" not in reply.headers


def test_quotas_are_a_429_naming_the_quota(
    st_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    """A namespace over its quota of collections or items gets a 429 that says which quota
    and how to raise it; other namespaces are unaffected."""
    settings = Settings(
        api_keys={},
        data_dir=tmp_path,
        knowledge={"max_collections_per_namespace": 1, "max_items_per_namespace": 2},
    )
    cache = SemanticCache(
        embedder=st_embedder,
        exact_store=MemoryExactStore(),
        vector_backend=ChromaBackend(path=tmp_path / "chroma"),
    )
    client = Api(create_app(settings, cache=cache))
    items = {"items": [{"id": "a", "text": "Gulls."}, {"id": "b", "text": "Terns."}]}
    assert client.call("POST", "/v1/knowledge/one/items", json=items).status_code == 200
    second = client.call("POST", "/v1/knowledge/two/items", json=items)
    assert second.status_code == 429, second.text
    error = second.json()["error"]
    assert (error["type"], error["field"]) == ("quota_exceeded", "collection")
    assert "MAX_COLLECTIONS_PER_NAMESPACE" in error["message"]
    more = client.call("PUT", "/v1/knowledge/one/items/c", json={"text": "Puffins."})
    assert more.status_code == 429 and more.json()["error"]["field"] == "items"
    other = client.call(
        "POST", "/v1/knowledge/two/items", json=items, headers={"X-Semcached-Namespace": "b"}
    )
    assert other.status_code == 200, other.text
