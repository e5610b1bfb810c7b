"""The Redis exact store: ``SET ... PX``, byte values, a key prefix per namespace.

Redis being down or slow must never fail a request. Every command has a bounded timeout; a
failure raises :class:`ExactStoreError` (the engine then goes to the provider), and a small
circuit breaker skips Redis for ``retry_after_s`` so that an outage costs one timeout, not one
per request. The first command after that window is the probe: when Redis is back, the store
is too, with no restart.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

import xxhash

from semcached.errors import ConfigurationError, ExactStoreError
from semcached.index.exact.base import check_value

__all__ = ["RedisExactStore", "namespace_token"]

log = logging.getLogger("semcached.redis")
_SAFE_NAMESPACE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def namespace_token(namespace: str) -> str:
    """A Redis-key-safe, glob-safe token for a namespace: readable when possible.

    Unsafe names become ``~`` plus a hash; ``~`` never appears in a readable token, so the two
    forms cannot collide.
    """
    if _SAFE_NAMESPACE.match(namespace):
        return namespace
    return "~" + xxhash.xxh3_64_hexdigest(namespace.encode("utf-8", "surrogatepass"))


class RedisExactStore:
    """Exact store on a Redis server.

    Example::

        store = RedisExactStore("redis://localhost:6379/0", key_prefix="myapp")
    """

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "semcached",
        timeout_s: float = 0.25,
        retry_after_s: float = 2.0,
        max_connections: int = 64,
    ) -> None:
        try:
            import redis
        except ImportError as exc:  # pragma: no cover - redis is a core dependency
            raise ConfigurationError("the Redis store needs `pip install redis`") from exc
        if not key_prefix or any(c in key_prefix for c in "*?[]"):
            raise ConfigurationError(
                f"key_prefix must be non-empty without glob characters, got {key_prefix!r}"
            )
        try:
            pool = redis.ConnectionPool.from_url(
                url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                max_connections=max_connections,
                health_check_interval=30,
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid Redis URL: {exc}. Expected redis://[:password@]host:port/db"
            ) from exc
        self._redis: Any = redis.Redis(connection_pool=pool)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self.key_prefix = key_prefix
        self.retry_after_s = retry_after_s
        self._open_until = 0.0
        self._lock = threading.Lock()
        self.failures = 0

    def key(self, namespace: str, key: str) -> str:
        return f"{self.key_prefix}:{namespace_token(namespace)}:{key}"

    blocking = True  # a network round trip: the async engine calls it from a worker thread

    def get(self, namespace: str, key: str) -> bytes | None:
        raw: bytes | None = self._call("GET", self._redis.get, self.key(namespace, key))
        return raw

    def get_many(self, namespace: str, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        raws: list[bytes | None] = self._call(
            "MGET", self._redis.mget, [self.key(namespace, k) for k in keys]
        )
        return raws

    def set(self, namespace: str, key: str, value: bytes, ttl_s: float | None) -> None:
        raw = check_value(value)
        px = None if ttl_s is None else max(1, round(ttl_s * 1000))
        self._call("SET", self._redis.set, self.key(namespace, key), raw, px=px)

    def delete(self, namespace: str, key: str) -> bool:
        return bool(self._call("DEL", self._redis.delete, self.key(namespace, key)))

    def clear(self, namespace: str) -> int:
        pattern = f"{self.key_prefix}:{namespace_token(namespace)}:*"

        def run() -> int:
            removed, batch = 0, []
            for name in self._redis.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += self._redis.unlink(*batch)
                    batch = []
            if batch:
                removed += self._redis.unlink(*batch)
            return removed

        return int(self._call("SCAN/UNLINK", run))

    def append(self, namespace: str, key: str, value: bytes, *, keep: int) -> None:
        raw, name = check_value(value), self.key(namespace, key)

        def run() -> None:
            pipe = self._redis.pipeline(transaction=True)
            pipe.rpush(name, raw)
            pipe.ltrim(name, -keep, -1)
            pipe.execute()

        self._call("RPUSH/LTRIM", run)

    def items(self, namespace: str, key: str) -> list[bytes]:
        values: list[bytes] = self._call(
            "LRANGE", self._redis.lrange, self.key(namespace, key), 0, -1
        )
        return values

    def ping(self) -> None:
        self._call("PING", self._redis.ping)

    def close(self) -> None:
        self._redis.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if now < self._open_until:
            raise ExactStoreError(
                f"Redis is skipped for {self._open_until - now:.1f}s more after a failure"
            )
        try:
            result = fn(*args, **kwargs)
        except self._errors as exc:
            with self._lock:
                self.failures += 1
                self._open_until = time.monotonic() + self.retry_after_s
            log.warning(
                "redis %s failed (%s); skipping Redis for %.1fs", what, exc, self.retry_after_s
            )
            raise ExactStoreError(f"Redis {what} failed: {exc}") from exc
        return result
