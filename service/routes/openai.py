"""``POST /v1/chat/completions``: an OpenAI-compatible caching proxy.

A hit is answered from the cache; a miss is forwarded to the upstream (``SEMCACHED_UPSTREAM_URL``,
an OpenAI-compatible base URL such as ``https://api.openai.com/v1``) with the caller's
``Authorization`` passed through (never stored, never logged), stored, and returned. With
``"stream": true`` the upstream's server-sent events are relayed as they arrive and recorded;
a complete stream (ended by ``[DONE]``, no error event) is stored and later replayed event for
event; a failed or cut stream is never stored. An upstream error is returned as the upstream
sent it and never cached.

Per-call request headers: ``X-Semcached-Skip-Lookup``, ``X-Semcached-Skip-Store`` (or
``Cache-Control: no-cache`` / ``no-store``), ``X-Semcached-Threshold``, ``X-Semcached-TTL``
(seconds), ``X-Semcached-Namespace``. Response headers: ``X-Semcached-Cache`` (``exact``,
``semantic``, ``miss``, ``coalesced`` or ``bypass``), ``X-Semcached-Similarity``,
``X-Semcached-Entry-Id``, ``X-Semcached-Namespace``.

Example (any OpenAI SDK)::

    client = OpenAI(base_url="http://127.0.0.1:8080/v1", api_key=os.environ["OPENAI_API_KEY"])
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import LookupResult
from semcached.errors import InvalidRequestError, ProviderError
from semcached.policy.decision import MissReason
from semcached.service.auth import NAMESPACE_HEADER, Caller, get_caller
from semcached.service.errors import ApiError, error_body
from semcached.service.metrics import ServiceMetrics
from semcached.service.sse import (
    DONE,
    SSEParser,
    StreamRecording,
    encode_event,
    is_recorded_stream,
    replay,
)
from semcached.service.validation import check_prompt
from semcached.settings import Settings

__all__ = [
    "CACHE_HEADER",
    "ChatCompletionBody",
    "UpstreamError",
    "build_upstream_client",
    "router",
]

log = logging.getLogger("semcached.proxy")
router = APIRouter(tags=["openai"])

CACHE_HEADER = "X-Semcached-Cache"
SIMILARITY_HEADER = "X-Semcached-Similarity"
ENTRY_HEADER = "X-Semcached-Entry-Id"
# Credentials and routing headers a provider needs; passed through, never stored or logged.
FORWARDED_HEADERS = ("authorization", "openai-organization", "openai-project", "api-key")
MAX_TTL_S = 10 * 365 * 24 * 3600.0


class ChatMessage(BaseModel):
    """One chat message; extra fields (``name``, ``tool_calls``...) pass through."""

    model_config = ConfigDict(extra="allow")

    role: str = Field(min_length=1, max_length=64)
    content: str | list[dict[str, Any]] | None = None


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


class UpstreamError(ProviderError):
    """The upstream failed; ``status`` and ``body`` are what the caller receives."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: bytes,
        reason: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.reason = reason
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return Response(
            self.body,
            status_code=self.status,
            media_type="application/json",
            headers={**self.headers, CACHE_HEADER: "miss"},
        )


def build_upstream_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The pooled client for the upstream: bounded timeouts, one retry on connect failure."""
    timeout = httpx.Timeout(settings.service.upstream_timeout_s, connect=10.0)
    return httpx.AsyncClient(
        timeout=timeout,
        transport=transport or httpx.AsyncHTTPTransport(retries=1),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
    )


def _flag(value: str | None, header: str) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ApiError(
        422,
        "invalid_header",
        f"{header} must be true or false, got {value!r}",
        field=header,
        fix=f"send `{header}: true` or leave the header out",
    )


def _upstream_url(settings: Settings) -> str:
    if not settings.upstream_url:
        raise ApiError(
            503,
            "upstream_not_configured",
            "this request is not in the cache, and no upstream is configured to answer it",
            field=None,
            fix="start the service with --upstream-url https://api.openai.com/v1 (or set "
            "SEMCACHED_UPSTREAM_URL)",
        )
    return settings.upstream_url.rstrip("/") + "/chat/completions"


def _forward_headers(request: Request) -> dict[str, str]:
    return {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}


def _hit_headers(lookup: LookupResult) -> dict[str, str]:
    headers = {CACHE_HEADER: str(lookup.kind), NAMESPACE_HEADER: lookup.namespace}
    if lookup.similarity is not None:
        headers[SIMILARITY_HEADER] = f"{lookup.similarity:.6f}"
    if lookup.entry_id is not None:
        headers[ENTRY_HEADER] = lookup.entry_id
    return headers


def _upstream_failure(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        status, reason, what = 504, "timeout", "did not answer in time"
    else:
        status, reason, what = 502, "unreachable", "could not be reached"
    message = f"the upstream provider {what}: {type(exc).__name__}: {exc}"
    body = error_body(
        f"upstream_{reason}",
        message,
        fix="check SEMCACHED_UPSTREAM_URL and the provider's status, then retry",
    )
    return UpstreamError(message, status=status, body=json.dumps(body).encode(), reason=reason)


def _passed_headers(headers: httpx.Headers) -> dict[str, str]:
    """The upstream's headers an SDK acts on after an error (backoff, rate limits, support)."""
    return {
        name: value
        for name, value in headers.items()
        if name in ("retry-after", "retry-after-ms", "x-request-id")
        or name.startswith("x-ratelimit-")
    }


def _http_failure(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> UpstreamError:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not (isinstance(parsed, dict) and "error" in parsed):
        text = body[:200].decode("utf-8", "replace")
        body = json.dumps(
            error_body(
                "upstream_error",
                f"the upstream provider answered HTTP {status}: {text}",
                fix="check the provider's status and your request, then retry",
            )
        ).encode()
    return UpstreamError(
        f"upstream answered HTTP {status}",
        status=status,
        body=body,
        reason=f"http_{status}",
        headers=headers,
    )


@router.post(
    "/v1/chat/completions",
    summary="OpenAI-compatible chat completions, cached",
    response_model=None,
    responses={
        200: {"description": "The completion (JSON, or SSE when `stream` is true)."},
        502: {"description": "The upstream could not be reached."},
        503: {"description": "A miss, and no upstream is configured."},
    },
)
async def chat_completions(
    body: ChatCompletionBody,
    request: Request,
    *,
    caller: Annotated[Caller, Depends(get_caller)],
    x_semcached_namespace: Annotated[
        str | None, Header(alias=NAMESPACE_HEADER, max_length=256)
    ] = None,
    x_semcached_threshold: Annotated[
        float | None, Header(alias="X-Semcached-Threshold", ge=0.0, le=1.0)
    ] = None,
    x_semcached_ttl: Annotated[
        float | None, Header(alias="X-Semcached-TTL", gt=0.0, le=MAX_TTL_S)
    ] = None,
    x_semcached_skip_lookup: Annotated[str | None, Header(alias="X-Semcached-Skip-Lookup")] = None,
    x_semcached_skip_store: Annotated[str | None, Header(alias="X-Semcached-Skip-Store")] = None,
    cache_control: Annotated[str | None, Header(alias="Cache-Control")] = None,
) -> Response:
    settings: Settings = request.app.state.settings
    cache: AsyncSemanticCache = request.app.state.cache
    metrics: ServiceMetrics = request.app.state.metrics
    namespace = caller.resolve(x_semcached_namespace, field=NAMESPACE_HEADER)
    directives = {d.strip().lower() for d in (cache_control or "").split(",")}
    skip_lookup = _flag(x_semcached_skip_lookup, "X-Semcached-Skip-Lookup") or (
        "no-cache" in directives
    )
    skip_store = _flag(x_semcached_skip_store, "X-Semcached-Skip-Store") or (
        "no-store" in directives
    )
    payload = body.model_dump(exclude_unset=True)
    check_prompt(payload, max_chars=settings.service.max_prompt_chars)
    forward = _forward_headers(request)
    options = _CallOptions(
        namespace=namespace,
        threshold=x_semcached_threshold,
        ttl_s=x_semcached_ttl,
        skip_lookup=skip_lookup,
        skip_store=skip_store,
    )
    if body.stream:
        return await _stream(
            request, cache=cache, metrics=metrics, payload=payload, forward=forward, options=options
        )

    async def call_upstream() -> Any:
        return await _post_upstream(request, metrics, payload, forward)

    try:
        result = await cache.get_or_call(
            payload,
            call_upstream,
            namespace=namespace,
            threshold=options.threshold,
            ttl_s=options.ttl_s,
            skip_lookup=skip_lookup,
            skip_store=skip_store,
        )
    except UpstreamError as exc:
        metrics.proxy_responses.labels(cache="upstream_error").inc()
        return exc.response()
    if result.cached:
        metrics.proxy_responses.labels(cache=result.source).inc()
        metrics.record_tokens_saved(result.source, result.response)
        return JSONResponse(result.response, headers=_hit_headers(result.lookup))
    outcome: str = result.source  # coalesced: answered by a concurrent twin's call
    if result.source == "provider":
        bypassed = skip_lookup or result.lookup.reason is MissReason.BYPASSED
        outcome = "bypass" if bypassed else "miss"
    metrics.proxy_responses.labels(cache=outcome).inc()
    headers = {
        CACHE_HEADER: outcome,
        NAMESPACE_HEADER: namespace,
        "X-Semcached-Stored": "true" if result.stored else "false",
    }
    return JSONResponse(result.response, headers=headers)


class _CallOptions(BaseModel):
    namespace: str
    threshold: float | None
    ttl_s: float | None
    skip_lookup: bool
    skip_store: bool


async def _post_upstream(
    request: Request, metrics: ServiceMetrics, payload: dict[str, Any], forward: Mapping[str, str]
) -> Any:
    url = _upstream_url(request.app.state.settings)
    upstream: httpx.AsyncClient = request.app.state.upstream
    try:
        reply = await upstream.post(url, json=payload, headers=dict(forward))
    except httpx.HTTPError as exc:
        failure = _upstream_failure(exc)
        _count_failure(metrics, failure.reason)
        raise failure from exc
    if reply.status_code >= 400:
        failure = _http_failure(reply.status_code, reply.content, _passed_headers(reply.headers))
        _count_failure(metrics, failure.reason)
        raise failure
    try:
        answer = reply.json()
    except ValueError as exc:
        _count_failure(metrics, "bad_response")
        body = error_body(
            "upstream_bad_response",
            f"the upstream answered HTTP {reply.status_code} with a body that is not JSON",
            fix="check that SEMCACHED_UPSTREAM_URL is an OpenAI-compatible base URL (.../v1)",
        )
        raise UpstreamError(
            "upstream answered non-JSON", status=502, body=json.dumps(body).encode(), reason="bad"
        ) from exc
    metrics.upstream_requests.labels(outcome="ok").inc()
    return answer


def _count_failure(metrics: ServiceMetrics, reason: str) -> None:
    metrics.upstream_requests.labels(outcome="error").inc()
    metrics.upstream_errors.labels(reason=reason).inc()


async def _stream(
    request: Request,
    *,
    cache: AsyncSemanticCache,
    metrics: ServiceMetrics,
    payload: dict[str, Any],
    forward: Mapping[str, str],
    options: _CallOptions,
) -> Response:
    cache.sync.canonicalize(payload, options.namespace)  # 422 now, not after the stream
    if not options.skip_lookup:
        lookup = await cache.lookup(
            payload, namespace=options.namespace, threshold=options.threshold
        )
        if lookup.hit and is_recorded_stream(lookup.response):
            kind = str(lookup.kind)
            metrics.proxy_responses.labels(cache=kind).inc()
            metrics.record_tokens_saved(kind, lookup.response)
            return StreamingResponse(
                replay(lookup.response["events"]),
                media_type="text/event-stream",
                headers=_hit_headers(lookup),
            )
    url = _upstream_url(request.app.state.settings)
    upstream: httpx.AsyncClient = request.app.state.upstream
    cache.stats.incr("provider.calls")
    try:
        reply = await upstream.send(
            upstream.build_request("POST", url, json=payload, headers=dict(forward)), stream=True
        )
    except httpx.HTTPError as exc:
        failure = _upstream_failure(exc)
        _count_failure(metrics, failure.reason)
        metrics.proxy_responses.labels(cache="upstream_error").inc()
        return failure.response()
    if reply.status_code >= 400:
        content = await reply.aread()
        await reply.aclose()
        failure = _http_failure(reply.status_code, content, _passed_headers(reply.headers))
        _count_failure(metrics, failure.reason)
        metrics.proxy_responses.labels(cache="upstream_error").inc()
        return failure.response()
    outcome = "bypass" if options.skip_lookup else "miss"
    metrics.proxy_responses.labels(cache=outcome).inc()
    return StreamingResponse(
        _relay(reply, cache, metrics, payload, options),
        media_type="text/event-stream",
        headers={CACHE_HEADER: outcome, NAMESPACE_HEADER: options.namespace},
    )


async def _relay(
    reply: httpx.Response,
    cache: AsyncSemanticCache,
    metrics: ServiceMetrics,
    payload: dict[str, Any],
    options: _CallOptions,
) -> AsyncIterator[bytes]:
    """Relay the upstream's events as they come, record them, store a complete stream.

    ``[DONE]`` is held back until the recording is stored: a client that has seen the end of
    the stream and asks again at once finds it cached (read-your-writes).
    """
    recording = StreamRecording()
    parser = SSEParser()
    try:
        try:
            async for line in reply.aiter_lines():
                for data in parser.feed_line(line):
                    recording.add(data)
                    if data.strip() != DONE:
                        yield encode_event(data)
            for data in parser.flush():
                recording.add(data)
                if data.strip() != DONE:
                    yield encode_event(data)
        except httpx.HTTPError as exc:
            _count_failure(metrics, "stream_cut")
            log.warning("upstream stream cut after %d events: %s", len(recording.events), exc)
            message = f"the upstream stream was cut after {len(recording.events)} events: {exc}"
            yield encode_event(json.dumps(error_body("upstream_stream_cut", message)))
            return
    finally:
        await reply.aclose()
    if not recording.complete:
        reason = "stream_error_event" if recording.error else "stream_incomplete"
        _count_failure(metrics, reason)
        log.warning("not caching an upstream stream that %s", recording.error or "had no [DONE]")
        if recording.done:
            yield encode_event(DONE)
        return
    metrics.upstream_requests.labels(outcome="ok").inc()
    if not options.skip_store:
        try:  # a failing backend makes store() return False: it never raises for one
            await cache.store(
                payload, recording.as_response(), namespace=options.namespace, ttl_s=options.ttl_s
            )
        except InvalidRequestError as exc:  # pragma: no cover - the payload was keyed on lookup
            log.warning("not caching the stream: %s", exc)
    yield encode_event(DONE)
