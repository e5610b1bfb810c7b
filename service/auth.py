"""API keys, each bound to one namespace.

Keys are configured hashed (``SEMCACHED_API_KEYS='{"<sha256 hex of the key>": "tenant-a"}'``;
``semcached hash-key KEY`` prints the digest), so the service never holds a key in clear.
A caller sends its key in ``X-Semcached-Key`` (every route) or as ``Authorization: Bearer``
(every route but the OpenAI proxy, where ``Authorization`` is the upstream provider's key and
is passed through untouched).

With keys configured, a caller may read and write only its own namespace: asking for another
one is a 403. With none configured there is no authentication, every namespace is open, and
``semcached serve`` binds to localhost only.

Route modules use the dependencies::

    @router.post("/v1/search")
    async def search(body: SearchBody, caller: Caller = Depends(get_caller)) -> ...:
        namespace = caller.resolve(body.namespace)      # 403 when it is not the caller's

    @router.get("/v1/things")
    async def things(namespace: str = Depends(caller_namespace)) -> ...:
        ...                                             # from ?namespace= / X-Semcached-Namespace
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Header, Query, Request

from semcached.service.errors import ApiError, provider_route

__all__ = [
    "KEY_HEADER",
    "NAMESPACE_HEADER",
    "Caller",
    "KeyRing",
    "caller_namespace",
    "get_caller",
    "hash_api_key",
    "namespace_header",
]

KEY_HEADER = "X-Semcached-Key"
NAMESPACE_HEADER = "X-Semcached-Namespace"


def namespace_header(namespace: str) -> str:
    """``namespace`` as a response header value: as is when it is printable ASCII without a
    ``%``, else percent-encoded UTF-8 (HTTP headers carry Latin-1 at most; a namespace from
    ``?namespace=`` may hold any character), so that it always decodes back unambiguously."""
    if namespace.isascii() and namespace.isprintable() and "%" not in namespace:
        return namespace
    return quote(namespace.encode("utf-8", "surrogatepass"), safe="")


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest under which an API key is configured.

    Example::

        >>> hash_api_key("secret")[:16]
        '2bb80d537b1da3e3'
    """
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the namespace it is bound to (or the default one, without keys).

    ``key_id`` is the first 8 hex digits of the key's digest, safe for logs; ``None`` when the
    service runs without keys.
    """

    namespace: str
    key_id: str | None = None

    @property
    def bound(self) -> bool:
        """True when an API key fixes the namespace."""
        return self.key_id is not None

    def resolve(self, requested: str | None, *, field: str = "namespace") -> str:
        """The namespace for ``requested`` (``None``: the caller's own); 403 if not allowed."""
        if requested is None or requested == "":
            return self.namespace
        if self.bound and requested != self.namespace:
            raise ApiError(
                403,
                "forbidden_namespace",
                f"this API key may only use namespace {self.namespace!r}, "
                f"but the request asked for {requested!r}",
                field=field,
                fix="leave the namespace out (the key's own is used) or use the key issued "
                "for that namespace",
            )
        return requested


class KeyRing:
    """The configured key digests and their namespaces; constant-time matching.

    Example::

        ring = KeyRing({hash_api_key("k-a"): "tenant-a"}, default_namespace="default")
        ring.caller("k-a")    # Caller(namespace='tenant-a', key_id='...')
    """

    def __init__(self, digests: Mapping[str, str], *, default_namespace: str) -> None:
        self._digests = {d.lower(): ns for d, ns in digests.items()}
        self.default_namespace = default_namespace

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def match(self, key: str) -> Caller | None:
        digest = hash_api_key(key)
        found: Caller | None = None
        for known, namespace in self._digests.items():
            # compare every digest, so timing says nothing about which prefix matched
            if hmac.compare_digest(known, digest):
                found = Caller(namespace=namespace, key_id=digest[:8])
        return found

    def caller(self, key: str | None, bearer: str | None = None) -> Caller:
        """The caller for the presented credentials; 401 when keys are required and wrong."""
        if not self.enabled:
            return Caller(namespace=self.default_namespace)
        if key:
            found = self.match(key)
            if found is None:
                raise _unauthorized(f"the {KEY_HEADER} header holds an unknown API key")
            return found
        if bearer:
            found = self.match(bearer)
            if found is not None:
                return found
            raise _unauthorized("the bearer token is not a known semcached API key")
        raise _unauthorized("this service requires an API key, and none was sent")


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        message,
        field=KEY_HEADER,
        fix=f"send your semcached API key in the {KEY_HEADER} header",
        headers={"WWW-Authenticate": 'Bearer realm="semcached"'},
    )


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _own_route(path: str) -> bool:
    return not provider_route(path)


def _keyring(request: Request) -> KeyRing:
    ring = getattr(request.app.state, "keyring", None)
    if not isinstance(ring, KeyRing):  # pragma: no cover - create_app always sets it
        raise RuntimeError("app.state.keyring is missing: build the app with create_app()")
    return ring


async def get_caller(
    request: Request,
    x_semcached_key: Annotated[
        str | None,
        Header(alias=KEY_HEADER, description="Your semcached API key (when keys are configured)."),
    ] = None,
) -> Caller:
    """FastAPI dependency: the authenticated caller (401 when a key is required and wrong).

    On provider routes (the proxy and everything relayed) ``Authorization`` belongs to the
    upstream provider, so only ``X-Semcached-Key`` is read there; on semcached's own routes
    (``/v1/cache/``, ``/v1/knowledge/``, ``/v1/search``, ``/v1/stats``) a bearer token works too.
    """
    ring = _keyring(request)
    bearer = None
    if _own_route(request.url.path):
        bearer = _bearer(request.headers.get("authorization"))
    return ring.caller(x_semcached_key, bearer)


async def caller_namespace(
    caller: Annotated[Caller, Depends(get_caller)],
    namespace: Annotated[
        str | None,
        Query(description="Namespace to use; defaults to the API key's own.", max_length=256),
    ] = None,
    x_semcached_namespace: Annotated[
        str | None,
        Header(alias=NAMESPACE_HEADER, description="Namespace for this call.", max_length=256),
    ] = None,
) -> str:
    """FastAPI dependency: the namespace of this call, from ``?namespace=`` or the header.

    403 when an API key is bound to another namespace.
    """
    requested = namespace if namespace else x_semcached_namespace
    return caller.resolve(requested)
