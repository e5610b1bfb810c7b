"""``POST /v1/chat/completions``: an OpenAI-compatible caching proxy.

A hit is answered from the cache; a miss is forwarded to the upstream (``SEMCACHED_UPSTREAM_URL``,
an OpenAI-compatible base URL such as ``https://api.openai.com/v1``, see
:mod:`semcached.service.upstream`), stored, and returned. Both kinds of call go through the one
engine: ``get_or_call`` for JSON, ``get_or_stream`` for ``"stream": true``, whose events are
relayed as they arrive, recorded, stored when the stream is complete and replayed event for
event; concurrent twins of a miss share one upstream call, streamed or not.

Per-call controls (:mod:`semcached.service.cache_controls`): ``X-Semcached-Skip-Lookup``,
``X-Semcached-Skip-Store``, ``X-Semcached-Threshold``, ``X-Semcached-TTL`` (seconds),
``X-Semcached-Namespace``; ``Cache-Control: no-cache / no-store / max-age=N / s-maxage=N``;
LiteLLM's body field ``cache`` (removed before the upstream). Response headers:
``X-Semcached-Cache`` (``exact``, ``semantic``, ``miss``, ``coalesced`` or ``bypass``),
``X-Semcached-Similarity``, ``X-Semcached-Entry-Id``, ``X-Semcached-Namespace``.

Example (any OpenAI SDK)::

    client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key=os.environ["OPENAI_API_KEY"])
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.flights import FlightAbandonedError
from semcached.engine.results import LookupResult
from semcached.engine.streams import is_recorded_stream
from semcached.errors import UpstreamError
from semcached.policy.decision import MissReason
from semcached.service.auth import NAMESPACE_HEADER, namespace_header
from semcached.service.cache_controls import (
    BODY_FIELD,
    CACHED_RESPONSES,
    CallContext,
    call_context,
    read_controls,
)
from semcached.service.errors import error_body
from semcached.service.json_response import FastJSONResponse
from semcached.service.metrics import ServiceMetrics
from semcached.service.routes.passthrough import relay
from semcached.service.sse import OPENAI_STREAM, StreamDialect
from semcached.service.stream_forms import assemble, synthesize
from semcached.service.upstream import (
    CACHE_HEADER,
    forward_headers,
    open_sse,
    post_json,
    upstream_base,
    upstream_response,
    upstream_url,
)
from semcached.service.validation import check_prompt
from semcached.settings import Settings

__all__ = ["CACHE_HEADER", "ChatCompletionBody", "CompletionBody", "router", "serve_cached"]

log = logging.getLogger("semcached.proxy")
router = APIRouter(tags=["openai"])

SIMILARITY_HEADER = "X-Semcached-Similarity"
ENTRY_HEADER = "X-Semcached-Entry-Id"


class ChatMessage(BaseModel):
    """One chat message; extra fields (``name``, ``tool_calls``...) pass through."""

    model_config = ConfigDict(extra="allow")

    role: str = Field(min_length=1, max_length=64)
    content: str | list[dict[str, Any]] | None = None


class CompletionBody(BaseModel):
    """An OpenAI (legacy) completion request. Unknown parameters pass through upstream."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"model": "gpt-3.5-turbo-instruct", "prompt": "Hi"}]},
    )

    model: str = Field(min_length=1, max_length=256)
    prompt: str | list[Any]
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=128)
    max_tokens: int | None = Field(default=None, ge=1)


class ChatCompletionBody(BaseModel):
    """An OpenAI chat completion request. Unknown parameters pass through to the upstream."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "gpt-4o-mini",
                    "temperature": 0,
                    "messages": [{"role": "user", "content": "How do I reset my password?"}],
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int | None = Field(default=None, ge=1, le=128)
    max_tokens: int | None = Field(default=None, ge=1)


def _hit_headers(lookup: LookupResult) -> dict[str, str]:
    headers = {CACHE_HEADER: str(lookup.kind), NAMESPACE_HEADER: namespace_header(lookup.namespace)}
    if lookup.similarity is not None:
        headers[SIMILARITY_HEADER] = f"{lookup.similarity:.6f}"
    if lookup.entry_id is not None:
        headers[ENTRY_HEADER] = lookup.entry_id
    return headers


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat completions, cached",
    response_model=None,
    responses=CACHED_RESPONSES,
)
async def chat_completions(
    body: ChatCompletionBody,
    request: Request,
    context: Annotated[CallContext, Depends(call_context)],
) -> Response:
    """Chat completions: exact and semantic hits, streamed or not."""
    payload = body.model_dump(exclude_unset=True)
    return await serve_cached(
        request, context, payload, model=body.model, stream=bool(body.stream),
        path="/chat/completions", endpoint="chat",
    )  # fmt: skip


@router.post(
    "/v1/completions",
    summary="OpenAI-compatible (legacy) text completions, cached",
    response_model=None,
    responses=CACHED_RESPONSES,
)
async def completions(
    body: CompletionBody,
    request: Request,
    context: Annotated[CallContext, Depends(call_context)],
) -> Response:
    """Legacy completions: a string ``prompt`` is cached like a chat's last message (its own
    scope: a completion never serves a chat); a list of prompts is relayed uncached."""
    payload = body.model_dump(exclude_unset=True)
    if not isinstance(body.prompt, str):
        return await relay("completions", request)
    return await serve_cached(
        request, context, payload, model=body.model, stream=bool(body.stream),
        path="/completions", endpoint="completions",
    )  # fmt: skip


async def serve_cached(
    request: Request,
    context: CallContext,
    payload: dict[str, Any],
    *,
    model: str,
    stream: bool,
    path: str,
    endpoint: str,
    key_payload: dict[str, Any] | None = None,
    dialect: StreamDialect = OPENAI_STREAM,
) -> Response:
    """One cached provider call (chat, completion, Anthropic message), JSON or streamed,
    through the engine. ``payload`` goes upstream; ``key_payload`` (default: the same) is
    what the cache keys and compares, in semcached's chat form."""
    settings: Settings = request.app.state.settings
    cache: AsyncSemanticCache = request.app.state.cache
    metrics: ServiceMetrics = request.app.state.metrics
    controls = read_controls(payload, context.controls)  # takes LiteLLM's `cache` field out
    namespace = context.caller.resolve(controls.namespace, field=NAMESPACE_HEADER)
    skip_lookup = controls.skip_lookup
    # Once: keys, scope and text. Not keyed: LiteLLM's `cache` field, and the stream flags, so
    # a streamed and a plain call share one entry (semcached.service.stream_forms).
    keyed = {
        k: v
        for k, v in (payload if key_payload is None else key_payload).items()
        if k not in (BODY_FIELD, "stream", "stream_options")
    }
    canon = cache.canonicalize(keyed, namespace)
    check_prompt(canon, max_chars=settings.service.max_prompt_chars)
    if request.url.query:  # e.g. Azure's api-version: the upstream gets it as sent
        path = f"{path}?{request.url.query}"
    url = upstream_url(settings, path) if upstream_base(settings, path) else ""
    headers = forward_headers(request)
    client = request.app.state.upstream
    upstream_seen: dict[str, str] = {}  # the upstream's request id and rate limits, on a miss
    options: dict[str, Any] = {
        "threshold": context.threshold,
        "ttl_s": controls.ttl_s,
        "skip_lookup": skip_lookup,
        "skip_store": controls.skip_store,
        "max_age_s": controls.max_age_s,
    }
    if stream:
        streamed = await cache.get_or_stream(
            canon,
            lambda: open_sse(
                client,
                _required(url, settings, path),
                payload,
                headers,
                metrics,
                seen=upstream_seen,
                dialect=dialect,  # how this API's streams end
            ),
            replay=lambda answer: synthesize(endpoint, answer),  # a plain call's stored answer
            **options,
        )
        if streamed.cached:
            kind = streamed.source
            metrics.count_response(kind, namespace=namespace, model=model, endpoint=endpoint)
            metrics.record_tokens_saved(
                kind, streamed.lookup.response, namespace=namespace, model=model
            )
            return StreamingResponse(
                _sse(streamed.events, dialect=dialect),
                media_type="text/event-stream",
                headers=_hit_headers(streamed.lookup),
            )
        events = streamed.events
        ended: UpstreamError | None = None
        try:
            first = await anext(events, None)
        except UpstreamError as exc:
            if exc.body:  # failed before any event: the upstream's own status and body
                metrics.count_response(
                    "upstream_error", namespace=namespace, model=model, endpoint=endpoint
                )
                return upstream_response(exc, request.url.path)
            first, ended = None, exc  # an empty stream that is not stored
        outcome = _outcome(streamed.source, skip_lookup, streamed.lookup)
        metrics.count_response(outcome, namespace=namespace, model=model, endpoint=endpoint)
        return StreamingResponse(
            _sse(events, first, ended, dialect),
            media_type="text/event-stream",
            headers={
                **upstream_seen,
                CACHE_HEADER: outcome,
                NAMESPACE_HEADER: namespace_header(namespace),
            },
        )

    async def call_upstream() -> Any:
        return await post_json(
            client, _required(url, settings, path), payload, headers, metrics, seen=upstream_seen
        )

    try:
        result = await cache.get_or_call(canon, call_upstream, **options)
        if result.cached and is_recorded_stream(result.response):
            assembled = assemble(endpoint, result.response["events"])
            if assembled is None:  # a recording that cannot be told as one answer: ask anew
                result = await cache.get_or_call(
                    canon, call_upstream, **{**options, "skip_lookup": True}
                )
            else:
                result = replace(result, response=assembled)
    except UpstreamError as exc:
        metrics.count_response(
            "upstream_error", namespace=namespace, model=model, endpoint=endpoint
        )
        return upstream_response(exc, request.url.path)
    if result.cached:
        metrics.count_response(result.source, namespace=namespace, model=model, endpoint=endpoint)
        metrics.record_tokens_saved(
            result.source, result.response, namespace=namespace, model=model
        )
        return FastJSONResponse(result.response, headers=_hit_headers(result.lookup))
    outcome = _outcome(result.source, skip_lookup, result.lookup)
    metrics.count_response(outcome, namespace=namespace, model=model, endpoint=endpoint)
    return FastJSONResponse(
        result.response,
        headers={
            **upstream_seen,
            CACHE_HEADER: outcome,
            NAMESPACE_HEADER: namespace_header(namespace),
            "X-Semcached-Stored": "true" if result.stored else "false",
        },
    )


def _required(url: str, settings: Settings, path: str) -> str:
    return url or upstream_url(settings, path)  # raises the 503 when unset


def _outcome(source: str, skip_lookup: bool, lookup: LookupResult) -> str:
    """``miss``, ``bypass`` or ``coalesced`` (answered by a concurrent twin's call)."""
    if source != "provider":
        return source
    return "bypass" if skip_lookup or lookup.reason is MissReason.BYPASSED else "miss"


async def _sse(
    events: AsyncIterator[Any],
    first: Any = None,
    ended: UpstreamError | None = None,
    dialect: StreamDialect = OPENAI_STREAM,
) -> AsyncIterator[bytes]:
    """Events as SSE in the API's own format, then its end (``[DONE]`` for OpenAI); a stream
    that failed ends the way the upstream's did.

    The end comes only once the engine has stored a complete stream: a client that has seen
    it and asks again at once finds it cached.
    """
    try:
        if ended is not None:
            raise ended
        if first is not None:
            yield dialect.encode(_data(first))
        async for event in events:
            yield dialect.encode(_data(event))
    except UpstreamError as exc:
        if exc.reason == "stream_cut":
            yield dialect.encode(exc.body.decode("utf-8", "replace"))
        elif exc.done:
            yield dialect.end()
        return
    except FlightAbandonedError as exc:
        log.warning("a coalesced stream ended early: %s", exc)
        yield dialect.encode(json.dumps(error_body("upstream_stream_cut", str(exc))))
        return
    yield dialect.end()


def _data(event: Any) -> str:
    return event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
