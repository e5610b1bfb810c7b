"""Micro-batching: concurrent ``embed`` calls from many threads share one model call.

No timer and no background thread: the first caller to find the model idle becomes the
leader and embeds everything queued so far in one batch; callers arriving meanwhile queue up
and the next leader takes them all. At low load a call goes straight through (no added
latency); under load, N waiting requests cost one batched forward pass instead of N.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence

import numpy as np

from semcached.embeddings.base import Embedder, Vectors

__all__ = ["MicroBatchingEmbedder"]


class _Pending:
    __slots__ = ("done", "error", "result", "texts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = texts
        self.result: Vectors | None = None
        self.error: BaseException | None = None
        self.done = False


class MicroBatchingEmbedder:
    """Wraps an :class:`Embedder` so concurrent callers are embedded together.

    Example::

        embedder = CachedEmbedder(MicroBatchingEmbedder(SentenceTransformerEmbedder()))
    """

    def __init__(self, inner: Embedder, *, max_batch: int = 128) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.inner = inner
        self.max_batch = max_batch
        self._queue: deque[_Pending] = deque()
        self._busy = False
        self._cv = threading.Condition()
        self.batches = 0
        self.requests = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        mine = _Pending(texts)
        with self._cv:
            self._queue.append(mine)
            self.requests += 1
            while not mine.done:
                if self._busy:
                    self._cv.wait()
                    continue
                self._busy = True
                batch = self._take_batch()
                self._cv.release()
                try:
                    self._run(batch)
                finally:
                    self._cv.acquire()
                    self._busy = False
                    self._cv.notify_all()
        if mine.error is not None:
            raise mine.error
        assert mine.result is not None
        return mine.result

    def _take_batch(self) -> list[_Pending]:
        batch = [self._queue.popleft()]
        size = len(batch[0].texts)
        while self._queue and size + len(self._queue[0].texts) <= self.max_batch:
            size += len(self._queue[0].texts)
            batch.append(self._queue.popleft())
        return batch

    def _run(self, batch: list[_Pending]) -> None:
        self.batches += 1
        texts = [text for pending in batch for text in pending.texts]
        try:
            vectors = self.inner.embed(texts)
        except BaseException as exc:
            for pending in batch:
                pending.error = exc
                pending.done = True
            return
        start = 0
        for pending in batch:
            end = start + len(pending.texts)
            pending.result = vectors[start:end].copy()
            pending.done = True
            start = end
