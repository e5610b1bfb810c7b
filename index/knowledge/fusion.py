"""Reciprocal rank fusion (Cormack, Clarke and Büttcher, SIGIR 2009).

Dense similarities and BM25 scores live on scales that cannot be added; their *ranks* can.
Each list gives an item ``weight / (k + rank)`` (rank 1 is the best) and the sums are
ranked. A large ``k`` flattens the curve (the depth of agreement matters more than the top
spot); 60 is the value of the paper.

Example::

    fused = reciprocal_rank_fusion([["a", "b", "c"], ["b", "c", "a"]], k=60)
    [item for item, _ in fused]     # ["b", "a", "c"]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Fusion", "reciprocal_rank_fusion", "rrf_max_score"]

K = TypeVar("K", bound=Hashable)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[K]], *, k: float = 60.0, weights: Sequence[float] | None = None
) -> list[tuple[K, float]]:
    """Fuse best-first rankings into one, best first; ties keep first-seen order.

    An item missing from a list gets nothing from it. A repeated item counts at its best rank.
    """
    if k < 0:
        raise ValueError(f"the RRF constant k must be >= 0, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError(f"got {len(weights)} weights for {len(rankings)} rankings; give one each")
    if any(w < 0 for w in weights):
        raise ValueError(f"RRF weights must be >= 0, got {list(weights)}")
    scores: dict[K, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        seen: set[K] = set()
        for rank, item in enumerate(ranking, start=1):
            if item in seen:
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: n for n, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))


def rrf_max_score(*, k: float = 60.0, weights: Sequence[float]) -> float:
    """The score of an item ranked first everywhere: divide by it to bring scores into [0, 1]."""
    return sum(w / (k + 1) for w in weights)


@dataclass(frozen=True, slots=True)
class Fusion:
    """Reciprocal rank fusion with fixed settings, its scores divided into [0, 1].

    Example::

        Fusion(rrf_k=60).fuse([["a", "b"], ["b", "a"]])      # [("a", 1.0), ("b", 1.0)]
    """

    rrf_k: float = 60.0
    weights: tuple[float, ...] = (1.0, 1.0)

    def __post_init__(self) -> None:
        if self.rrf_k < 0 or min(self.weights) < 0 or sum(self.weights) == 0:
            raise ValueError(
                f"fusion needs rrf_k >= 0 and non-negative weights, not all 0; got "
                f"rrf_k={self.rrf_k}, weights={list(self.weights)}"
            )

    def fuse(self, rankings: Sequence[Sequence[K]]) -> list[tuple[K, float]]:
        """The fused ranking, best first, scores in [0, 1] (1: first in every ranking)."""
        fused = reciprocal_rank_fusion(rankings, k=self.rrf_k, weights=self.weights)
        top = rrf_max_score(k=self.rrf_k, weights=self.weights)
        return [(item, score / top) for item, score in fused]
