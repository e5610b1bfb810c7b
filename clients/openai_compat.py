"""Helpers for the ``openai`` package: point it at the proxy, steer one call, read the outcome.

Example::

    from semcached.clients import cache_headers, cache_info, openai_client

    client = openai_client("http://127.0.0.1:8080/v1", namespace="support")
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}],
        extra_headers=cache_headers(threshold=0.97))
    print(cache_info(raw.headers))     # CacheInfo(kind='semantic', similarity=0.99, ...)
    completion = raw.parse()

``openai`` is imported only when these helpers are called (``pip install openai``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from semcached.errors import ConfigurationError

if TYPE_CHECKING:
    import openai

__all__ = [
    "CacheInfo",
    "async_openai_client",
    "cache_headers",
    "cache_info",
    "openai_client",
    "proxy_base_url",
]

DEFAULT_PROXY_URL = "http://127.0.0.1:8080/v1"


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """What the proxy's response headers say: ``kind`` is exact, semantic, miss, bypass..."""

    kind: str | None
    similarity: float | None
    entry_id: str | None
    namespace: str | None

    @property
    def hit(self) -> bool:
        return self.kind in ("exact", "semantic")


def cache_info(headers: Mapping[str, str]) -> CacheInfo:
    """Read ``X-Semcached-*`` response headers (e.g. ``raw_response.headers``)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    similarity = lowered.get("x-semcached-similarity")
    return CacheInfo(
        kind=lowered.get("x-semcached-cache"),
        similarity=None if similarity is None else float(similarity),
        entry_id=lowered.get("x-semcached-entry-id"),
        namespace=lowered.get("x-semcached-namespace"),
    )


def cache_headers(
    *,
    namespace: str | None = None,
    threshold: float | None = None,
    ttl_s: float | None = None,
    skip_lookup: bool = False,
    skip_store: bool = False,
    semcached_key: str | None = None,
) -> dict[str, str]:
    """Request headers steering one proxied call (pass as ``extra_headers=``)."""
    headers: dict[str, str] = {}
    if namespace is not None:
        headers["X-Semcached-Namespace"] = namespace
    if threshold is not None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigurationError(f"threshold must be within [0, 1], got {threshold}")
        headers["X-Semcached-Threshold"] = repr(float(threshold))
    if ttl_s is not None:
        if ttl_s <= 0:
            raise ConfigurationError(f"ttl_s must be positive, got {ttl_s}")
        headers["X-Semcached-TTL"] = repr(float(ttl_s))
    if skip_lookup:
        headers["X-Semcached-Skip-Lookup"] = "true"
    if skip_store:
        headers["X-Semcached-Skip-Store"] = "true"
    if semcached_key is not None:
        headers["X-Semcached-Key"] = semcached_key
    return headers


def _options(
    base_url: str,
    api_key: str | None,
    semcached_key: str | None,
    namespace: str | None,
    kwargs: dict[str, Any],
) -> dict[str, Any]:
    headers = dict(kwargs.pop("default_headers", None) or {})
    headers.update(cache_headers(namespace=namespace, semcached_key=semcached_key))
    key = api_key or os.environ.get("OPENAI_API_KEY") or "unused-by-cache-hits"
    return {"base_url": proxy_base_url(base_url), "api_key": key, "default_headers": headers,
            **kwargs}  # fmt: skip


def proxy_base_url(base_url: str) -> str:
    """The sidecar's OpenAI base URL, given with or without ``/v1``
    (``http://127.0.0.1:8080`` and ``http://127.0.0.1:8080/v1/`` both give ``.../v1``)."""
    trimmed = base_url.rstrip("/")
    return trimmed if trimmed.endswith("/v1") else trimmed + "/v1"


def openai_client(
    base_url: str = DEFAULT_PROXY_URL,
    *,
    api_key: str | None = None,
    semcached_key: str | None = None,
    namespace: str | None = None,
    **kwargs: Any,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` that goes through the semcached proxy.

    ``api_key`` is the provider's key (default ``OPENAI_API_KEY``), passed through to the
    upstream; ``semcached_key`` is the service's own API key, when it has keys configured.
    """
    import openai

    return openai.OpenAI(**_options(base_url, api_key, semcached_key, namespace, kwargs))


def async_openai_client(
    base_url: str = DEFAULT_PROXY_URL,
    *,
    api_key: str | None = None,
    semcached_key: str | None = None,
    namespace: str | None = None,
    **kwargs: Any,
) -> openai.AsyncOpenAI:
    """The ``openai.AsyncOpenAI`` twin of :func:`openai_client`."""
    import openai

    return openai.AsyncOpenAI(**_options(base_url, api_key, semcached_key, namespace, kwargs))
