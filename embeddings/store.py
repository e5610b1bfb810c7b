"""A text-to-vector store on disk, so replays of big pair sets embed each text once, ever.

Used by the evaluation commands and the quality benchmarks (``--embedding-cache DIR``); the cache
itself never needs it. Vectors are kept per model id (vectors of different models are not
comparable) in one ``.npz`` file: xxh3-64 keys of the texts and their float32 vectors.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xxhash

from semcached.embeddings.base import Embedder, Vectors

__all__ = ["PersistentEmbedder"]

log = logging.getLogger("semcached.embeddings.store")


def _key(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode("utf-8", "surrogatepass"))


class PersistentEmbedder:
    """Wraps an :class:`Embedder`; vectors already on disk are never recomputed.

    New vectors are embedded in batches and written back by :meth:`save` (called by
    :meth:`warm`). Lookups of a warmed text cost one dict access.

    Example::

        embedder = PersistentEmbedder(SentenceTransformerEmbedder(), "/tmp/semcached-emb")
        embedder.warm(texts)                 # embeds what is missing, saves to disk
        vectors = embedder.embed(texts[:2])  # from memory
    """

    def __init__(self, inner: Embedder, directory: str | Path, *, batch: int = 4096) -> None:
        self.inner = inner
        self.directory = Path(directory)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", inner.model_id)
        self.path = self.directory / f"{safe}.npz"
        self.batch = batch
        self._rows: dict[int, int] = {}
        self._vectors: Vectors = np.zeros((0, inner.dim), dtype=np.float32)
        self._pending: list[tuple[int, Vectors]] = []
        self._lock = threading.Lock()
        if self.path.exists():
            with np.load(self.path) as data:
                keys = data["keys"]
                self._vectors = np.ascontiguousarray(data["vectors"], dtype=np.float32)
            self._rows = {int(k): i for i, k in enumerate(keys.tolist())}

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def __len__(self) -> int:
        return len(self._rows)

    def embed(self, texts: Sequence[str]) -> Vectors:
        keys = [_key(t) for t in texts]
        missing = sorted(
            {i for i, k in enumerate(keys) if k not in self._rows}, key=keys.__getitem__
        )
        if missing:
            self._add([texts[i] for i in missing])
        rows = [self._rows[k] for k in keys]
        return self._vectors[rows]

    def warm(self, texts: Sequence[str], *, progress: bool = False) -> int:
        """Embed every text not stored yet (in batches) and save; returns how many were new."""
        todo = list(dict.fromkeys(t for t in texts if _key(t) not in self._rows))
        for start in range(0, len(todo), self.batch):
            self._add(todo[start : start + self.batch])
            if progress:
                log.warning(
                    "embedded %d/%d new texts", min(start + self.batch, len(todo)), len(todo)
                )
        if todo:
            self.save()
        return len(todo)

    def save(self) -> None:
        """Write every vector to disk (atomically: a crash leaves the previous file)."""
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            keys = np.empty(len(self._rows), dtype=np.uint64)
            for key, row in self._rows.items():
                keys[row] = key
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, keys=keys, vectors=self._vectors)
            tmp.replace(self.path)

    def _add(self, texts: list[str]) -> None:
        unique = list(dict.fromkeys(texts))
        fresh = self.inner.embed(unique)
        with self._lock:
            base = len(self._vectors)
            new_rows: list[Vectors] = []
            for text, vector in zip(unique, fresh, strict=True):
                key = _key(text)
                if key not in self._rows:
                    self._rows[key] = base + len(new_rows)
                    new_rows.append(vector)
            if new_rows:
                self._vectors = np.concatenate([self._vectors, np.stack(new_rows)])
