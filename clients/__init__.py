"""Clients for semcached: the HTTP API from Python, and one-line wrappers for any LLM call.

Example::

    from semcached.clients import Client, cached

    with Client("http://127.0.0.1:8080") as cache:
        reply = cache.lookup({"model": "gpt-4o-mini",
                              "messages": [{"role": "user", "content": "Hi"}]})
        print(reply.hit, reply.explanation)

``cached()`` / ``get_or_call()`` take a ``Client`` or an in-process ``SemanticCache`` alike.
"""

from __future__ import annotations

from semcached.clients.answers import (
    BackendStatus,
    CacheAnswer,
    DeleteReply,
    FeedbackReply,
    LookupReply,
    Readiness,
    StoreReply,
)
from semcached.clients.base import RetryPolicy
from semcached.clients.client import AsyncClient, Client
from semcached.clients.openai_compat import (
    CacheInfo,
    async_openai_client,
    cache_headers,
    cache_info,
    openai_client,
)
from semcached.clients.wrap import aget_or_call, cached, get_or_call

__all__ = [
    "AsyncClient",
    "BackendStatus",
    "CacheAnswer",
    "CacheInfo",
    "Client",
    "DeleteReply",
    "FeedbackReply",
    "LookupReply",
    "Readiness",
    "RetryPolicy",
    "StoreReply",
    "aget_or_call",
    "async_openai_client",
    "cache_headers",
    "cache_info",
    "cached",
    "get_or_call",
    "openai_client",
]
