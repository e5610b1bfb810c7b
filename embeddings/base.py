"""The :class:`Embedder` seam and the helpers every backend shares."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

__all__ = ["Embedder", "Vectors", "aembed", "l2_normalize"]

Vectors = NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, batch first.

    ``model_id`` must change whenever the vectors would (another model, other weights), because
    vectors from different models are not comparable: the vector index keys its collections by
    it.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Return an ``(len(texts), dim)`` float32 array of unit vectors."""
        ...


async def aembed(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """The async twin of ``embed``: runs it in a worker thread, never on the event loop."""
    return await asyncio.to_thread(embedder.embed, texts)


def l2_normalize(vectors: NDArray[np.floating]) -> Vectors:
    """Scale each row to unit length (zero rows stay zero) and return float32."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {array.shape}")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(array / norms, dtype=np.float32)
