"""The cache controls callers already send, read once per request.

Three spellings of the same wishes, combined (any one asking to skip wins; an explicit TTL
header wins over the body's):

* semcached's headers: ``X-Semcached-Skip-Lookup``, ``X-Semcached-Skip-Store``,
  ``X-Semcached-TTL`` (seconds), ``X-Semcached-Namespace``;
* HTTP's ``Cache-Control`` request directives, with their meanings for a shared cache:
  ``no-cache`` (do not serve from the cache; the answer is still stored), ``no-store`` (do not
  store the answer), ``max-age=N`` (serve only an entry younger than N seconds), ``s-maxage=N``
  (the same, and it takes precedence over ``max-age``, as RFC 9111 says for shared caches);
* LiteLLM's body field ``cache``: ``{"no-cache": true, "no-store": true, "ttl": 600,
  "s-maxage": 60, "namespace": "team-a"}``. The field is removed from the request: it never
  reaches the upstream and never changes the cache key.

A malformed control is a 422 naming it (``Cache-Control``, ``cache.ttl``...), never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query

from semcached.service.auth import Caller, get_caller
from semcached.service.errors import ApiError
from semcached.service.openapi_errors import documented_errors

__all__ = [
    "BODY_FIELD",
    "CACHED_RESPONSES",
    "MAX_TTL_S",
    "CacheControls",
    "CallContext",
    "ControlHeaders",
    "call_context",
    "control_headers",
    "read_controls",
]

BODY_FIELD = "cache"
MAX_TTL_S = 10 * 365 * 24 * 3600.0
_BODY_KEYS = ("no-cache", "no-store", "ttl", "s-maxage", "namespace")


@dataclass(frozen=True, slots=True)
class CacheControls:
    """What the caller asked of the cache for this one request."""

    skip_lookup: bool = False
    skip_store: bool = False
    ttl_s: float | None = None
    max_age_s: float | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class ControlHeaders:
    """The control headers of a request, as sent (read by :func:`control_headers`)."""

    namespace: str | None = None
    ttl_s: float | None = None
    skip_lookup: str | None = None
    skip_store: str | None = None
    cache_control: str | None = None


async def control_headers(
    *,
    x_semcached_namespace: Annotated[
        str | None, Header(alias="X-Semcached-Namespace", max_length=256)
    ] = None,
    namespace: Annotated[
        str | None,
        Query(description="Namespace of this call (as X-Semcached-Namespace).", max_length=256),
    ] = None,
    x_semcached_ttl: Annotated[
        float | None, Header(alias="X-Semcached-TTL", gt=0.0, le=MAX_TTL_S)
    ] = None,
    x_semcached_skip_lookup: Annotated[str | None, Header(alias="X-Semcached-Skip-Lookup")] = None,
    x_semcached_skip_store: Annotated[str | None, Header(alias="X-Semcached-Skip-Store")] = None,
    cache_control: Annotated[str | None, Header(alias="Cache-Control")] = None,
) -> ControlHeaders:
    """FastAPI dependency: the cache-control headers every cached provider route takes
    (``?namespace=`` counts as the namespace header: never silently ignored)."""
    if namespace and x_semcached_namespace and namespace != x_semcached_namespace:
        raise ApiError(
            422,
            "invalid_request",
            f"?namespace={namespace!r} and X-Semcached-Namespace {x_semcached_namespace!r} differ",
            field="namespace",
            fix="send the namespace once",
        )
    return ControlHeaders(
        namespace=namespace or x_semcached_namespace, ttl_s=x_semcached_ttl,
        skip_lookup=x_semcached_skip_lookup, skip_store=x_semcached_skip_store,
        cache_control=cache_control,
    )  # fmt: skip


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


def _seconds(value: Any, field: str, *, upper: float = MAX_TTL_S, zero: bool = True) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and (value >= 0 if zero else value > 0) and value <= upper:
        return float(value)
    low = ">= 0" if zero else "> 0"
    raise ApiError(
        422,
        "invalid_cache_control",
        f"{field} must be a number of seconds {low} and at most {upper:g}, got {value!r}",
        field=field,
        fix=f"send {field} as seconds, e.g. 600",
    )


def _cache_control(header: str | None) -> tuple[bool, bool, float | None]:
    """(no-cache, no-store, max-age) from a ``Cache-Control`` request header."""
    no_cache = no_store = False
    max_age: float | None = None
    shared: float | None = None
    for raw in (header or "").split(","):
        directive = raw.strip().lower()
        if not directive:
            continue
        name, _, value = directive.partition("=")
        name, value = name.strip(), value.strip().strip('"')
        if name == "no-cache":
            no_cache = True
        elif name == "no-store":
            no_store = True
        elif name in ("max-age", "s-maxage"):
            if not value.isdigit():
                raise ApiError(
                    422,
                    "invalid_cache_control",
                    f"Cache-Control {name} needs a whole number of seconds, got {raw.strip()!r}",
                    field="Cache-Control",
                    fix=f"send e.g. `Cache-Control: {name}=600`",
                )
            if name == "max-age":
                max_age = float(value)
            else:
                shared = float(value)
        # Other directives (max-stale, only-if-cached, ...) are not promised: ignored, as
        # HTTP caches ignore directives they do not implement.
    return no_cache, no_store, shared if shared is not None else max_age


def _body_controls(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ApiError(
            422,
            "invalid_cache_control",
            f'{BODY_FIELD} must be an object such as {{"no-cache": true}}, got {value!r}',
            field=BODY_FIELD,
            fix=f"send {BODY_FIELD} as an object with some of {list(_BODY_KEYS)}",
        )
    unknown = [k for k in value if k not in _BODY_KEYS]
    if unknown:
        raise ApiError(
            422,
            "invalid_cache_control",
            f"{BODY_FIELD} has unknown control(s) {unknown}",
            field=f"{BODY_FIELD}.{unknown[0]}",
            fix=f"use some of {list(_BODY_KEYS)}",
        )
    out: dict[str, Any] = {}
    for key in ("no-cache", "no-store"):
        if key in value:
            if not isinstance(value[key], bool):
                raise ApiError(
                    422,
                    "invalid_cache_control",
                    f"{BODY_FIELD}.{key} must be true or false, got {value[key]!r}",
                    field=f"{BODY_FIELD}.{key}",
                    fix=f"send {BODY_FIELD}.{key} as true or false",
                )
            out[key] = value[key]
    if "ttl" in value:
        out["ttl"] = _seconds(value["ttl"], f"{BODY_FIELD}.ttl", zero=False)
    if "s-maxage" in value:
        out["s-maxage"] = _seconds(value["s-maxage"], f"{BODY_FIELD}.s-maxage")
    if "namespace" in value:
        namespace = value["namespace"]
        if not isinstance(namespace, str) or not 0 < len(namespace) <= 256:
            raise ApiError(
                422,
                "invalid_cache_control",
                f"{BODY_FIELD}.namespace must be a non-empty string, got {namespace!r}",
                field=f"{BODY_FIELD}.namespace",
                fix="send the namespace's name",
            )
        out["namespace"] = namespace
    return out


def read_controls(
    payload: dict[str, Any],
    headers: ControlHeaders | None = None,
    *,
    cache_control: str | None = None,
    skip_lookup: str | None = None,
    skip_store: str | None = None,
    ttl_s: float | None = None,
    namespace: str | None = None,
) -> CacheControls:
    """The controls of one request (``headers``, or the same values one by one); removes the
    body's ``cache`` field from ``payload``."""
    if headers is not None:
        cache_control, skip_lookup, skip_store = (
            headers.cache_control, headers.skip_lookup, headers.skip_store
        )  # fmt: skip
        ttl_s, namespace = headers.ttl_s, headers.namespace
    body = _body_controls(payload.pop(BODY_FIELD, None))
    no_cache, no_store, max_age = _cache_control(cache_control)
    body_namespace = body.get("namespace")
    if namespace is not None and body_namespace is not None and namespace != body_namespace:
        raise ApiError(
            422,
            "invalid_cache_control",
            f"the X-Semcached-Namespace header says {namespace!r} but {BODY_FIELD}.namespace "
            f"says {body_namespace!r}",
            field=f"{BODY_FIELD}.namespace",
            fix="send the namespace once",
        )
    return CacheControls(
        skip_lookup=_flag(skip_lookup, "X-Semcached-Skip-Lookup")
        or no_cache
        or bool(body.get("no-cache")),
        skip_store=_flag(skip_store, "X-Semcached-Skip-Store")
        or no_store
        or bool(body.get("no-store")),
        ttl_s=ttl_s if ttl_s is not None else body.get("ttl"),
        max_age_s=body.get("s-maxage", max_age),
        namespace=namespace if namespace is not None else body_namespace,
    )


@dataclass(frozen=True, slots=True)
class CallContext:
    """What every cached provider route reads besides its body: who calls, and how the cache
    should treat this call."""

    caller: Caller
    controls: ControlHeaders
    threshold: float | None = None


async def call_context(
    caller: Annotated[Caller, Depends(get_caller)],
    controls: Annotated[ControlHeaders, Depends(control_headers)],
    x_semcached_threshold: Annotated[
        float | None, Header(alias="X-Semcached-Threshold", ge=0.0, le=1.0)
    ] = None,
) -> CallContext:
    """FastAPI dependency: the :class:`CallContext` of a cached provider route."""
    return CallContext(caller, controls, x_semcached_threshold)


# The documented answers of a cached provider route (OpenAPI).
CACHED_RESPONSES: dict[int | str, dict[str, Any]] = documented_errors(
    {
        200: {
            "description": "The answer (JSON, or the API's server-sent events when streaming).",
            "content": {"application/json": {}, "text/event-stream": {}},
        },
        422: {"description": "The request or a cache control is invalid; the body names it."},
        502: {"description": "The upstream could not be reached."},
        503: {"description": "A miss, and no upstream is configured."},
    }
)
