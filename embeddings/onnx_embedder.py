"""The ONNX Runtime embedding backend: the same model as the PyTorch one, without torch.

:class:`OnnxEmbedder` runs an export made by :func:`~semcached.embeddings.onnx_export.export_onnx`
(by default of the packaged all-MiniLM-L6-v2, cached under ``$SEMCACHED_ONNX_CACHE`` or
``~/.cache/semcached/onnx``). It never imports torch, transformers or sentence-transformers to
load or to embed; only a first use without an export does, to make one, and only when torch is
installed.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semcached.embeddings.base import Vectors, l2_normalize
from semcached.embeddings.onnx_export import (
    MANIFEST_FILE,
    ONNX_CACHE_ENV,
    Quantize,
    default_onnx_dir,
    export_onnx,
    file_digest,
    read_manifest,
)
from semcached.embeddings.onnx_runtime import OnnxEncoder, Pooling
from semcached.embeddings.sentence_transformer import default_model_path, model_fingerprint
from semcached.errors import ConfigurationError, EmbeddingError, ModelLoadError

__all__ = ["OnnxEmbedder"]

_EXPORT_HINT = "python -m semcached.embeddings.onnx_export"
_REQUIRED_FILES = (
    "model.onnx",
    "tokenizer.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
)


class OnnxEmbedder:
    """Embeds with an ONNX export of a sentence-transformers model, on ONNX Runtime.

    With ``onnx_dir`` it loads that export and never exports. Without it, it uses the cached
    export of ``model_path`` (default: the packaged model) for ``quantize`` (``None``: fp32,
    ``"int8"``: dynamically quantized), exporting it on first use when torch is installed
    (``export=False`` forbids that) and raising :class:`ModelLoadError` otherwise.

    ``model_id``: an fp32 export reproduces the PyTorch vectors (checked when it was made, to
    1e-4 per component; about 3e-7 measured), so it has the *same* ``model_id`` as
    :class:`SentenceTransformerEmbedder` on that model, and caches built with either backend stay
    valid. An int8 export's vectors drift (cosine about 0.99 to PyTorch's), so it gets its own.

    Thread-safe without a lock: ONNX Runtime guarantees that ``InferenceSession.run`` may be
    called from several threads at once (on the CPU provider used here; its GPU providers' Python
    allocators are not), and the tokenizers are never changed after construction. Concurrent
    calls share the machine's cores, so batch them (``MicroBatchingEmbedder``) rather than run
    many at once. ``threads`` is ONNX Runtime's intra-op thread count (default: the usable cores,
    at most 2; see ``benchmarks/embedding_backends.py --sweep``); ``threads=1`` leaves a core to
    the rest of a busy process at little cost on a saturated machine.

    Example::

        embedder = OnnxEmbedder()                       # packaged all-MiniLM-L6-v2, fp32
        vectors = embedder.embed(["What is the capital of France?"])
        assert vectors.shape == (1, embedder.dim)
        assert embedder.model_id == SentenceTransformerEmbedder().model_id
    """

    def __init__(
        self,
        onnx_dir: str | Path | None = None,
        *,
        model_path: str | Path | None = None,
        quantize: Quantize = None,
        threads: int | None = None,
        batch_size: int = 32,
        export: bool = True,
    ) -> None:
        if onnx_dir is not None and (model_path is not None or quantize is not None):
            raise ConfigurationError(
                "pass either onnx_dir (an exported directory, which says what it holds) or "
                f"model_path/quantize (to use the cache), not both; got onnx_dir={onnx_dir!r}, "
                f"model_path={model_path!r}, quantize={quantize!r}"
            )
        self.exported = False  # whether this construction made the export
        if onnx_dir is not None:
            path = Path(onnx_dir)
            _check_layout(path, fix=f"export it with `{_EXPORT_HINT} MODEL_DIR --out {path}`")
        else:
            source = Path(model_path) if model_path is not None else default_model_path()
            path = default_onnx_dir(source, quantize)
            if not (path / MANIFEST_FILE).is_file():
                self._export(source, path, quantize=quantize, allowed=export)
                self.exported = True
            _check_layout(path, fix=f"remove it and export again with `{_EXPORT_HINT}`")
        self.path = path
        manifest = read_manifest(path)
        self.manifest: dict[str, Any] | None = manifest
        if manifest is not None and manifest.get("kind") != "embedding":
            raise ModelLoadError(
                f"the ONNX export at {str(path)!r} is a {manifest.get('kind')!r} model, expected "
                "an embedding model (a sentence-transformers export)",
                path=str(path),
            )
        if manifest is not None and file_digest(path / "model.onnx") != manifest["model_digest"]:
            raise ModelLoadError(
                f"{str(path / 'model.onnx')!r} is not the file that was exported there (its "
                f"digest differs from {MANIFEST_FILE}'s); it was changed or damaged. Fix: "
                f"export again with `{_EXPORT_HINT} --out {path}`",
                path=str(path),
            )
        self.quantize: Quantize = None if manifest is None else manifest.get("quantize")
        self._encoder = OnnxEncoder(
            path / "model.onnx",
            path / "tokenizer.json",
            max_length=_max_length(path, manifest),
            pooling=Pooling.from_config(path / "1_Pooling" / "config.json"),
            threads=threads,
            batch_size=batch_size,
        )
        dim = self._encoder.output_dim
        self._dim = dim if dim is not None else int(self._encoder.encode_texts(["dim"]).shape[1])
        self._model_id = _model_id(path, manifest)

    @staticmethod
    def _export(source: Path, path: Path, *, quantize: Quantize, allowed: bool) -> None:
        command = f"{_EXPORT_HINT} {source} --out {path}" + (" --quantize int8" if quantize else "")
        if not allowed or importlib.util.find_spec("torch") is None:
            why = "exporting on first use is off" if not allowed else "torch is not installed"
            raise ModelLoadError(
                f"no ONNX export of {str(source)!r} at {str(path)!r}, and {why}. Fix: run "
                f"`{command}` (where torch is installed; then copy the directory here), or pass "
                "OnnxEmbedder(onnx_dir=...) an exported directory",
                path=str(path),
            )
        try:
            export_onnx(source, path, quantize=quantize, overwrite=False)
        except OSError as exc:
            raise ModelLoadError(
                f"could not write the ONNX export of {str(source)!r} to {str(path)!r}: {exc}. "
                f"Fix: point ${ONNX_CACHE_ENV} at a writable directory, or run `{command}` "
                "where you can write and pass OnnxEmbedder(onnx_dir=...) the result",
                path=str(path),
            ) from exc

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def threads(self) -> int:
        """ONNX Runtime's intra-op thread count for this embedder."""
        return self._encoder.threads

    @property
    def max_tokens(self) -> int:
        """The model's input limit in tokens; longer texts are truncated (as with PyTorch)."""
        return self._encoder.max_length

    def count_tokens(self, text: str) -> int:
        """How many tokens the model's tokenizer makes of ``text`` (without special tokens)."""
        return self._encoder.count_tokens(text)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        try:
            raw = self._encoder.encode_texts(texts)
        except Exception as exc:  # ORT's own exception types, mapped at the boundary
            raise EmbeddingError(f"embedding {len(texts)} texts with ONNX failed: {exc}") from exc
        return l2_normalize(raw)


def _check_layout(path: Path, *, fix: str) -> None:
    missing = [name for name in _REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"no complete ONNX export at {str(path)!r}: missing {', '.join(missing)} (expected "
            f"{', '.join(_REQUIRED_FILES)}). Fix: {fix}",
            path=str(path),
        )


def _max_length(path: Path, manifest: dict[str, Any] | None) -> int:
    if manifest is not None:
        return int(manifest["max_length"])
    file = path / "sentence_bert_config.json"
    try:
        return int(json.loads(file.read_text(encoding="utf-8"))["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"could not read max_seq_length from {str(file)!r} ({exc}); expected "
            '{"max_seq_length": 256} as sentence-transformers writes it',
            path=str(path),
        ) from exc


def _model_id(path: Path, manifest: dict[str, Any] | None) -> str:
    if manifest is None:
        # Not made (and checked) by semcached: nothing says it matches any PyTorch model.
        return f"{path.name}-onnx-{model_fingerprint(path)}"
    source_id = str(manifest["source"]["model_id"])
    if manifest.get("quantize") is None:
        return source_id  # verified at export to reproduce the PyTorch vectors
    return f"{source_id}-onnx-{manifest['quantize']}-{str(manifest['model_digest'])[:12]}"
