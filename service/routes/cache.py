"""The cache API: ``/v1/cache/lookup``, ``/store``, ``/entries/{id}``, ``/feedback`` and
``DELETE /v1/cache`` (a whole namespace).

Bodies are strict (unknown fields are a 422 naming them, so a misspelt ``threshhold`` is never
silently ignored); the chat request inside them is the engine's, with the engine's checks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request

from semcached.engine.acache import AsyncSemanticCache
from semcached.errors import InvalidRequestError
from semcached.request import CanonicalRequest
from semcached.service.auth import Caller, caller_namespace, get_caller
from semcached.service.metrics import ServiceMetrics
from semcached.service.validation import check_prompt, prefixed
from semcached.settings import Settings
from semcached.wire import (
    ENTRY_ID_PATTERN,
    DeleteReply,
    FeedbackBody,
    FeedbackReply,
    LookupBody,
    LookupReply,
    StoreBody,
    StoreReply,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/cache", tags=["cache"])


def _cache(request: Request) -> AsyncSemanticCache:
    cache: AsyncSemanticCache = request.app.state.cache
    return cache


def _canonical(request: Request, chat: dict[str, Any], namespace: str) -> CanonicalRequest:
    """The chat request canonicalised once (its fields named under ``request.``)."""
    settings: Settings = request.app.state.settings
    try:
        canon = _cache(request).canonicalize(chat, namespace)
    except InvalidRequestError as exc:
        raise prefixed(exc, "request.") from exc
    check_prompt(canon, max_chars=settings.service.max_prompt_chars, prefix="request.")
    return canon


@router.post("/lookup", summary="Look a request up by exact key, then by meaning")
async def lookup(
    body: LookupBody, request: Request, caller: Annotated[Caller, Depends(get_caller)]
) -> LookupReply:
    namespace = caller.resolve(body.namespace)
    canon = _canonical(request, body.request, namespace)
    result = await _cache(request).lookup(canon, threshold=body.threshold)
    if result.hit and result.kind is not None:
        metrics: ServiceMetrics = request.app.state.metrics
        metrics.record_tokens_saved(
            str(result.kind), result.response, namespace=namespace, model=canon.model
        )
    info = result.to_dict()
    return LookupReply(
        hit=result.hit,
        kind=info["kind"],
        similarity=result.similarity,
        threshold=result.threshold,
        entry_id=result.entry_id,
        namespace=result.namespace,
        reason=info["reason"],
        explanation=info["explanation"],
        candidate_text=result.candidate_text,
        failed_backends=list(result.failed_backends),
        timings_ms=dict(result.timings_ms),
        response=result.response,
    )


@router.post("/store", summary="Store an answer for a request (both layers)")
async def store(
    body: StoreBody, request: Request, caller: Annotated[Caller, Depends(get_caller)]
) -> StoreReply:
    namespace = caller.resolve(body.namespace)
    canon = _canonical(request, body.request, namespace)
    stored = await _cache(request).store(canon, body.response, ttl_s=body.ttl_s)
    return StoreReply(stored=stored, entry_id=canon.exact_key, namespace=namespace)


@router.delete("/entries/{entry_id}", summary="Forget one entry (its id is the exact key)")
async def delete_entry(
    request: Request,
    namespace: Annotated[str, Depends(caller_namespace)],
    entry_id: Annotated[
        str, Path(pattern=ENTRY_ID_PATTERN, description="32 lowercase hex digits.")
    ],
) -> DeleteReply:
    await _cache(request).delete(entry_id, namespace=namespace)
    return DeleteReply(namespace=namespace, entry_id=entry_id, deleted=True)


@router.delete("", summary="Forget every entry of a namespace")
async def invalidate(
    request: Request, namespace: Annotated[str, Depends(caller_namespace)]
) -> DeleteReply:
    await _cache(request).invalidate(namespace)
    return DeleteReply(namespace=namespace, deleted=True)


@router.post("/feedback", summary="Report a hit right or wrong; says what was done about it")
async def feedback(
    body: FeedbackBody, request: Request, caller: Annotated[Caller, Depends(get_caller)]
) -> FeedbackReply:
    namespace = caller.resolve(body.namespace)
    done = await _cache(request).feedback(body.entry_id, correct=body.correct, namespace=namespace)
    return FeedbackReply(
        entry_id=done.entry_id,
        namespace=done.namespace,
        correct=done.correct,
        action=done.action,
        removed=done.removed,
    )
