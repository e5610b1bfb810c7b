"""The adaptive policy's shared state on the exact store, so replicas learn as one.

Everything lives in one reserved namespace of the exact store (so invalidating a tenant's
entries does not forget what its traffic taught, and entry ids, which hash their namespace,
cannot collide across tenants):

* ``obs:<namespace>``: the window of observations, ``similarity,1`` or ``similarity,0`` per
  value, appended atomically (Redis ``RPUSH`` + ``LTRIM``);
* ``served:<entry id>``: the namespace and similarity a hit was served at, for a week;
* ``floor:<entry id>``: the boundary an entry's wrong answers taught.

A failing store never fails a lookup: reads then return nothing and writes are dropped, with a
counter (``errors.exact_store``) and a log line, like every other backend step.

Example::

    adaptive = AdaptiveThresholds(max_false_hit_rate=0.02)
    adaptive.share(ExactStoreAdaptiveState(RedisExactStore("redis://localhost:6379/0")))
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from semcached.engine.stats import CacheStats
from semcached.index.exact.base import ExactStore

__all__ = ["ADAPTIVE_NAMESPACE", "SERVED_TTL_S", "ExactStoreAdaptiveState"]

log = logging.getLogger("semcached.adaptive")
T = TypeVar("T")

ADAPTIVE_NAMESPACE = "~semcached-adaptive"
SERVED_TTL_S = 7 * 24 * 3600.0


class ExactStoreAdaptiveState:
    """:class:`~semcached.policy.adaptive.AdaptiveState` on an :class:`ExactStore`."""

    def __init__(self, store: ExactStore, *, stats: CacheStats | None = None) -> None:
        self.store = store
        self.stats = stats

    def observations(self, namespace: str) -> list[tuple[float, bool]]:
        none: list[bytes] = []
        rows = self._quietly(lambda: self.store.items(ADAPTIVE_NAMESPACE, f"obs:{namespace}"), none)
        found: list[tuple[float, bool]] = []
        for raw in rows:
            similarity, _, correct = raw.decode("ascii", "replace").partition(",")
            try:
                found.append((float(similarity), correct == "1"))
            except ValueError:
                continue  # a row this version cannot read: skip it
        return found

    def add_observation(
        self, namespace: str, similarity: float, correct: bool, *, keep: int
    ) -> None:
        row = f"{similarity:.6f},{1 if correct else 0}".encode()
        self._quietly(
            lambda: self.store.append(ADAPTIVE_NAMESPACE, f"obs:{namespace}", row, keep=keep), None
        )

    def served(self, entry_id: str) -> tuple[str, float] | None:
        raw = self._quietly(lambda: self.store.get(ADAPTIVE_NAMESPACE, f"served:{entry_id}"), None)
        if raw is None:
            return None
        similarity, _, namespace = raw.decode("utf-8", "replace").partition(" ")
        try:
            return namespace, float(similarity)
        except ValueError:
            return None

    def record_served(self, namespace: str, entry_id: str, similarity: float) -> None:
        value = f"{similarity:.6f} {namespace}".encode()
        self._quietly(
            lambda: self.store.set(ADAPTIVE_NAMESPACE, f"served:{entry_id}", value, SERVED_TTL_S),
            None,
        )

    def entry_floor(self, entry_id: str) -> float | None:
        raw = self._quietly(lambda: self.store.get(ADAPTIVE_NAMESPACE, f"floor:{entry_id}"), None)
        try:
            return None if raw is None else float(raw)
        except ValueError:
            return None

    def set_entry_floor(self, entry_id: str, floor: float) -> None:
        value = f"{floor:.6f}".encode()
        self._quietly(
            lambda: self.store.set(ADAPTIVE_NAMESPACE, f"floor:{entry_id}", value, None), None
        )

    def _quietly(self, fn: Callable[[], T], default: T) -> T:
        try:
            return fn()
        except Exception as exc:  # the adaptive policy must never fail a request
            if self.stats is not None:
                self.stats.incr("errors.exact_store")
            log.warning("adaptive state unavailable, carrying on without it: %s", exc)
            return default
