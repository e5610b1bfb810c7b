"""Every provider route the cache does not handle, relayed to the upstream as it is.

Point an SDK's base URL at the sidecar and every call works: ``GET /v1/models``,
``POST /v1/embeddings``, file uploads, batches, anything under ``/v1/`` that is not
semcached's own (``/v1/cache/``, ``/v1/knowledge/``, ``/v1/search``, ``/v1/stats``) goes to
``SEMCACHED_UPSTREAM_URL`` with its method, query string, body and headers, and its answer
(status, headers, body, streamed as it arrives) comes back unchanged. Nothing relayed is ever
cached; ``X-Semcached-Cache: bypass`` says so. The client keeps no cookies, so nothing one
caller's upstream answer set reaches another caller.

Hop-by-hop headers (RFC 9110 7.6.1), ``Host`` and semcached's own ``X-Semcached-*`` headers are
not relayed; a caller's ``Authorization`` is (it is the provider's credential here), and is
never stored or logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.routing import compile_path

from semcached.service.auth import get_caller
from semcached.service.errors import OWN_PREFIXES, ApiError, in_dialect
from semcached.service.metrics import ServiceMetrics
from semcached.service.upstream import CACHE_HEADER, transport_failure, upstream_url
from semcached.settings import UpstreamApi

__all__ = ["forward_as_is", "relay", "router"]

log = logging.getLogger("semcached.service")

router = APIRouter(tags=["pass-through"])

_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _request_headers(request: Request) -> dict[str, str]:
    return {
        name: value
        for name, value in request.headers.items()
        if name not in _HOP_BY_HOP and not name.startswith("x-semcached-")
    }


def _response_headers(reply: httpx.Response) -> dict[str, str]:
    # content-encoding stays: the body is relayed raw, as the upstream encoded it.
    return {
        name: value
        for name, value in reply.headers.items()
        if name not in _HOP_BY_HOP and name != "set-cookie"
    }


def _methods_of(request: Request, path: str) -> set[str]:
    """The methods semcached's own routes serve at ``path`` (none: no such route), read from
    the app's OpenAPI schema (FastAPI caches it; the relay itself is not in it)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        regex, _, _ = compile_path(template)
        if regex.match(path):
            methods |= {m.upper() for m in operations}
    return methods


@router.api_route(
    "/v1/{path:path}",
    methods=_METHODS,
    include_in_schema=False,  # the provider's API, not semcached's: see the module doc
    dependencies=[Depends(get_caller)],
)
async def relay(path: str, request: Request) -> Response:
    """Relay one request to the upstream and its answer back, streamed, never cached."""
    full = f"/v1/{path}"
    # semcached's own routes under /v1 are never relayed (a typo there is semcached's 404, a
    # route asked with the wrong method its 405).
    if full.startswith(OWN_PREFIXES) or full in {p.rstrip("/") for p in OWN_PREFIXES}:
        allowed = _methods_of(request, full)
        if allowed:
            raise ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {full}",
                field="method",
                fix=f"use {' or '.join(sorted(allowed))}",
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        raise ApiError(
            404,
            "not_found",
            f"no semcached route {request.method} {full}",
            field="path",
            fix="see GET /docs for semcached's own routes; provider routes are relayed",
        )
    return await forward_as_is(request, f"/{path}")


async def forward_as_is(request: Request, path: str) -> Response:
    """Send ``request`` to the upstream base URL + ``path`` (query, body, headers as sent) and
    stream its answer back unchanged, never cached."""
    full = request.url.path
    metrics: ServiceMetrics = request.app.state.metrics
    client: httpx.AsyncClient = request.app.state.upstream
    # Anthropic's SDK also calls paths that are not /messages (/v1/models, /v1/files...):
    # its anthropic-version header says whose API a relayed call is.
    api: UpstreamApi | None = "anthropic" if "anthropic-version" in request.headers else None
    url = upstream_url(request.app.state.settings, path, api)
    body = await request.body()
    outgoing = client.build_request(
        request.method,
        url,
        params=request.url.query or None,
        content=body or None,
        headers=_request_headers(request),
    )
    try:
        reply = await client.send(outgoing, stream=True)
    except httpx.HTTPError as exc:
        metrics.upstream_requests.labels(outcome="error").inc()
        failure = transport_failure(exc)
        metrics.upstream_errors.labels(reason=failure.reason).inc()
        shaped = in_dialect(full, failure.status, json.loads(failure.body))
        return Response(
            json.dumps(shaped).encode(), status_code=failure.status,
            media_type="application/json", headers={CACHE_HEADER: "bypass"},
        )  # fmt: skip
    metrics.upstream_requests.labels(outcome="ok" if reply.status_code < 400 else "error").inc()
    metrics.passthrough_requests.labels(method=request.method).inc()
    headers = _response_headers(reply)
    headers[CACHE_HEADER] = "bypass"

    async def chunks() -> AsyncIterator[bytes]:
        try:
            if reply.is_stream_consumed:  # an in-memory answer (httpx reads those at once)
                yield reply.content
                return
            async for chunk in reply.aiter_raw():
                yield chunk
        except httpx.HTTPError as exc:
            # The status line is sent: the caller sees a body cut short (as from the provider).
            log.warning("relayed %s %s cut by the upstream: %s", request.method, full, exc)
            metrics.upstream_errors.labels(reason="stream_cut").inc()
        finally:
            await reply.aclose()

    return StreamingResponse(chunks(), status_code=reply.status_code, headers=headers)
