"""Adaptive thresholds: learn from feedback where the decision boundary may safely sit.

A static threshold is a guess about the traffic. Here every namespace keeps the outcomes it has
seen, as (similarity, was serving right?) observations, from two sources:

* ``feedback(entry_id, correct=...)`` on served hits (the similarity they were served at is
  remembered in memory when they are served);
* optionally, **probes**: a lookup that misses although its best candidate was close (within
  ``probe_band`` below the threshold) calls the provider anyway; ``compare(cached, fresh)`` then
  says whether the cached answer would have done, which is how the boundary learns to go *down*.

The namespace's threshold is the lowest one (on a grid, never below ``floor``) whose observed
false-hit rate among the answers it would serve has an upper confidence bound (Wilson, one-sided
``confidence``) at or under ``max_false_hit_rate``, once ``min_observations`` back it. Until then
the configured threshold applies; if the evidence says the configured threshold serves too many
wrong answers, the threshold rises. A wrong answer also raises the boundary of that one entry
just above the similarity it was wrongly served at (the entry keeps serving closer requests).

State lives in memory, and, when the cache's exact store is shared (Redis), also in it through
an :class:`AdaptiveState` (the engine plugs one in): observations, the similarity each hit was
served at and the entries' boundaries are written through to it and read back at most every
``refresh_s`` seconds, so every replica acts on feedback the same way, including feedback on a
hit another replica served. Nothing is written to the vector store.

This follows the idea of vCache (per-entry learned thresholds under a user-set error bound) in a
simpler, explainable form.

Example::

    adaptive = AdaptiveThresholds(max_false_hit_rate=0.02, compare=lambda a, b: a == b)
    cache = SemanticCache(adaptive=adaptive)
    result = cache.get_or_call(request, call)
    if result.source == "semantic":
        cache.feedback(result.lookup.entry_id, correct=user_says_ok)
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Protocol

from semcached.policy.decision import Candidate

__all__ = [
    "AdaptiveGuard",
    "AdaptiveState",
    "AdaptiveThresholds",
    "NamespaceState",
    "wilson_bound",
]


class AdaptiveState(Protocol):
    """Where replicas share what the adaptive policy learned (implemented by the engine on the
    exact store). Every method may do IO; none may raise for a backend it can do without."""

    def observations(self, namespace: str) -> list[tuple[float, bool]]: ...

    def add_observation(
        self, namespace: str, similarity: float, correct: bool, *, keep: int
    ) -> None: ...

    def served(self, entry_id: str) -> tuple[str, float] | None: ...

    def record_served(self, namespace: str, entry_id: str, similarity: float) -> None: ...

    def entry_floor(self, entry_id: str) -> float | None: ...

    def set_entry_floor(self, entry_id: str, floor: float) -> None: ...


@dataclass(frozen=True, slots=True)
class NamespaceState:
    """What the policy knows about one namespace (for ``explain`` and dashboards)."""

    threshold: float | None  # the learned threshold, None while the evidence is too thin
    observations: int
    wrong: int
    entry_boundaries: int


class _Observations:
    """A window of (similarity, correct) with sorted similarities for O(log n) counting."""

    __slots__ = ("all", "window", "wrong")

    def __init__(self, size: int) -> None:
        self.window: deque[tuple[float, bool]] = deque(maxlen=size)
        self.all: list[float] = []
        self.wrong: list[float] = []

    def add(self, similarity: float, correct: bool) -> None:
        if len(self.window) == self.window.maxlen:
            old, old_correct = self.window[0]
            self.all.pop(bisect.bisect_left(self.all, old))
            if not old_correct:
                self.wrong.pop(bisect.bisect_left(self.wrong, old))
        self.window.append((similarity, correct))
        bisect.insort(self.all, similarity)
        if not correct:
            bisect.insort(self.wrong, similarity)

    def at_or_above(self, threshold: float) -> tuple[int, int]:
        n = len(self.all) - bisect.bisect_left(self.all, threshold)
        e = len(self.wrong) - bisect.bisect_left(self.wrong, threshold)
        return n, e


class AdaptiveThresholds:
    """Per-namespace thresholds learned from feedback, under a maximum false-hit rate.

    ``max_false_hit_rate`` bounds the share of served semantic hits that are wrong (1 -
    precision). See the module docstring for how it learns; plug it in with
    ``SemanticCache(adaptive=...)`` or ``SEMCACHED_ADAPTIVE__ENABLED=true``.
    """

    def __init__(
        self,
        *,
        max_false_hit_rate: float = 0.05,
        floor: float = 0.80,
        ceiling: float = 1.0,
        step: float = 0.005,
        min_observations: int = 30,
        confidence: float = 0.95,
        window: int = 20_000,
        probe_band: float = 0.05,
        entry_margin: float = 0.002,
        compare: Callable[[Any, Any], bool] | None = None,
        remember_hits: int = 100_000,
        shared: AdaptiveState | None = None,
        refresh_s: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not 0.0 < max_false_hit_rate < 1.0:
            raise ValueError(
                f"max_false_hit_rate must be within (0, 1), got {max_false_hit_rate}; e.g. 0.02 "
                "for at most 2% wrong answers among semantic hits"
            )
        if not 0.0 <= floor <= ceiling <= 1.0:
            raise ValueError(
                f"need 0 <= floor <= ceiling <= 1, got floor={floor} ceiling={ceiling}"
            )
        if not 0.5 < confidence < 1.0:
            raise ValueError(f"confidence must be within (0.5, 1), got {confidence}")
        self.max_false_hit_rate = max_false_hit_rate
        self.floor = floor
        self.ceiling = ceiling
        self.min_observations = min_observations
        self.confidence = confidence
        self.probe_band = probe_band
        self.entry_margin = entry_margin
        self.compare = compare
        self._z = NormalDist().inv_cdf(confidence)
        count = round((ceiling - floor) / step) + 1
        self._grid = [round(floor + i * step, 6) for i in range(count)]
        self._window = window
        self._obs: dict[str, _Observations] = {}
        self._learned: dict[str, float | None] = {}
        self._entry_floor: dict[str, float] = {}
        self._served: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._remember = remember_hits
        self._lock = threading.Lock()
        self.shared = shared
        self.refresh_s = refresh_s
        self._clock = clock or _monotonic
        self._fetched: dict[str, float] = {}  # namespace -> when its observations were read
        self._floor_checked: dict[str, float] = {}  # entry id -> when its floor was read

    def share(self, state: AdaptiveState) -> None:
        """Write what is learned through to ``state`` and read it back from there (replicas)."""
        self.shared = state

    # -- the boundary -----------------------------------------------------------------------

    def threshold(self, namespace: str, configured: float) -> float:
        """The threshold to apply now: learned when the evidence allows, else ``configured``."""
        self._refresh(namespace)
        with self._lock:
            learned = self._learned.get(namespace)
            observations = self._obs.get(namespace)
        if learned is not None:
            return learned
        if observations is None:
            return configured
        # Too little evidence to go lower; but if what there is condemns the configured
        # threshold, rise to the first one it does not condemn.
        for t in self._grid:
            if t < configured:
                continue
            n, e = observations.at_or_above(t)
            if n < self.min_observations or self._lower(e, n) <= self.max_false_hit_rate:
                return t
        return self.ceiling

    def entry_threshold(self, entry_id: str) -> float | None:
        """The boundary learned for one entry from wrong answers it gave, if any."""
        shared, now = self.shared, self._clock()
        if shared is not None and now - self._floor_checked.get(entry_id, -1e18) >= self.refresh_s:
            found = shared.entry_floor(entry_id)
            with self._lock:
                self._floor_checked[entry_id] = now
                _trim(self._floor_checked, self._remember)
                if found is not None:
                    self._entry_floor[entry_id] = max(self._entry_floor.get(entry_id, 0.0), found)
        return self._entry_floor.get(entry_id)

    def state(self, namespace: str) -> NamespaceState:
        obs = self._obs.get(namespace)
        return NamespaceState(
            threshold=self._learned.get(namespace),
            observations=0 if obs is None else len(obs.window),
            wrong=0 if obs is None else len(obs.wrong),
            entry_boundaries=len(self._entry_floor),
        )

    # -- learning ---------------------------------------------------------------------------

    def observe(self, namespace: str, similarity: float, correct: bool) -> None:
        """Record that serving at ``similarity`` was right (or wrong) in ``namespace``."""
        self._refresh(namespace)
        with self._lock:
            obs = self._obs.get(namespace)
            if obs is None:
                obs = self._obs[namespace] = _Observations(self._window)
            obs.add(float(similarity), bool(correct))
            self._learned[namespace] = self._fit(obs)
        if self.shared is not None:
            self.shared.add_observation(
                namespace, float(similarity), bool(correct), keep=self._window
            )

    def record_hit(self, namespace: str, entry_id: str, similarity: float) -> None:
        """Remember the similarity a hit was served at, for its feedback."""
        with self._lock:
            self._served[entry_id] = (namespace, float(similarity))
            self._served.move_to_end(entry_id)
            while len(self._served) > self._remember:
                self._served.popitem(last=False)
        if self.shared is not None:
            self.shared.record_served(namespace, entry_id, float(similarity))

    def feedback(
        self, entry_id: str, *, correct: bool, namespace: str | None = None,
        similarity: float | None = None,
    ) -> bool:  # fmt: skip
        """Learn from a verdict on a served entry; ``False`` when its similarity is unknown
        (never served by this process and none given), in which case nothing is learned."""
        with self._lock:
            served = self._served.get(entry_id)
        if served is None and similarity is None and self.shared is not None:
            served = self.shared.served(entry_id)  # a hit another replica served
        if similarity is None and served is None:
            return False
        ns = namespace or (served[0] if served else "default")
        sim = similarity if similarity is not None else served[1]  # type: ignore[index]
        if not correct:
            with self._lock:
                bound = max(self._entry_floor.get(entry_id, 0.0), min(1.0, sim + self.entry_margin))
                self._entry_floor[entry_id] = bound
            if self.shared is not None:
                self.shared.set_entry_floor(entry_id, bound)
        self.observe(ns, sim, correct)
        return True

    def should_probe(self, similarity: float | None, threshold: float) -> bool:
        """Whether a miss whose best candidate is at ``similarity`` should be compared with the
        fresh answer (only when a ``compare`` function is configured)."""
        return (
            self.compare is not None
            and similarity is not None
            and max(self.floor, threshold - self.probe_band) <= similarity < threshold
        )

    def probe(self, namespace: str, similarity: float, cached: Any, fresh: Any) -> bool:
        """Compare a near-miss candidate's answer with the provider's; record and return it."""
        if self.compare is None:
            raise ValueError("probe() needs a compare function: AdaptiveThresholds(compare=...)")
        same = bool(self.compare(cached, fresh))
        self.observe(namespace, similarity, same)
        return same

    def guard(self) -> AdaptiveGuard:
        """The per-entry boundaries as a guard (the engine adds it when adaptive is on)."""
        return AdaptiveGuard(self)

    # -- internals --------------------------------------------------------------------------

    def _refresh(self, namespace: str) -> None:
        """Read the namespace's shared observations again when they are older than
        ``refresh_s`` (what other replicas learned)."""
        shared, now = self.shared, self._clock()
        if shared is None or now - self._fetched.get(namespace, -1e18) < self.refresh_s:
            return
        rows = shared.observations(namespace)
        with self._lock:
            self._fetched[namespace] = now
            obs = _Observations(self._window)
            for similarity, correct in rows[-self._window :]:
                obs.add(similarity, correct)
            self._obs[namespace] = obs
            self._learned[namespace] = self._fit(obs)

    def _upper(self, wrong: int, n: int) -> float:
        return wilson_bound(wrong, n, self._z, upper=True)

    def _lower(self, wrong: int, n: int) -> float:
        return wilson_bound(wrong, n, self._z, upper=False)

    def _fit(self, obs: _Observations) -> float | None:
        # Never extrapolate: a threshold needs observations just above it (within the probe
        # band), not only far above, so the boundary walks down as probes explore below it.
        local_needed = max(5, self.min_observations // 5)
        for t in self._grid:
            n, e = obs.at_or_above(t)
            if n < self.min_observations:
                return None  # thinner above: no higher threshold is supported either
            local = n - obs.at_or_above(t + self.probe_band)[0]
            if local >= local_needed and self._upper(e, n) <= self.max_false_hit_rate:
                return t
        return None


class AdaptiveGuard:
    """Vetoes an entry below the boundary its own wrong answers taught (see feedback)."""

    name = "adaptive"

    def __init__(self, policy: AdaptiveThresholds) -> None:
        self.policy = policy

    def check(self, query: str, candidate: Candidate) -> str | None:
        bound = self.policy.entry_threshold(candidate.id)
        if bound is not None and candidate.similarity < bound:
            return (
                f"this entry answered wrongly at similarity {bound - self.policy.entry_margin:.4f};"
                f" it now needs {bound:.4f}"
            )
        return None


def _monotonic() -> float:
    return time.monotonic()


def _trim(table: dict[str, float], size: int) -> None:
    while len(table) > size:
        del table[next(iter(table))]


def wilson_bound(successes: int, total: int, z: float, *, upper: bool) -> float:
    """One end of the Wilson score interval of a proportion (the widest end when empty)."""
    if total <= 0:
        return 1.0 if upper else 0.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return min(1.0, centre + half) if upper else max(0.0, centre - half)
