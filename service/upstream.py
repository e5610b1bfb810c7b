"""The proxy's upstream: one pooled HTTP client, the calls every cached endpoint makes, and the
mapping of upstream failures to :class:`~semcached.errors.UpstreamError`.

A miss is sent with the caller's credentials passed through (never stored, never logged). An
upstream error is returned as the upstream sent it and never cached. A stream is relayed as its
events arrive; :func:`open_sse` raises after the last event when the stream must not be stored
(cut, no end marker, or an error event), so the engine records only complete streams.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import Response

from semcached.errors import UpstreamError
from semcached.service.errors import ApiError, error_body, in_dialect
from semcached.service.metrics import ServiceMetrics
from semcached.service.sse import DONE, OPENAI_STREAM, SSEParser, StreamDialect
from semcached.settings import Settings, UpstreamApi

__all__ = [
    "CACHE_HEADER",
    "FORWARDED_HEADERS",
    "api_of",
    "build_upstream_client",
    "forward_headers",
    "open_sse",
    "passed_headers",
    "post_json",
    "refuse_cookies",
    "transport_failure",
    "upstream_base",
    "upstream_response",
    "upstream_url",
]

log = logging.getLogger("semcached.proxy")

CACHE_HEADER = "X-Semcached-Cache"
# Credentials and routing headers a provider needs; passed through, never stored or logged.
FORWARDED_HEADERS = (
    "authorization", "openai-organization", "openai-project", "openai-beta", "api-key",
    "x-api-key", "anthropic-version", "anthropic-beta",
)  # fmt: skip


def build_upstream_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The pooled client for the upstream: bounded timeouts, one retry on connect failure."""
    timeout = httpx.Timeout(settings.service.upstream_timeout_s, connect=10.0)
    client = httpx.AsyncClient(
        timeout=timeout,
        transport=transport or httpx.AsyncHTTPTransport(retries=1),
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
    )
    refuse_cookies(client)
    return client


def refuse_cookies(client: httpx.AsyncClient) -> None:
    """Make the client's cookie jar keep nothing: the one upstream client serves every
    tenant, so a ``Set-Cookie`` answering one caller must never ride along with another's
    request. (httpx copies a jar handed to its constructor, policy dropped, so the policy is
    set on the jar it keeps.)"""
    client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))


def api_of(path: str) -> UpstreamApi:
    """Which provider API an upstream ``path`` belongs to: ``/openai/...`` is Azure OpenAI's,
    ``/messages...`` Anthropic's, everything else OpenAI's."""
    if path.startswith("/openai/"):
        return "azure"
    if path == "/messages" or path.startswith(("/messages/", "/messages?")):
        return "anthropic"
    return "openai"


def upstream_base(settings: Settings, path: str, api: UpstreamApi | None = None) -> str | None:
    """The base URL configured for ``path``'s API (or ``api``, when the caller knows it):
    ``upstream_urls``, else ``upstream_url``."""
    return settings.upstream_urls.get(api or api_of(path)) or settings.upstream_url


def upstream_url(settings: Settings, path: str, api: UpstreamApi | None = None) -> str:
    """The upstream URL for ``path`` (``/chat/completions``); 503 when none is configured."""
    base = upstream_base(settings, path, api)
    if not base:
        api = api or api_of(path)
        raise ApiError(
            503,
            "upstream_not_configured",
            f"this request is not in the cache, and no upstream is configured to answer it "
            f"(the {api} API)",
            field=None,
            fix=f"start the service with --upstream-url URL or --upstream {api}=URL (or set "
            f'SEMCACHED_UPSTREAM_URL or SEMCACHED_UPSTREAM_URLS=\'{{"{api}": "URL"}}\')',
        )
    return base.rstrip("/") + path


def forward_headers(request: Request) -> dict[str, str]:
    return {name: request.headers[name] for name in FORWARDED_HEADERS if name in request.headers}


def upstream_response(exc: UpstreamError, path: str) -> Response:
    """The caller's answer to an upstream failure: the upstream's own status and body, or
    semcached's error (unreachable, timeout, unreadable answer) in the dialect of the route
    at ``path`` (OpenAI's SDK fields, or Anthropic's shape on /v1/messages)."""
    body = exc.body
    if exc.own and body:
        body = json.dumps(in_dialect(path, exc.status, json.loads(body))).encode()
    return Response(
        body,
        status_code=exc.status,
        media_type="application/json",
        headers={**exc.headers, CACHE_HEADER: "miss"},
    )


def transport_failure(exc: httpx.HTTPError) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        status, reason, what = 504, "timeout", "did not answer in time"
    else:
        status, reason, what = 502, "unreachable", "could not be reached"
    message = f"the upstream provider {what}: {type(exc).__name__}: {exc}"
    body = error_body(
        f"upstream_{reason}",
        message,
        fix="check the upstream URL configured for this API (SEMCACHED_UPSTREAM_URL, or its "
        "entry in SEMCACHED_UPSTREAM_URLS) and the provider's status, then retry",
    )
    return UpstreamError(
        message, status=status, body=json.dumps(body).encode(), reason=reason, own=True
    )


def passed_headers(headers: httpx.Headers) -> dict[str, str]:
    """The upstream's headers a caller acts on (backoff, rate limits, support ids, timing)."""
    return {
        name: value
        for name, value in headers.items()
        if name
        in ("retry-after", "retry-after-ms", "x-request-id", "request-id", "openai-processing-ms")
        or name.startswith(("x-ratelimit-", "anthropic-ratelimit-"))
    }


def _http_failure(
    status: int, body: bytes, headers: Mapping[str, str] | None = None
) -> UpstreamError:
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    own = not (isinstance(parsed, dict) and "error" in parsed)
    if own:
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
        own=own,
    )


def _count_failure(metrics: ServiceMetrics, reason: str) -> None:
    metrics.upstream_requests.labels(outcome="error").inc()
    metrics.upstream_errors.labels(reason=reason).inc()


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    metrics: ServiceMetrics,
    *,
    seen: dict[str, str] | None = None,
) -> Any:
    """POST ``payload`` and return the upstream's JSON answer; :class:`UpstreamError` else.
    ``seen`` receives the upstream's headers a caller acts on (request id, rate limits)."""
    try:
        reply = await client.post(url, json=payload, headers=dict(headers))
    except httpx.HTTPError as exc:
        failure = transport_failure(exc)
        _count_failure(metrics, failure.reason)
        raise failure from exc
    if reply.status_code >= 400:
        failure = _http_failure(reply.status_code, reply.content, passed_headers(reply.headers))
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
            "upstream answered non-JSON",
            status=502,
            body=json.dumps(body).encode(),
            reason="bad",
            own=True,
        ) from exc
    metrics.upstream_requests.labels(outcome="ok").inc()
    if seen is not None:
        seen.update(passed_headers(reply.headers))
    return answer


async def open_sse(
    client: httpx.AsyncClient,
    url: str,
    payload: Mapping[str, Any],
    headers: Mapping[str, str],
    metrics: ServiceMetrics,
    *,
    seen: dict[str, str] | None = None,
    dialect: StreamDialect = OPENAI_STREAM,
) -> AsyncIterator[str]:
    """The upstream's server-sent events, as the ``data`` of each (``[DONE]`` left out).

    Raises :class:`UpstreamError` before the first event when the upstream fails or answers an
    error status, and after the last one when the stream must not be stored.
    """
    try:
        reply = await client.send(
            client.build_request("POST", url, json=payload, headers=dict(headers)), stream=True
        )
    except httpx.HTTPError as exc:
        failure = transport_failure(exc)
        _count_failure(metrics, failure.reason)
        raise failure from exc
    if reply.status_code >= 400:
        content = await reply.aread()
        await reply.aclose()
        failure = _http_failure(reply.status_code, content, passed_headers(reply.headers))
        _count_failure(metrics, failure.reason)
        raise failure
    if seen is not None:
        seen.update(passed_headers(reply.headers))
    recording = dialect.recording()  # knows how this API's streams end
    parser = SSEParser()
    try:
        try:
            async for line in reply.aiter_lines():
                for data in parser.feed_line(line):
                    recording.add(data)
                    if data.strip() != DONE:
                        yield data
            for data in parser.flush():
                recording.add(data)
                if data.strip() != DONE:
                    yield data
        except httpx.HTTPError as exc:
            _count_failure(metrics, "stream_cut")
            log.warning("upstream stream cut after %d events: %s", len(recording.events), exc)
            message = f"the upstream stream was cut after {len(recording.events)} events: {exc}"
            body = json.dumps(error_body("upstream_stream_cut", message)).encode()
            raise UpstreamError(
                message, status=502, body=body, reason="stream_cut", own=True
            ) from exc
    finally:
        await reply.aclose()
    if not recording.complete:
        reason = "stream_error_event" if recording.error else "stream_incomplete"
        _count_failure(metrics, reason)
        why = recording.error or "it had no [DONE]"
        log.warning("not caching an upstream stream: %s", why)
        raise UpstreamError(
            f"the upstream stream is not stored: {why}",
            status=502,
            body=b"",
            reason=reason,
            done=recording.done,
        )
    metrics.upstream_requests.labels(outcome="ok").inc()
