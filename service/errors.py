"""One JSON error shape for every 4xx and 5xx the service returns.

Every error body is::

    {"error": {"type": "invalid_request", "message": "...", "field": "messages.0.content",
               "fix": "..."}}

``type`` is a stable machine-readable code, ``message`` says what was expected and what came,
``field`` names the offending part of the request (a dotted path, or ``null``) and ``fix`` says
what to do. :func:`install_error_handlers` maps every exception that can escape a route to this
shape, including the ones nobody expected (a 500 that is still JSON, never a bare one).

Route modules raise :class:`ApiError` for their own 4xx cases::

    raise ApiError(422, "invalid_request", "k must be within [1, 100], got 5000",
                   field="k", fix="ask for at most 100 results")
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from semcached.errors import (
    ApiError,
    BackendError,
    InvalidRequestError,
    ProviderError,
    SemcachedError,
)
from semcached.redaction import redact_text

__all__ = [
    "OWN_PREFIXES",
    "ApiError",
    "anthropic_shape",
    "error_body",
    "error_response",
    "in_dialect",
    "install_error_handlers",
    "openai_shape",
    "provider_route",
]

log = logging.getLogger("semcached.service")


def error_body(
    type: str, message: str, *, field: str | None = None, fix: str | None = None
) -> dict[str, Any]:
    """The error JSON: ``{"error": {"type", "message", "field", "fix"}}``. A credentialed URL
    in the message (a backend's error quoting its address) is masked: any tenant reads these."""
    return {"error": {"type": type, "message": redact_text(message), "field": field, "fix": fix}}


def error_response(
    status: int,
    type: str,
    message: str,
    *,
    field: str | None = None,
    fix: str | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """A :class:`JSONResponse` in the error shape (``extra`` adds top-level keys)."""
    body = error_body(type, message, field=field, fix=fix)
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _field_of(loc: Sequence[Any]) -> str | None:
    """``("body", "messages", 0, "content")`` -> ``"messages.0.content"``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    # pydantic adds the union member tried ("str", "list[...]") to the location: not a field.
    parts = [p for p in parts if "[" not in p and p not in ("str", "int", "float", "bool")]
    return ".".join(parts) or None


_FIXES = {
    "missing": "add the field",
    "extra_forbidden": "remove the field (check its spelling against the API docs at /docs)",
    "json_invalid": "send a valid JSON body with `Content-Type: application/json`",
    "model_attributes_type": "send a JSON object",
    "dict_type": "send a JSON object",
    "list_type": "send a JSON array",
    "string_type": "send a string",
    "bool_type": "send true or false",
    "bool_parsing": "send true or false",
    "int_type": "send an integer",
    "int_parsing": "send an integer",
    "float_type": "send a number",
    "float_parsing": "send a number",
    "greater_than": "send a larger value",
    "greater_than_equal": "send a larger value",
    "less_than": "send a smaller value",
    "less_than_equal": "send a smaller value",
    "string_too_short": "send a non-empty string",
    "string_too_long": "send a shorter string",
    "too_short": "send at least one item",
    "too_long": "send fewer items",
    "literal_error": "use one of the allowed values",
    "string_pattern_mismatch": "match the documented format",
}


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if not errors:  # pragma: no cover - FastAPI always reports at least one
        return error_response(422, "invalid_request", "the request is invalid")
    first = errors[0]
    kind = str(first.get("type", ""))
    field = _field_of(first.get("loc", ()))
    if kind == "json_invalid":
        ctx = first.get("ctx") or {}
        detail = ctx.get("error", "malformed JSON")
        return error_response(
            400,
            "invalid_json",
            f"expected a JSON body, but it could not be parsed: {detail}",
            fix=_FIXES["json_invalid"],
        )
    received = first.get("input")
    shown = repr(received)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    where = f"`{field}`" if field else "the body"
    message = f"{where}: {first.get('msg', 'invalid value')}"
    if kind == "missing" and field is None:
        message = "the request needs a JSON body"
    elif field is None:
        return error_response(
            422,
            "invalid_request",
            f"expected a JSON object as the body, got {shown}",
            fix=_FIXES["json_invalid"],
        )
    elif kind not in ("missing", "extra_forbidden"):
        message += f", got {shown}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return error_response(
        422,
        "invalid_request",
        message + more,
        field=field,
        fix=_FIXES.get(kind, "correct the field as described in the API docs at /docs"),
    )


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        exc.status, exc.type, exc.message, field=exc.field, fix=exc.fix, headers=exc.headers
    )


async def _on_invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidRequestError)
    return error_response(
        422,
        "invalid_request",
        str(exc),
        field=exc.field,
        fix=f"correct `{exc.field}` as the message says",
    )


async def _on_backend_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BackendError)
    log.warning("%s unavailable for %s %s: %s", exc.backend, request.method, request.url.path, exc)
    return error_response(
        503,
        "backend_unavailable",
        f"the {exc.backend} is unavailable, so this operation could not be done: {exc}",
        fix="retry shortly; GET /readyz says which backend is down",
        headers={"Retry-After": "2"},
    )


async def _on_provider_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProviderError)
    return error_response(
        502,
        "upstream_error",
        str(exc),
        fix="check the upstream provider (SEMCACHED_UPSTREAM_URL) and retry",
    )


async def _on_semcached_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SemcachedError)
    return error_response(400, "invalid_request", str(exc), fix="see the message")


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    kinds = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    fixes = {
        404: "see the API docs at /docs for the available paths",
        405: "see the API docs at /docs for the methods each path accepts",
    }
    return error_response(
        status,
        kinds.get(status, "http_error"),
        f"{exc.detail} ({request.method} {request.url.path})",
        fix=fixes.get(status),
        headers=exc.headers,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        f"the service failed unexpectedly ({type(exc).__name__}); it has been logged",
        fix="retry; if it persists, report it with the service log",
    )


# semcached's own routes under /v1; every other /v1 route is a provider's (OpenAI's): its
# errors speak that dialect, its Authorization is the provider's, and it is relayed.
OWN_PREFIXES = ("/v1/cache/", "/v1/knowledge/", "/v1/search", "/v1/stats")
Handler = Callable[[Request, Exception], Awaitable[JSONResponse]]


def provider_route(path: str) -> bool:
    """Whether ``path`` is one an OpenAI SDK calls (the proxy, Azure's ``/openai/`` paths and
    everything relayed)."""
    if path.startswith("/openai/"):
        return True
    return path.startswith("/v1/") and not path.startswith(OWN_PREFIXES)


def openai_shape(body: dict[str, Any]) -> dict[str, Any]:
    """The error body as OpenAI's SDKs read it: ``error.message``, ``type``, ``param`` and
    ``code``, with semcached's ``field`` and ``fix`` kept (the SDK shows the message; the fix
    is also appended to it, so an SDK user sees what to do)."""
    error = dict(body.get("error") or {})
    fix = error.get("fix")
    message = str(error.get("message", ""))
    if fix and fix not in message:
        message = f"{message} (fix: {fix})"
    shaped = {**error, "message": message, "param": error.get("field"), "code": error.get("type")}
    return {**body, "error": shaped}


_ANTHROPIC_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 422: "invalid_request_error",
    429: "rate_limit_error", 503: "overloaded_error",
}  # fmt: skip
ANTHROPIC_PREFIXES = ("/v1/messages",)


def anthropic_shape(body: dict[str, Any], status: int) -> dict[str, Any]:
    """The error body as Anthropic's SDKs read it: ``{"type": "error", "error": {"type",
    "message"}}``, semcached's ``field``, ``fix`` and own ``code`` kept, the fix in the
    message."""
    error = dict(body.get("error") or {})
    fix = error.get("fix")
    message = str(error.get("message", ""))
    if fix and fix not in message:
        message = f"{message} (fix: {fix})"
    shaped = {
        **error,
        "type": _ANTHROPIC_TYPES.get(status, "api_error"),
        "code": error.get("type"),
        "message": message,
    }
    return {"type": "error", "error": shaped}


def in_dialect(path: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    """The error body in the dialect of the route at ``path``: Anthropic's on its Messages
    route, OpenAI's on the other provider routes, semcached's own elsewhere."""
    if not isinstance(body.get("error"), dict):
        return body
    if path.startswith(ANTHROPIC_PREFIXES):
        return anthropic_shape(body, status)
    if provider_route(path):
        return openai_shape(body)
    return body


def _in_dialect(handler: Handler) -> Handler:
    async def wrapped(request: Request, exc: Exception) -> JSONResponse:
        response = await handler(request, exc)
        if not provider_route(request.url.path):
            return response
        body = json.loads(bytes(response.body))
        if not isinstance(body, dict):
            return response
        shaped = in_dialect(request.url.path, response.status_code, body)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return JSONResponse(shaped, status_code=response.status_code, headers=headers)

    return wrapped


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception a route can raise to the JSON error shape (OpenAI's on the
    provider routes, see :func:`openai_shape`)."""
    app.add_exception_handler(RequestValidationError, _in_dialect(_on_validation))
    app.add_exception_handler(ApiError, _in_dialect(_on_api_error))
    app.add_exception_handler(InvalidRequestError, _in_dialect(_on_invalid_request))
    app.add_exception_handler(BackendError, _in_dialect(_on_backend_error))
    app.add_exception_handler(ProviderError, _in_dialect(_on_provider_error))
    app.add_exception_handler(SemcachedError, _in_dialect(_on_semcached_error))
    app.add_exception_handler(StarletteHTTPException, _in_dialect(_on_http_error))
    app.add_exception_handler(Exception, _in_dialect(_on_unexpected))
