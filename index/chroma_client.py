"""One way to open ChromaDB, for the cache's vector index and the knowledge store alike.

A server's client is opened on first use and again after a failed attempt, so a service
starts while its Chroma server is down and connects when it returns; its HTTP calls are
bounded (ChromaDB's own client waits forever, so a hung server would hold every calling
thread). URLs are shown with their password masked.

Example::

    connection = ChromaConnection(url="http://chroma:8000", timeout_s=10)
    client = connection.client()      # raises ChromaDB's own error if the server is down
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from semcached.errors import ConfigurationError, VectorIndexError
from semcached.redaction import redact_url

__all__ = ["ChromaConnection"]

log = logging.getLogger("semcached")


class ChromaConnection:
    """An embedded ChromaDB under ``path`` or the server at ``url``, opened lazily."""

    def __init__(
        self,
        *,
        path: str | Path | None = None,
        url: str | None = None,
        tenant: str = "default_tenant",
        database: str = "default_database",
        timeout_s: float = 10.0,
    ) -> None:
        if (path is None) == (url is None):
            raise ConfigurationError(
                "ChromaDB needs exactly one of `path` (embedded) or `url` (a server)"
            )
        self.path = Path(path) if path is not None else None
        self.url = url
        self.location = str(path) if path is not None else redact_url(str(url))
        self.remote = url is not None
        self._tenant, self._database, self._timeout_s = tenant, database, timeout_s
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"chroma_url: expected http://host:port, got {self.location!r}. Fix: give "
                    "the Chroma server's URL (SEMCACHED_CHROMA_URL or --chroma-url)"
                )
        self._client: Any = None
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The ChromaDB client, opened now if it is not yet (ChromaDB's errors propagate)."""
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = self._open()
            return self._client

    def open_now(self, connect: Callable[[], object]) -> None:
        """Open at construction through ``connect`` (the caller's wrapped :meth:`client`): an
        embedded store that fails raises; a server that is down is connected to on the next
        use instead, so a service starts while its Chroma server is away."""
        try:
            connect()
        except VectorIndexError as exc:
            if not self.remote:
                raise
            log.warning("%s; connecting again on the next use", exc)

    def _open(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(
                path=str(self.path), settings=settings, tenant=self._tenant,
                database=self._database,
            )  # fmt: skip
        parts = urlsplit(str(self.url))
        client = chromadb.HttpClient(
            host=parts.hostname or "",
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=settings,
            tenant=self._tenant,
            database=self._database,
        )
        _bound_http_timeout(client, self._timeout_s)
        return client


def _bound_http_timeout(client: Any, timeout_s: float) -> None:
    """Bound the httpx session ChromaDB's HTTP client keeps privately (if a release moves
    it, the engine's per-backend deadlines still bound every call)."""
    session = getattr(getattr(client, "_server", None), "_session", None)
    current = getattr(session, "timeout", None)
    if session is not None and current is not None:
        # httpx.Timeout, by the class of the one it holds (no web client imported here).
        session.timeout = type(current)(timeout_s, connect=min(timeout_s, 5.0))
    else:  # pragma: no cover - depends on the chromadb release
        log.warning("could not bound the ChromaDB HTTP client's timeout (chromadb changed)")
