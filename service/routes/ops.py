"""Operations: ``/healthz``, ``/readyz`` (each backend checked), ``/metrics``, ``/v1/stats``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from semcached.engine.acache import AsyncSemanticCache
from semcached.redaction import redact_text
from semcached.service.auth import Caller, get_caller
from semcached.service.errors import error_body
from semcached.service.metrics import CONTENT_TYPE, ServiceMetrics
from semcached.wire import BackendStatus, Readiness

__all__ = ["router"]

router = APIRouter()

READY_TIMEOUT_S = 5.0


@router.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["ops"],
    summary="Readiness: the service answers; each backend's state in the body",
    response_model=Readiness,
    responses={
        503: {
            "description": "A backend is down and SEMCACHED_SERVICE__STRICT_READINESS is on; "
            "the body names it."
        }
    },
)
async def readyz(request: Request) -> JSONResponse:
    """``ready`` when every backend answers; ``degraded`` (still 200) when one is down, since
    lookups then fail open and every request is still answered: a load balancer should not
    take out every replica because their one shared Redis restarts. Strict readiness
    (``SEMCACHED_SERVICE__STRICT_READINESS=true``) answers 503 instead."""
    cache: AsyncSemanticCache = request.app.state.cache
    settings = request.app.state.settings
    metrics: ServiceMetrics = request.app.state.metrics
    health = await cache.check_backends(READY_TIMEOUT_S)
    backends = {
        name: BackendStatus(ok=h.ok, detail=redact_text(h.detail), ms=h.ms)
        for name, h in health.items()
    }
    for name, status in backends.items():
        metrics.backend_up.labels(backend=name).set(1 if status.ok else 0)
    down = [name for name, status in backends.items() if not status.ok]
    strict = settings.service.strict_readiness
    state = "ready" if not down else ("not_ready" if strict else "degraded")
    body: dict[str, Any] = Readiness(
        status=state,
        backends=backends,
        upstream=_without_credentials(settings.upstream_url),
        upstreams={api: _without_credentials(url) for api, url in settings.upstream_urls.items()},
    ).model_dump()
    if not down:
        return JSONResponse(body)
    details = "; ".join(f"{name}: {backends[name].detail}" for name in down)
    body.update(
        error_body(
            "not_ready" if strict else "degraded",
            f"{', '.join(down)} {'is' if len(down) == 1 else 'are'} down ({details}); cache "
            "lookups fail open to the upstream meanwhile",
            field=None,
            fix="start or reconnect the named backend (see SEMCACHED_REDIS_URL, "
            "SEMCACHED_CHROMA_URL); readiness recovers by itself",
        )
    )
    return JSONResponse(body, status_code=503 if strict else 200)


def _without_credentials(url: str | None) -> str | None:
    """The upstream URL as safe to show: any ``user:password@`` removed."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


@router.get(
    "/metrics",
    tags=["ops"],
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    registry: ServiceMetrics = request.app.state.metrics
    return Response(registry.render(), media_type=CONTENT_TYPE)


@router.get("/v1/stats", tags=["ops"], summary="Counters, hit rate and mean latency per stage")
async def stats(request: Request, caller: Annotated[Caller, Depends(get_caller)]) -> dict[str, Any]:
    cache: AsyncSemanticCache = request.app.state.cache
    snapshot: dict[str, Any] = dict(cache.stats.snapshot())
    service: ServiceMetrics = request.app.state.metrics
    snapshot["tokens_saved"] = int(
        sum(
            sample.value
            for metric in service.tokens_saved.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
    )
    return snapshot
