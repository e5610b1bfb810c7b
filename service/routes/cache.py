"""The cache API: ``/v1/cache/lookup``, ``/store``, ``/entries/{id}``, ``/feedback`` and
``DELETE /v1/cache`` (a whole namespace).

Bodies are strict (unknown fields are a 422 naming them, so a misspelt ``threshhold`` is never
silently ignored); the chat request inside them is the engine's, with the engine's checks.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from semcached.engine.acache import AsyncSemanticCache
from semcached.errors import InvalidRequestError
from semcached.service.auth import Caller, caller_namespace, get_caller
from semcached.service.metrics import ServiceMetrics
from semcached.service.validation import check_prompt, prefixed
from semcached.settings import Settings

__all__ = [
    "DeleteReply",
    "FeedbackBody",
    "FeedbackReply",
    "LookupBody",
    "LookupReply",
    "StoreBody",
    "StoreReply",
    "router",
]

router = APIRouter(prefix="/v1/cache", tags=["cache"])

ENTRY_ID_PATTERN = r"^[0-9a-f]{32}$"
MAX_TTL_S = 10 * 365 * 24 * 3600.0

_EXAMPLE_REQUEST = {
    "model": "gpt-4o-mini",
    "temperature": 0,
    "messages": [{"role": "user", "content": "How do I reset my password?"}],
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LookupBody(_Strict):
    """Look a chat request up."""

    request: dict[str, Any] = Field(
        description="An OpenAI-style chat request.", examples=[_EXAMPLE_REQUEST]
    )
    namespace: str | None = Field(
        default=None, min_length=1, max_length=256, description="Defaults to the key's own."
    )
    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Cosine similarity needed for this lookup."
    )


class LookupReply(BaseModel):
    """What the lookup found, and why (``explanation`` says it in one sentence)."""

    hit: bool
    kind: str | None = Field(description="`exact` or `semantic` on a hit.")
    similarity: float | None
    threshold: float
    entry_id: str | None = Field(description="The served entry, or the best candidate on a miss.")
    namespace: str
    reason: str | None = Field(description="Why it missed.")
    explanation: str
    candidate_text: str | None
    failed_backends: list[str] = Field(description="Backends that failed (the lookup failed open).")
    timings_ms: dict[str, float]
    response: Any = Field(default=None, description="The cached answer on a hit.")


class StoreBody(_Strict):
    """Store an answer for a chat request."""

    request: dict[str, Any] = Field(examples=[_EXAMPLE_REQUEST])
    response: Any = Field(description="Any JSON; typically an OpenAI chat completion.")
    namespace: str | None = Field(default=None, min_length=1, max_length=256)
    ttl_s: float | None = Field(default=None, gt=0, le=MAX_TTL_S, description="Entry lifetime.")

    @field_validator("response")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("the response to store must not be null")
        return value


class StoreReply(BaseModel):
    stored: bool = Field(description="False when a backend failed (nothing half-written).")
    entry_id: str
    namespace: str


class FeedbackBody(_Strict):
    """Report whether a served entry answered correctly; a wrong one stops being served."""

    entry_id: str = Field(pattern=ENTRY_ID_PATTERN, description="`entry_id` of the hit.")
    correct: bool
    namespace: str | None = Field(default=None, min_length=1, max_length=256)


class FeedbackReply(BaseModel):
    entry_id: str
    namespace: str
    correct: bool
    removed: bool = Field(description="True when the entry was deleted (a wrong-hit report).")


class DeleteReply(BaseModel):
    namespace: str
    entry_id: str | None = None
    deleted: bool


def _cache(request: Request) -> AsyncSemanticCache:
    cache: AsyncSemanticCache = request.app.state.cache
    return cache


def _checked(request: Request, chat: dict[str, Any]) -> None:
    settings: Settings = request.app.state.settings
    check_prompt(chat, max_chars=settings.service.max_prompt_chars, prefix="request.")


@router.post("/lookup", summary="Look a request up by exact key, then by meaning")
async def lookup(
    body: LookupBody, request: Request, caller: Annotated[Caller, Depends(get_caller)]
) -> LookupReply:
    namespace = caller.resolve(body.namespace)
    _checked(request, body.request)
    try:
        result = await _cache(request).lookup(
            body.request, namespace=namespace, threshold=body.threshold
        )
    except InvalidRequestError as exc:
        raise prefixed(exc, "request.") from exc
    if result.hit and result.kind is not None:
        metrics: ServiceMetrics = request.app.state.metrics
        metrics.record_tokens_saved(str(result.kind), result.response)
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
    _checked(request, body.request)
    cache = _cache(request)
    try:
        entry_id = cache.sync.canonicalize(body.request, namespace).exact_key
        stored = await cache.store(
            body.request, body.response, namespace=namespace, ttl_s=body.ttl_s
        )
    except InvalidRequestError as exc:
        raise prefixed(exc, "request." if exc.field not in ("response", "ttl_s") else "") from exc
    return StoreReply(stored=stored, entry_id=entry_id, namespace=namespace)


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


@router.post("/feedback", summary="Report a hit right or wrong; a wrong one is removed")
async def feedback(
    body: FeedbackBody, request: Request, caller: Annotated[Caller, Depends(get_caller)]
) -> FeedbackReply:
    import asyncio

    namespace = caller.resolve(body.namespace)
    engine = _cache(request).sync
    await asyncio.to_thread(
        engine.feedback, body.entry_id, correct=body.correct, namespace=namespace
    )
    return FeedbackReply(
        entry_id=body.entry_id, namespace=namespace, correct=body.correct, removed=not body.correct
    )
