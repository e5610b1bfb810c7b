"""Operations: ``/healthz``, ``/readyz`` (each backend checked), ``/metrics``, ``/v1/stats``."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from semcached.engine.acache import AsyncSemanticCache
from semcached.service.auth import Caller, get_caller
from semcached.service.errors import error_body
from semcached.service.metrics import CONTENT_TYPE, ServiceMetrics

__all__ = ["BackendStatus", "Readiness", "router"]

router = APIRouter()

READY_TIMEOUT_S = 5.0


class BackendStatus(BaseModel):
    """One backend's state in ``/readyz``."""

    ok: bool
    detail: str = Field(description="`ok`, or what failed.")
    ms: float = Field(description="How long the check took.")


class Readiness(BaseModel):
    status: str = Field(description="`ready` or `not_ready`.")
    backends: dict[str, BackendStatus]
    upstream: str | None = Field(description="The configured upstream base URL, if any.")


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
    engine = cache.sync
    checks = {
        "exact_store": engine.exact_store.ping,
        "vector_index": engine.semantic.backend.heartbeat,
        "embedder": lambda: engine.embedder.embed(["readiness probe"]),
    }
    results = await asyncio.gather(*(_check(fn) for fn in checks.values()))
    backends = dict(zip(checks, results, strict=True))
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


async def _check(fn: Any) -> BackendStatus:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.to_thread(fn), timeout=READY_TIMEOUT_S)
    except TimeoutError:
        detail = f"no answer within {READY_TIMEOUT_S:g}s"
    except Exception as exc:  # any failure means not ready; the message says which
        detail = f"{type(exc).__name__}: {exc}"
    else:
        detail = "ok"
    ms = round((time.perf_counter() - start) * 1000, 3)
    return BackendStatus(ok=detail == "ok", detail=detail, ms=ms)


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
