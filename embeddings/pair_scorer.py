"""The verifier's pair model on ONNX Runtime: a small cross-encoder, loaded offline.

:class:`OnnxPairScorer` reads an export of a sequence-classification model (what
``semcached train-verifier`` and ``semcached build-verifier`` write: ``model.onnx`` or
``model.int8.onnx``, ``tokenizer.json`` and ``semcached_onnx.json``) and scores
(cached text, query) pairs: the sigmoid of a single logit, or the softmax's last column of
(different, same). No torch at run time. Scores of recent pairs are memoized under a 128-bit
digest of the pair (the memo holds no prompt text). :meth:`OnnxPairScorer.packaged` loads the
model that ships with semcached.

Example::

    scorer = OnnxPairScorer.packaged()
    scorer.score_many([("How do I turn on dark mode?", "how do i enable dark mode")])
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xxhash

from semcached.errors import ModelLoadError

__all__ = ["OnnxPairScorer", "pair_model_dir"]

_MODEL_FILES = ("model.int8.onnx", "model.onnx")


def pair_model_dir(path: str | Path) -> Path:
    """The ONNX pair model at ``path``: the folder itself, or the ``onnx/`` export that
    ``semcached train-verifier`` writes beside the trained model."""
    path = Path(path)
    for folder in (path, path / "onnx"):
        if (folder / "tokenizer.json").is_file() and any(
            (folder / f).is_file() for f in _MODEL_FILES
        ):
            return folder
    raise ModelLoadError(
        f"no pair model at {str(path)!r}: expected {' or '.join(_MODEL_FILES)} and "
        "tokenizer.json there or in its onnx/ folder (what `semcached train-verifier` "
        "writes). Fix the path in SEMCACHED_VERIFIER__MODEL_PATH, or unset it for the "
        "packaged model",
        path=str(path),
    )


class OnnxPairScorer:
    """Scores (cached text, query) pairs with an exported cross-encoder (see the module doc)."""

    def __init__(
        self,
        model_dir: str | Path,
        *,
        threads: int | None = 1,
        memo_size: int = 8192,
        name: str = "verifier",
    ) -> None:
        from semcached.embeddings.onnx_runtime import OnnxEncoder

        path = pair_model_dir(model_dir)
        model = next(path / f for f in _MODEL_FILES if (path / f).is_file())
        self.path = path
        self._name = name
        self.max_length = _max_length(path)
        self._encoder = OnnxEncoder(
            model, path / "tokenizer.json", max_length=self.max_length, threads=threads
        )
        self._memo: OrderedDict[bytes, float] = OrderedDict()
        self._memo_size = memo_size
        self._lock = threading.Lock()

    @classmethod
    def packaged(cls, *, threads: int | None = 1, build: bool = True) -> OnnxPairScorer:
        """The pair model that ships with semcached (trained on data licensed for shipping),
        from its ONNX export (made on first use when torch is installed; see
        :mod:`semcached.embeddings.verifier_model`)."""
        from semcached.embeddings.verifier_model import packaged_onnx_dir

        return cls(packaged_onnx_dir(build=build), threads=threads)

    @property
    def name(self) -> str:
        return self._name

    def score(self, cached: str, query: str) -> float:
        return self.score_many([(cached, query)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        keys = [_pair_key(a, b) for a, b in pairs]
        known: dict[bytes, float] = {}
        with self._lock:
            for key in keys:
                if key in self._memo:
                    known[key] = self._memo[key]
                    self._memo.move_to_end(key)
        todo = {key: pair for key, pair in zip(keys, pairs, strict=True) if key not in known}
        if todo:
            # Each pair alone: dynamic int8 quantization scales activations over the whole
            # input, so in a batch a pair's score would move (~1e-3) with its neighbours, and a
            # replay's scores would not be exactly what a lookup computes.
            logits = np.concatenate([self._encoder.encode_pairs([pair]) for pair in todo.values()])
            for key, value in zip(todo, _probabilities(logits), strict=True):
                known[key] = value
            with self._lock:
                for key in todo:
                    self._memo[key] = known[key]
                while len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
        return [known[key] for key in keys]


def _probabilities(logits: np.ndarray) -> list[float]:
    values = np.asarray(logits, dtype=np.float64)
    if values.ndim == 1 or values.shape[-1] == 1:
        flat = values.reshape(-1)
        return [float(v) for v in 1.0 / (1.0 + np.exp(-flat))]
    shifted = values - values.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return [float(v) for v in (exp[:, -1] / exp.sum(axis=-1))]


def _max_length(path: Path, default: int = 256) -> int:
    for name in ("semcached_onnx.json", "semcached_verifier.json"):
        try:
            data = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for key in ("max_length", "max_seq_length"):
            value = data.get(key) or (data.get("options") or {}).get(key)
            if isinstance(value, int) and value > 2:
                return value
    return default


def _pair_key(cached: str, query: str) -> bytes:
    """A 128-bit digest of a pair: the memo holds no prompt text."""
    return xxhash.xxh3_128_digest(f"{len(cached)}:{cached}\0{query}".encode("utf-8", "replace"))
