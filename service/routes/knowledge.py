"""Knowledge search over HTTP: ``POST /v1/search`` and the ``/v1/knowledge`` item endpoints.

* ``POST /v1/search``: ``{"query", "k", "mode", "collection", "where", "where_document",
  "min_score", "chunks_per_item", "namespace"}`` -> hits, best first, each with its item id,
  score, metadata and best chunks.
* ``GET /v1/knowledge/collections``: the caller's collections and their sizes.
* ``POST /v1/knowledge/{collection}/items``: upsert a batch ``{"items": [{"id", "text",
  "metadata"}]}``; ``PUT .../items/{id}`` one item; ``GET``/``DELETE .../items/{id}``;
  ``GET .../items`` a page of ids; ``DELETE /v1/knowledge/{collection}`` the whole collection.

The namespace is the API key's own (``?namespace=`` / ``X-Semcached-Namespace`` / the body's
``namespace`` may name it; another one is a 403). Bad input is a 422 whose ``field`` names
the culprit (``query``, ``k``, ``where.year.$gtx``). The knowledge base is
``request.app.state.knowledge``; its blocking work runs in worker threads.

Limits are checked before anything is written: an item over a size limit (too many metadata
keys, too long a value or text) is a 413 naming the field (``items.3.metadata``), a quota of
the namespace spent (collections, items, bytes) a 429, a malformed item a 422; never a 503,
which clients would retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from semcached.embeddings.base import Embedder
from semcached.errors import CollectionNotFoundError, LimitExceededError, QuotaExceededError
from semcached.index.knowledge.base import KnowledgeBase
from semcached.index.knowledge.search import MAX_CHUNKS_PER_ITEM, MAX_K, MAX_QUERY_CHARS
from semcached.index.knowledge.store import check_collection_name
from semcached.service.auth import Caller, caller_namespace, get_caller
from semcached.service.errors import ApiError
from semcached.settings import Settings

__all__ = ["ItemBody", "SearchBody", "UpsertBody", "build_knowledge", "build_router"]

T = TypeVar("T")
MAX_ITEMS_PER_REQUEST = 1000
_COLLECTION_PATH = Path(
    description="Knowledge collection: 1-63 of [A-Za-z0-9._-].", examples=["default"]
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchBody(_Strict):
    """A search: what to find, how many, how, and where."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, examples=["reset my password"])
    k: int = Field(default=10, ge=1, le=MAX_K, description="How many items to return.")
    mode: Literal["dense", "lexical", "hybrid"] = Field(
        default="hybrid", description="dense (meaning), lexical (BM25 words) or hybrid (both)."
    )
    collection: str = Field(default="default", min_length=1, max_length=63)
    namespace: str | None = Field(
        default=None, min_length=1, max_length=256, description="Defaults to the key's own."
    )
    where: dict[str, Any] | None = Field(
        default=None,
        description="Metadata filter (ChromaDB syntax).",
        examples=[{"year": {"$gte": 2020}}],
    )
    where_document: dict[str, Any] | None = Field(
        default=None,
        description="Chunk text filter: $contains, $not_contains, $regex, $not_regex, $and, $or.",
        examples=[{"$contains": "password"}],
    )
    min_score: float | None = Field(
        default=None, description="Drop hits below this score (on the mode's scale)."
    )
    chunks_per_item: int = Field(default=1, ge=1, le=MAX_CHUNKS_PER_ITEM)


class ItemBody(_Strict):
    """One item to store."""

    id: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


class UpsertBody(_Strict):
    """A batch of items to insert or replace."""

    items: list[ItemBody] = Field(min_length=1, max_length=MAX_ITEMS_PER_REQUEST)


class ItemTextBody(_Strict):
    """One item's text and metadata (its id is in the path)."""

    text: str = Field(min_length=1)
    metadata: dict[str, str | int | float | bool] = Field(default_factory=dict)


def build_knowledge(settings: Settings, *, embedder: Embedder) -> KnowledgeBase:
    """The service's knowledge base: the configured ChromaDB, sharing the cache's model."""
    return KnowledgeBase(settings, embedder=embedder)


def _kb(request: Request) -> KnowledgeBase:
    kb = getattr(request.app.state, "knowledge", None)
    if not isinstance(kb, KnowledgeBase):
        raise ApiError(
            503,
            "knowledge_unavailable",
            "knowledge search is not configured on this service",
            fix="build the app with create_app(), which sets app.state.knowledge",
        )
    return kb


async def _run(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``fn`` in a worker thread; a missing collection becomes a 404, an input over a limit a
    413, a spent quota a 429 (other invalid input stays a 422)."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except CollectionNotFoundError as exc:
        raise ApiError(
            404,
            "not_found",
            str(exc),
            field="collection",
            fix="GET /v1/knowledge/collections lists the existing ones; ingest items first",
        ) from exc
    except LimitExceededError as exc:
        raise ApiError(
            413,
            "payload_too_large",
            str(exc),
            field=exc.field,
            fix=f"make `{exc.field}` smaller (limit {exc.limit}); nothing was written",
        ) from exc
    except QuotaExceededError as exc:
        raise ApiError(
            429,
            "quota_exceeded",
            str(exc),
            field=exc.field,
            fix=f"free space in this namespace or raise its quota ({exc.quota}); nothing of "
            "this batch was written",
        ) from exc


def _collection(name: str) -> str:
    return check_collection_name(name)


def build_router() -> APIRouter:
    """The knowledge routes, for ``app.include_router``."""
    router = APIRouter(tags=["knowledge"])

    @router.post("/v1/search", summary="Search a knowledge collection")
    async def search(
        body: SearchBody,
        request: Request,
        caller: Annotated[Caller, Depends(get_caller)],
        requested: Annotated[str, Depends(caller_namespace)],
    ) -> dict[str, Any]:
        kb = _kb(request)
        # The body's namespace wins over ?namespace= and the header; both are checked.
        namespace = caller.resolve(body.namespace) if body.namespace else requested
        collection = check_collection_name(body.collection)
        result = await _run(
            kb.search,
            body.query,
            k=body.k,
            mode=body.mode,
            collection=collection,
            namespace=namespace,
            where=body.where,
            where_document=body.where_document,
            min_score=body.min_score,
            chunks_per_item=body.chunks_per_item,
        )
        return result.to_dict()

    @router.get("/v1/knowledge/collections", summary="List the caller's knowledge collections")
    async def collections(
        request: Request, namespace: Annotated[str, Depends(caller_namespace)]
    ) -> dict[str, Any]:
        kb = _kb(request)
        infos = await _run(kb.list_collections, namespace)
        return {"namespace": namespace, "collections": [info.to_dict() for info in infos]}

    @router.post("/v1/knowledge/{collection}/items", summary="Insert or replace items")
    async def upsert_items(
        body: UpsertBody,
        request: Request,
        collection: Annotated[str, _COLLECTION_PATH],
        namespace: Annotated[str, Depends(caller_namespace)],
    ) -> dict[str, Any]:
        kb = _kb(request)
        name = _collection(collection)
        items = [item.model_dump() for item in body.items]
        report = await _run(kb.upsert, items, collection=name, namespace=namespace)
        return {"namespace": namespace, "collection": name, **report.to_dict()}

    @router.get("/v1/knowledge/{collection}/items", summary="A page of stored items")
    async def list_items(
        request: Request,
        collection: Annotated[str, _COLLECTION_PATH],
        namespace: Annotated[str, Depends(caller_namespace)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        kb = _kb(request)
        name = _collection(collection)
        items = await _run(
            kb.list_items, collection=name, namespace=namespace, limit=limit, offset=offset
        )
        return {
            "namespace": namespace,
            "collection": name,
            "items": [{k: v for k, v in item.to_dict().items() if k != "text"} for item in items],
        }

    @router.put("/v1/knowledge/{collection}/items/{item_id:path}", summary="Put one item")
    async def put_item(
        body: ItemTextBody,
        request: Request,
        collection: Annotated[str, _COLLECTION_PATH],
        item_id: Annotated[str, Path(min_length=1, max_length=512)],
        namespace: Annotated[str, Depends(caller_namespace)],
    ) -> dict[str, Any]:
        kb = _kb(request)
        name = _collection(collection)
        item = {"id": item_id, "text": body.text, "metadata": body.metadata}
        report = await _run(kb.upsert, [item], collection=name, namespace=namespace)
        return {"namespace": namespace, "collection": name, **report.to_dict()}

    @router.get("/v1/knowledge/{collection}/items/{item_id:path}", summary="Get one item")
    async def get_item(
        request: Request,
        collection: Annotated[str, _COLLECTION_PATH],
        item_id: Annotated[str, Path(min_length=1, max_length=512)],
        namespace: Annotated[str, Depends(caller_namespace)],
    ) -> dict[str, Any]:
        kb = _kb(request)
        name = _collection(collection)
        item = await _run(kb.get, item_id, collection=name, namespace=namespace)
        if item is None:
            raise _not_found(item_id, name, namespace)
        return {"namespace": namespace, "collection": name, **item.to_dict()}

    @router.delete("/v1/knowledge/{collection}/items/{item_id:path}", summary="Delete one item")
    async def delete_item(
        request: Request,
        collection: Annotated[str, _COLLECTION_PATH],
        item_id: Annotated[str, Path(min_length=1, max_length=512)],
        namespace: Annotated[str, Depends(caller_namespace)],
    ) -> dict[str, Any]:
        kb = _kb(request)
        name = _collection(collection)
        deleted = await _run(kb.delete, [item_id], collection=name, namespace=namespace)
        if not deleted:
            raise _not_found(item_id, name, namespace)
        return {"namespace": namespace, "collection": name, "id": item_id, "deleted": True}

    @router.delete("/v1/knowledge/{collection}", summary="Delete a whole collection")
    async def drop_collection(
        request: Request,
        collection: Annotated[str, _COLLECTION_PATH],
        namespace: Annotated[str, Depends(caller_namespace)],
    ) -> dict[str, Any]:
        kb = _kb(request)
        name = _collection(collection)
        existed = await _run(kb.drop_collection, name, namespace)
        if not existed:
            raise ApiError(
                404,
                "not_found",
                f"namespace {namespace!r} has no knowledge collection {name!r}",
                field="collection",
                fix="GET /v1/knowledge/collections lists the existing ones",
            )
        return {"namespace": namespace, "collection": name, "deleted": True}

    return router


def _not_found(item_id: str, collection: str, namespace: str) -> ApiError:
    return ApiError(
        404,
        "not_found",
        f"no item {item_id!r} in collection {collection!r} of namespace {namespace!r}",
        field="id",
        fix="check the id; GET /v1/knowledge/{collection}/items lists the stored ones",
    )
