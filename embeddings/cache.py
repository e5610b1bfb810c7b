"""A text-to-vector cache so the same text is never embedded twice in a process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import xxhash

from semcached.embeddings.base import Embedder, Vectors

__all__ = ["CachedEmbedder"]


class CachedEmbedder:
    """Wraps an :class:`Embedder` with an LRU of vectors keyed by xxh3 of the text.

    Only the texts not already cached are sent to the wrapped embedder, in one batch.

    Example::

        embedder = CachedEmbedder(SentenceTransformerEmbedder(), max_entries=10_000)
    """

    def __init__(self, inner: Embedder, *, max_entries: int = 10_000) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self._vectors: OrderedDict[int, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str], *, scope: str = "") -> Vectors:
        """Vectors of ``texts``; remembered per ``scope`` (the cache gives each namespace its
        own, so how fast a text embeds never tells one tenant what another asked)."""
        prefix = f"{len(scope)}:{scope}\0" if scope else ""
        keys = [
            xxhash.xxh3_64_intdigest((prefix + text).encode("utf-8", "surrogatepass"))
            for text in texts
        ]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        missing: dict[int, list[int]] = {}
        with self._lock:
            for row, key in enumerate(keys):
                cached = self._vectors.get(key)
                if cached is None:
                    missing.setdefault(key, []).append(row)
                else:
                    self._vectors.move_to_end(key)
                    out[row] = cached
            # A text repeated within the batch is embedded once: its repeats count as hits.
            self.hits += len(texts) - len(missing)
            self.misses += len(missing)
        if missing:
            order = list(missing)
            fresh = self.inner.embed([texts[missing[key][0]] for key in order])
            with self._lock:
                for key, vector in zip(order, fresh, strict=True):
                    out[missing[key]] = vector
                    if self.max_entries > 0:
                        # Keep a private copy: callers may mutate what they get back.
                        self._vectors[key] = vector.copy()
                        self._vectors.move_to_end(key)
                while len(self._vectors) > self.max_entries:
                    self._vectors.popitem(last=False)
        return out

    def __len__(self) -> int:
        return len(self._vectors)
