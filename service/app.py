"""The FastAPI application factory: ``create_app(settings)``.

Contract for route modules (the cache API, the OpenAI proxy, knowledge search):

* ``app.state.settings``: the :class:`~semcached.settings.Settings` the app was built with.
* ``app.state.cache``: the :class:`~semcached.engine.AsyncSemanticCache` (its ``.embedder`` is
  the loaded model, to share).
  Heavy objects are built once, here, at factory time; tests inject a pre-built cache with
  ``create_app(settings, cache=...)`` to share one model across apps.
* ``app.state.keyring``: the API keys; routes get the caller with the dependencies of
  :mod:`semcached.service.auth` (``get_caller`` -> ``Caller``, ``caller_namespace`` -> ``str``),
  which answer 401/403 in the shared error shape.
* ``app.state.metrics``: :class:`~semcached.service.metrics.ServiceMetrics` (its ``registry``
  is what ``GET /metrics`` exposes; add your own metrics to it).
* ``app.state.knowledge``: set only when ``semcached.service.routes.knowledge`` exists. That
  module provides ``build_router() -> APIRouter`` (included as is) and may provide
  ``build_knowledge(settings, *, embedder) -> object``, called once here unless
  ``create_app(..., knowledge=...)`` injects one.
* Errors: raise :class:`~semcached.service.errors.ApiError` (or let ``InvalidRequestError`` /
  ``BackendError`` escape); every 4xx/5xx leaves as
  ``{"error": {"type", "message", "field", "fix"}}``, never a bare 500.
* Never block the event loop: call the async cache, or ``asyncio.to_thread`` for sync work.

Example::

    import uvicorn
    from semcached.service.app import create_app
    from semcached.settings import Settings

    uvicorn.run(create_app(Settings()), host="127.0.0.1", port=8080)
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from semcached.engine.acache import AsyncSemanticCache
from semcached.engine.cache import SemanticCache
from semcached.service.auth import KeyRing
from semcached.service.errors import (
    error_body,
    in_dialect,
    install_error_handlers,
)
from semcached.service.json_response import FastJSONResponse
from semcached.service.metrics import ServiceMetrics
from semcached.service.openapi_errors import ERROR_RESPONSES
from semcached.settings import Settings

__all__ = ["LimitsAndTiming", "create_app"]

log = logging.getLogger("semcached.service")
KNOWLEDGE_MODULE = "semcached.service.routes.knowledge"

API_DESCRIPTION = """\
A semantic cache for LLM calls, as a sidecar.

* `POST /v1/chat/completions`: an OpenAI-compatible proxy. Point any OpenAI SDK at
  `http://host:port/v1`; hits come from the cache, misses go to the configured upstream.
* `/v1/cache/*`: look up, store, delete and invalidate entries, and report wrong hits.
* `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus), `GET /v1/stats`.

Every error is `{"error": {"type", "message", "field", "fix"}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    cache: SemanticCache | AsyncSemanticCache | None = None,
    knowledge: object | None = None,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the service. ``settings`` default to ``Settings()`` (``SEMCACHED_*`` variables).

    ``cache`` injects a pre-built engine (shared model in tests); ``upstream_transport``
    replaces the network under the upstream client (e.g. ``httpx.MockTransport``).
    """
    from semcached import __version__
    from semcached.service.routes import anthropic as anthropic_routes
    from semcached.service.routes import azure as azure_routes
    from semcached.service.routes import cache as cache_routes
    from semcached.service.routes import embeddings as embedding_routes
    from semcached.service.routes import openai as proxy
    from semcached.service.routes import ops as ops_routes
    from semcached.service.routes import passthrough
    from semcached.service.routes import responses as responses_routes
    from semcached.service.upstream import build_upstream_client

    settings = settings or Settings()
    owns_cache = cache is None
    if cache is None:
        acache = AsyncSemanticCache(settings)
    elif isinstance(cache, AsyncSemanticCache):
        acache = cache
    else:
        acache = AsyncSemanticCache(cache=cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.upstream is None:
            app.state.upstream = build_upstream_client(settings, upstream_transport)
        try:
            yield
        finally:
            upstream = app.state.upstream
            app.state.upstream = None
            if upstream is not None:
                await upstream.aclose()
            if owns_cache:
                await acache.aclose()

    app = FastAPI(
        title="semcached",
        version=__version__,
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own assets, not a CDN
        redoc_url=None,
        responses=ERROR_RESPONSES,  # every operation documents the error shape
        default_response_class=FastJSONResponse,
    )
    _offline_docs(app)
    app.state.settings = settings
    app.state.cache = acache
    app.state.keyring = KeyRing(settings.api_keys, default_namespace=settings.namespace)
    app.state.metrics = ServiceMetrics(acache.stats)
    app.state.upstream = None
    install_error_handlers(app)
    app.include_router(ops_routes.router)
    app.include_router(cache_routes.router)
    app.include_router(proxy.router)
    app.include_router(embedding_routes.router)
    app.include_router(anthropic_routes.router)
    app.include_router(responses_routes.router)
    app.include_router(azure_routes.router)
    _include_knowledge(app, settings, acache, knowledge)
    app.include_router(passthrough.router)  # last: whatever no route above handles
    app.add_middleware(LimitsAndTiming, max_body_bytes=settings.service.max_body_bytes)
    return app


DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) from the ``swagger-ui-bundle`` package's files: a sidecar on a
    network with no internet still shows its API docs."""
    from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="semcached API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def _include_knowledge(
    app: FastAPI, settings: Settings, cache: AsyncSemanticCache, knowledge: object | None
) -> None:
    try:
        module: Any = importlib.import_module(KNOWLEDGE_MODULE)
    except ImportError as exc:
        # Only the module's absence is tolerated; a broken import inside it must surface.
        if exc.name != KNOWLEDGE_MODULE:
            raise
        return
    if knowledge is None and hasattr(module, "build_knowledge"):
        knowledge = module.build_knowledge(settings, embedder=cache.embedder)
    app.state.knowledge = knowledge
    app.include_router(module.build_router())


class LimitsAndTiming:
    """Pure ASGI middleware: refuse oversized bodies early (413), time every request.

    Pure ASGI (not ``BaseHTTPMiddleware``) so streaming responses pass through untouched and
    the per-request overhead stays in microseconds.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None and scope["method"] in ("POST", "PUT", "PATCH"):
            # A chunked body declares no length: read it here, within the bound, and replay it.
            receive, length = await self._buffered(receive)
        if length is not None and length > self.max_body_bytes:
            body = error_body(
                "payload_too_large",
                f"the body is {length} bytes or more; at most {self.max_body_bytes} are accepted",
                fix="send a smaller request, or raise SEMCACHED_SERVICE__MAX_BODY_BYTES",
            )
            body = in_dialect(str(scope.get("path", "")), 413, body)
            await _send_json(send, 413, body)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics: ServiceMetrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                metrics.http_latency.labels(
                    route=template, method=scope["method"], status=f"{status['code'] // 100}xx"
                ).observe(time.perf_counter() - start)

    async def _buffered(self, receive: Receive) -> tuple[Receive, int | None]:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message]), None  # the client went away: let the app see it
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return receive, size
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        return _replay([{"type": "http.request", "body": body, "more_body": False}], receive), None


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
