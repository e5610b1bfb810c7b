"""``POST /v1/embeddings``: OpenAI-compatible embeddings, cached exactly, per input.

An embedding is deterministic, so the cache is exact only (a reworded text is another
vector): each input of a request is keyed by its namespace, model, ``dimensions``,
``encoding_format`` and the input itself (text, or token ids). A batch is served per input: the
cached ones from the exact layer, and only the others from the upstream, in one call, then
reassembled in the caller's order. ``usage`` counts what the upstream was asked for (0 for a
request served wholly from the cache). ``X-Semcached-Cache`` is ``exact`` (every input cached),
``partial`` or ``miss``, and ``X-Semcached-Cached-Inputs`` says how many of how many.

The cache controls of the chat route apply (``Cache-Control``, LiteLLM's ``cache`` field, the
``X-Semcached-*`` headers; see :mod:`semcached.service.cache_controls`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Annotated, Any

import xxhash
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from semcached import jsonio
from semcached.engine.acache import AsyncSemanticCache
from semcached.errors import UpstreamError
from semcached.service.auth import NAMESPACE_HEADER, Caller, get_caller, namespace_header
from semcached.service.cache_controls import ControlHeaders, control_headers, read_controls
from semcached.service.errors import ApiError
from semcached.service.json_response import FastJSONResponse
from semcached.service.metrics import ServiceMetrics
from semcached.service.openapi_errors import documented_errors
from semcached.service.upstream import (
    CACHE_HEADER,
    forward_headers,
    post_json,
    upstream_response,
    upstream_url,
)

__all__ = ["EmbeddingsBody", "embedding_key", "router"]

log = logging.getLogger("semcached.proxy")
router = APIRouter(tags=["openai"])

CACHED_INPUTS_HEADER = "X-Semcached-Cached-Inputs"
MAX_INPUTS = 2048  # OpenAI's own bound on one request's inputs
Input = str | list[str] | list[int] | list[list[int]]


class EmbeddingsBody(BaseModel):
    """An OpenAI embeddings request; other parameters pass through to the upstream."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "text-embedding-3-small", "input": ["hi"]}]},
    )

    model: str = Field(min_length=1, max_length=256)
    input: Input
    encoding_format: str | None = Field(default=None, pattern=r"^(float|base64)$")
    dimensions: int | None = Field(default=None, ge=1, le=65_536)


def _items(value: Input) -> tuple[list[str | list[int]], bool]:
    """The inputs one by one, and whether the request sent a single one."""
    if isinstance(value, str):
        return [value], True
    if not value:
        raise ApiError(
            422, "invalid_request", "`input` is empty", field="input",
            fix="send a string or a non-empty list of strings or token arrays",
        )  # fmt: skip
    if all(isinstance(v, int) for v in value):
        return [list(value)], True  # type: ignore[arg-type]  # one token array
    items: list[str | list[int]] = list(value)  # type: ignore[arg-type]
    if len(items) > MAX_INPUTS:
        raise ApiError(
            422, "invalid_request", f"`input` has {len(items)} items; at most {MAX_INPUTS}",
            field="input", fix=f"split the request into batches of {MAX_INPUTS}",
        )  # fmt: skip
    for i, item in enumerate(items):
        if isinstance(item, str) and not item:
            raise ApiError(
                422, "invalid_request", f"`input.{i}` is an empty string", field=f"input.{i}",
                fix="leave empty strings out",
            )  # fmt: skip
    return items, False


def embedding_key(body: dict[str, Any], item: str | list[int]) -> str:
    """The exact key of one input: what changes its vector (model, dimensions, encoding) and
    the input itself; ``user`` and other metadata do not."""
    parts = {
        "kind": "embedding",
        "model": body["model"],
        "dimensions": body.get("dimensions"),
        "encoding_format": body.get("encoding_format") or "float",
        "input": item,
    }
    return "emb:" + xxhash.xxh3_128_hexdigest(jsonio.encode(parts))


@router.post(
    "/v1/embeddings",
    summary="OpenAI-compatible embeddings, cached exactly per input",
    response_model=None,
    responses=documented_errors(
        {
            200: {"description": "The embeddings, in the order of the inputs."},
            422: {"description": "The request is invalid; the body names the field."},
            502: {"description": "The upstream could not be reached."},
            503: {"description": "Some input is not cached, and no upstream is configured."},
        }
    ),
)
async def embeddings(
    body: EmbeddingsBody,
    request: Request,
    *,
    caller: Annotated[Caller, Depends(get_caller)],
    controls_sent: Annotated[ControlHeaders, Depends(control_headers)],
) -> Response:
    cache: AsyncSemanticCache = request.app.state.cache
    metrics: ServiceMetrics = request.app.state.metrics
    payload = body.model_dump(exclude_unset=True)
    controls = read_controls(payload, controls_sent)  # takes LiteLLM's `cache` field out
    if controls.max_age_s is not None:
        # Stored vectors keep no age (they never go stale: the model is deterministic), so a
        # max-age is honoured by not serving from the cache at all.
        controls = replace(controls, skip_lookup=True, max_age_s=None)
    namespace = caller.resolve(controls.namespace, field=NAMESPACE_HEADER)
    items, single = _items(body.input)
    keys = [embedding_key(payload, item) for item in items]
    found: list[bytes | None] = [None] * len(items)
    if not controls.skip_lookup:
        found = await cache.exact_get_many(namespace, keys)
    vectors: list[Any] = [None] * len(items)
    served_model: str | None = None
    for i, raw in enumerate(found):
        if raw is None:
            continue
        try:
            stored = json.loads(raw)
            vectors[i], served_model = stored["embedding"], stored.get("model", served_model)
        except (ValueError, KeyError, TypeError):
            log.warning("an unreadable cached embedding was ignored")
    todo = list(dict.fromkeys(k for k, v in zip(keys, vectors, strict=True) if v is None))
    usage = {"prompt_tokens": 0, "total_tokens": 0}
    if todo:
        first_of = {k: items[keys.index(k)] for k in todo}
        upstream_body = {**payload, "input": items[0] if single else [first_of[k] for k in todo]}
        try:
            answer = await post_json(
                request.app.state.upstream, upstream_url(request.app.state.settings, "/embeddings"),
                upstream_body, forward_headers(request), metrics,
            )  # fmt: skip
        except UpstreamError as exc:
            metrics.count_response(
                "upstream_error", namespace=namespace, model=body.model, endpoint="embeddings"
            )
            return upstream_response(exc, request.url.path)
        fresh = _fresh_vectors(answer, len(todo))
        served_model = answer.get("model", served_model) if isinstance(answer, dict) else None
        usage = answer.get("usage") or usage
        by_key = dict(zip(todo, fresh, strict=True))
        vectors = [by_key.get(k, v) if v is None else v for k, v in zip(keys, vectors, strict=True)]
        if not controls.skip_store:
            writes = [
                (k, jsonio.encode({"embedding": by_key[k], "model": served_model})) for k in todo
            ]
            await cache.exact_set_many(namespace, writes, controls.ttl_s)
    missing = set(todo)
    cached = sum(1 for k in keys if k not in missing)
    kind = "exact" if not todo else ("partial" if cached else "miss")
    if controls.skip_lookup:
        kind = "bypass"
    metrics.count_response(kind, namespace=namespace, model=body.model, endpoint="embeddings")
    reply = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
        ],
        "model": served_model or body.model,
        "usage": usage,
    }
    return FastJSONResponse(
        reply,
        headers={
            CACHE_HEADER: kind,
            NAMESPACE_HEADER: namespace_header(namespace),
            CACHED_INPUTS_HEADER: f"{cached}/{len(items)}",
        },
    )


def _fresh_vectors(answer: Any, expected: int) -> list[Any]:
    """The upstream's vectors in the order of the inputs sent (by their ``index``)."""
    data = answer.get("data") if isinstance(answer, dict) else None
    rows = sorted(
        (row for row in data or () if isinstance(row, dict) and "embedding" in row),
        key=lambda row: int(row.get("index", 0)),
    )
    if len(rows) != expected:
        raise ApiError(
            502,
            "upstream_bad_response",
            f"the upstream answered {len(rows)} embeddings for {expected} inputs",
            fix="check that SEMCACHED_UPSTREAM_URL serves OpenAI's embeddings API",
        )
    return [row["embedding"] for row in rows]
