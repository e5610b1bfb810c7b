"""Operations: ``/healthz``, ``/readyz`` (each backend checked), ``/metrics``, ``/v1/stats``."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from semcached.engine.acache import AsyncSemanticCache
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
    summary="Readiness: the exact store, the vector index and the embedder each answer",
    response_model=Readiness,
    responses={503: {"description": "A backend is down; the body names it."}},
)
async def readyz(request: Request) -> JSONResponse:
    cache: AsyncSemanticCache = request.app.state.cache
    health = await cache.check_backends(READY_TIMEOUT_S)
    backends = {
        name: BackendStatus(ok=h.ok, detail=h.detail, ms=h.ms) for name, h in health.items()
    }
    down = [name for name, status in backends.items() if not status.ok]
    body: dict[str, Any] = Readiness(
        status="not_ready" if down else "ready",
        backends=backends,
        upstream=_without_credentials(request.app.state.settings.upstream_url),
    ).model_dump()
    if not down:
        return JSONResponse(body)
    details = "; ".join(f"{name}: {backends[name].detail}" for name in down)
    body.update(
        error_body(
            "not_ready",
            f"{', '.join(down)} {'is' if len(down) == 1 else 'are'} down ({details}); cache "
            "lookups fail open to the upstream meanwhile",
            field=None,
            fix="start or reconnect the named backend (see SEMCACHED_REDIS_URL, "
            "SEMCACHED_CHROMA_URL); readiness recovers by itself",
        )
    )
    return JSONResponse(body, status_code=503)


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
