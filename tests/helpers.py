"""Helpers shared by the tests: request builders, a counting provider, and a fake embedder.

The fake embedder is for unit tests of the engine's logic only (no model, no server): it maps
each word to a fixed pseudo-random direction and sums them, so texts sharing most words are
close and unrelated texts are not. Integration tests use the real model.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xxhash

from semcached.embeddings.base import Vectors, l2_normalize

PASSWORD = "How do I reset my password?"


def ask(
    question: str, *, model: str = "gpt-4o", system: str | None = None, **params: Any
) -> dict[str, Any]:
    """A deterministic chat request asking ``question``."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": question})
    return {"model": model, "temperature": 0, "messages": messages, **params}


class Provider:
    """A provider call that counts how often it ran; it can fail, or hold until told to go."""

    def __init__(
        self,
        answer: Any = None,
        error: Exception | None = None,
        wait_for: Callable[[], bool] | None = None,
    ) -> None:
        self.calls = 0
        self.answer = answer
        self.error = error
        self.wait_for = wait_for
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            self.calls += 1
        if self.wait_for is not None:
            # Hold the call open until the test's condition holds (bounded, so a bug fails
            # the test instead of hanging it).
            deadline = time.monotonic() + 30
            while not self.wait_for():
                assert time.monotonic() < deadline, "the provider's wait condition never held"
                time.sleep(0.01)
        if self.error is not None:
            raise self.error
        return self.answer if self.answer is not None else {"answer": f"call {self.calls}"}


class FakeEmbedder:
    """A bag-of-words embedder for unit tests: shared words make close vectors; it counts
    every text it is asked to embed (``seen``) and every call (``calls``: the batch sizes)."""

    def __init__(self, dim: int = 64, model_id: str = "fake-bow") -> None:
        self._dim = dim
        self._model_id = model_id
        self.seen: list[str] = []
        self.calls: list[int] = []
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            self.seen.extend(texts)
            self.calls.append(len(texts))
        rows = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                rng = np.random.default_rng(xxhash.xxh3_64_intdigest(word.encode()))
                rows[i] += rng.standard_normal(self._dim).astype(np.float32)
            if not rows[i].any():
                rows[i, 0] = 1.0
        return l2_normalize(rows)


class FakeClock:
    """A clock a test moves by hand (``clock.now += 10``)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
