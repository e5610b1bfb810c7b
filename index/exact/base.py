"""The :class:`ExactStore` seam and the in-process store, the embedded default.

Values are JSON objects, serialised to bytes on write: what comes back is always a fresh copy
and exactly what Redis would return. Nothing is ever pickled.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from semcached.errors import ExactStoreError

__all__ = ["Clock", "ExactStore", "JSONObject", "MemoryExactStore", "dumps", "loads"]

JSONObject = dict[str, Any]
Clock = Callable[[], float]


@runtime_checkable
class ExactStore(Protocol):
    """Exact-key storage of JSON objects with a TTL, partitioned by namespace."""

    def get(self, namespace: str, key: str) -> JSONObject | None: ...

    def get_many(self, namespace: str, keys: Sequence[str]) -> list[JSONObject | None]: ...

    def set(self, namespace: str, key: str, value: JSONObject, ttl_s: float | None) -> None: ...

    def delete(self, namespace: str, key: str) -> bool: ...

    def clear(self, namespace: str) -> int: ...

    def ping(self) -> None:
        """Raise :class:`ExactStoreError` when the store is unreachable."""
        ...

    def close(self) -> None: ...


def dumps(value: JSONObject) -> bytes:
    """Serialise a JSON object; raise a clear error for anything that is not JSON."""
    try:
        return json.dumps(
            value, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        raise ExactStoreError(
            f"cache values must be JSON-serialisable (dict, list, str, number, bool, None): {exc}"
        ) from exc


def loads(raw: bytes | str) -> JSONObject:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ExactStoreError(f"expected a JSON object in the exact store, got {type(value)}")
    return value


class MemoryExactStore:
    """A thread-safe LRU with a size bound and per-entry TTL.

    Example::

        store = MemoryExactStore(max_entries=10_000)
        store.set("default", "k", {"answer": 42}, ttl_s=60)
        assert store.get("default", "k") == {"answer": 42}
    """

    def __init__(self, *, max_entries: int = 10_000, clock: Clock = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[tuple[str, str], tuple[float | None, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, namespace: str, key: str) -> JSONObject | None:
        with self._lock:
            raw = self._live(namespace, key)
        return None if raw is None else loads(raw)

    def get_many(self, namespace: str, keys: Sequence[str]) -> list[JSONObject | None]:
        with self._lock:
            raws = [self._live(namespace, key) for key in keys]
        return [None if raw is None else loads(raw) for raw in raws]

    def set(self, namespace: str, key: str, value: JSONObject, ttl_s: float | None) -> None:
        raw = dumps(value)
        expires = None if ttl_s is None else self._clock() + ttl_s
        with self._lock:
            self._data[(namespace, key)] = (expires, raw)
            self._data.move_to_end((namespace, key))
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def delete(self, namespace: str, key: str) -> bool:
        with self._lock:
            return self._data.pop((namespace, key), None) is not None

    def clear(self, namespace: str) -> int:
        with self._lock:
            doomed = [k for k in self._data if k[0] == namespace]
            for k in doomed:
                del self._data[k]
        return len(doomed)

    def ping(self) -> None:
        return None

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, namespace: str, key: str) -> bytes | None:
        item = self._data.get((namespace, key))
        if item is None:
            return None
        expires, raw = item
        if expires is not None and self._clock() >= expires:
            del self._data[(namespace, key)]
            return None
        self._data.move_to_end((namespace, key))
        return raw
