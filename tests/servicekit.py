"""Fixtures for the service and client tests: the real service on uvicorn, the fake upstream.

One service per test module, on a real port, with the session's model, a real Redis exact
store (a key prefix per module, removed after) and an embedded ChromaDB; each test gets its own
namespace so tests never see each other's entries. ``tests/conftest.py`` loads this module as a
plugin, so the fixtures (``service``, ``upstream``, ``ns``) are available to every test.
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import redis

from semcached.embeddings import CachedEmbedder, SentenceTransformerEmbedder
from semcached.engine.cache import SemanticCache
from semcached.index import ChromaBackend, RedisExactStore
from semcached.service.app import create_app
from semcached.settings import ServiceOptions, Settings
from tests.upstream import Upstream, UvicornThread, upstream_server

MAX_PROMPT_CHARS = 2_000
MAX_BODY_BYTES = 64 * 1024


@dataclass
class Service:
    url: str
    cache: SemanticCache
    settings: Settings
    upstream: Upstream
    redis_prefix: str

    @property
    def base_url(self) -> str:
        """The OpenAI base URL of the proxy."""
        return f"{self.url}/v1"


@functools.cache
def _scratch_dir() -> Path:
    """Where apps built by the tests keep embedded data (never the repository's .semcached)."""
    path = Path(tempfile.mkdtemp(prefix="semcached-service-tests-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def service_settings(upstream_url: str | None, **overrides: Any) -> Settings:
    service = ServiceOptions(max_prompt_chars=MAX_PROMPT_CHARS, max_body_bytes=MAX_BODY_BYTES)
    overrides.setdefault("data_dir", _scratch_dir())
    return Settings(upstream_url=upstream_url, service=service, **overrides)


def build_cache(
    st_embedder: SentenceTransformerEmbedder, redis_url: str, prefix: str, chroma_dir: Any
) -> SemanticCache:
    return SemanticCache(
        embedder=CachedEmbedder(st_embedder),
        exact_store=RedisExactStore(redis_url, key_prefix=prefix, timeout_s=2.0),
        vector_backend=ChromaBackend(path=chroma_dir),
    )


def drop_redis_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.unlink(*keys)
    client.close()


@pytest.fixture(scope="module")
def upstream_module() -> Iterator[tuple[Upstream, str]]:
    with upstream_server() as pair:
        yield pair


@pytest.fixture(scope="module")
def service(
    request: pytest.FixtureRequest,
    st_embedder: SentenceTransformerEmbedder,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_module: tuple[Upstream, str],
) -> Iterator[Service]:
    """The real service on uvicorn, proxying to the fake upstream."""
    state, upstream_url = upstream_module
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.module.__name__)
    prefix = f"semcached-test-{os.getpid()}-{slug}"
    cache = build_cache(st_embedder, redis_url, prefix, tmp_path_factory.mktemp("svc") / "chroma")
    settings = service_settings(upstream_url)
    server = UvicornThread(create_app(settings, cache=cache)).start()
    try:
        yield Service(server.url, cache, settings, state, prefix)
    finally:
        server.stop()
        cache.close()
        drop_redis_prefix(redis_url, prefix)


@pytest.fixture
def upstream(service: Service) -> Upstream:
    """The fake provider, with its call log and failure queue emptied for this test."""
    with service.upstream.lock:
        service.upstream.calls.clear()
        service.upstream.failures.clear()
    return service.upstream


@pytest.fixture
def ns(request: pytest.FixtureRequest) -> str:
    """A namespace of this test's own."""
    return "t-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[-50:]


def openai_sdk(
    url: str, ns: str | None = None, *, api_key: str = "sk-test", **kwargs: Any
) -> openai.OpenAI:
    """The openai SDK pointed at a sidecar (``url`` without ``/v1``), in namespace ``ns``."""
    headers = {} if ns is None else {"X-Semcached-Namespace": ns}
    return openai.OpenAI(
        base_url=f"{url}/v1", api_key=api_key, max_retries=0, default_headers=headers, **kwargs
    )


def anthropic_sdk(
    url: str, ns: str | None = None, *, api_key: str = "sk-ant-test"
) -> anthropic.Anthropic:
    """The anthropic SDK pointed at a sidecar, in namespace ``ns``."""
    headers = {} if ns is None else {"X-Semcached-Namespace": ns}
    return anthropic.Anthropic(
        base_url=url, api_key=api_key, max_retries=0, default_headers=headers
    )


def chat(question: str, **params: Any) -> dict[str, Any]:
    return {
        "model": "test-model",
        "temperature": 0,
        "messages": [{"role": "user", "content": question}],
        **params,
    }
