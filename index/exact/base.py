"""The :class:`ExactStore` seam and the in-process store, the embedded default.

Values are bytes (the engine serialises an answer once, see :mod:`semcached.jsonio`): what
comes back is exactly what went in, as Redis returns it. Nothing is ever pickled.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from semcached.errors import ExactStoreError

__all__ = ["Clock", "ExactStore", "MemoryExactStore", "check_value"]

Clock = Callable[[], float]


@runtime_checkable
class ExactStore(Protocol):
    """Exact-key storage of byte values with a TTL, partitioned by namespace.

    ``blocking`` says whether a call may wait on the network: the async engine calls a store
    that never blocks (the in-process one) directly on the event loop, and any other in a
    worker thread of its own.
    """

    @property
    def blocking(self) -> bool: ...

    def get(self, namespace: str, key: str) -> bytes | None: ...

    def get_many(self, namespace: str, keys: Sequence[str]) -> list[bytes | None]: ...

    def set(self, namespace: str, key: str, value: bytes, ttl_s: float | None) -> None: ...

    def delete(self, namespace: str, key: str) -> bool: ...

    def clear(self, namespace: str) -> int: ...

    def append(self, namespace: str, key: str, value: bytes, *, keep: int) -> None:
        """Append ``value`` to the list at ``key``, keeping its last ``keep`` values (atomic)."""
        ...

    def items(self, namespace: str, key: str) -> list[bytes]:
        """The values of the list at ``key``, oldest first (empty when there is none)."""
        ...

    def ping(self) -> None:
        """Raise :class:`ExactStoreError` when the store is unreachable."""
        ...

    def close(self) -> None: ...


def check_value(value: object) -> bytes:
    """``value`` if it is bytes, else a clear :class:`ExactStoreError`."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise ExactStoreError(
        f"exact-store values are bytes (serialise JSON once with semcached.jsonio.encode), got "
        f"{type(value).__name__}"
    )


class MemoryExactStore:
    """A thread-safe LRU with a size bound and per-entry TTL.

    Example::

        store = MemoryExactStore(max_entries=10_000)
        store.set("default", "k", b'{"answer":42}', ttl_s=60)
        assert store.get("default", "k") == b'{"answer":42}'
    """

    def __init__(self, *, max_entries: int = 10_000, clock: Clock = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[tuple[str, str], tuple[float | None, bytes]] = OrderedDict()
        self._lists: dict[tuple[str, str], deque[bytes]] = {}
        self._lock = threading.Lock()

    blocking = False  # a dict under a lock: never waits, safe to call on an event loop

    def get(self, namespace: str, key: str) -> bytes | None:
        with self._lock:
            return self._live(namespace, key)

    def get_many(self, namespace: str, keys: Sequence[str]) -> list[bytes | None]:
        with self._lock:
            return [self._live(namespace, key) for key in keys]

    def set(self, namespace: str, key: str, value: bytes, ttl_s: float | None) -> None:
        raw = check_value(value)
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
            lists = [k for k in self._lists if k[0] == namespace]
            for k in lists:
                del self._lists[k]
        return len(doomed) + len(lists)

    def append(self, namespace: str, key: str, value: bytes, *, keep: int) -> None:
        raw = check_value(value)
        with self._lock:
            values = self._lists.get((namespace, key))
            if values is None or values.maxlen != keep:
                values = self._lists[(namespace, key)] = deque(values or (), maxlen=keep)
            values.append(raw)

    def items(self, namespace: str, key: str) -> list[bytes]:
        with self._lock:
            return list(self._lists.get((namespace, key), ()))

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
