"""Export a local model to ONNX (torch, imported only here and only while exporting).

``export_onnx`` turns a sentence-transformers model directory (Transformer, Pooling and
Normalize modules, such as the packaged all-MiniLM-L6-v2) or a Hugging Face
sequence-classification directory (a cross-encoder, such as ``semcached train-verifier`` makes)
into a directory that :class:`~semcached.embeddings.onnx_runtime.OnnxEncoder` runs without torch::

    model.onnx               the graph, fp32 or dynamically quantized int8
    tokenizer.json           the model's tokenizer (the runtime uses the tokenizers library)
    config.json              the model's transformers config, for reference
    sentence_bert_config.json, 1_Pooling/config.json   (embedding models) max length, pooling
    semcached_onnx.json      what was exported from what, how, and how closely it agrees

The exporter is torch's TorchScript-based one (``torch.onnx.export(..., dynamo=False)``): with
torch 2.13 the default dynamo exporter needs the ``onnxscript`` package, which semcached does not
otherwise need, while the TorchScript exporter works offline with what is installed, exports in
about a second instead of eight, writes one self-contained file instead of a graph plus an
external-data file, and its graph ran at least as fast on ONNX Runtime when both were measured
(it is deprecated since torch 2.9: should a later torch drop it, ``dynamo=True`` with
``onnxscript`` installed is the replacement, checked by the same probes). Every
export is checked before it is published: fp32 must reproduce the PyTorch vectors (or logits) to
within :data:`FP32_TOLERANCE` on a fixed set of probe texts, or the export fails.

Writes are atomic: everything goes to a temporary sibling directory that is renamed into place
when complete, so a reader (or a second process exporting at the same time) never sees a half
file. Run it from the shell::

    python -m semcached.embeddings.onnx_export            # the packaged model, fp32, to the cache
    python -m semcached.embeddings.onnx_export MODEL_DIR --out DIR --quantize int8
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xxhash

from semcached.embeddings.atomic_dir import publish_dir, staging_dir
from semcached.embeddings.sentence_transformer import default_model_path, model_fingerprint
from semcached.errors import ConfigurationError, ModelLoadError

__all__ = [
    "CLASSIFIER_MAX_LENGTH",
    "FP32_TOLERANCE",
    "MANIFEST_FILE",
    "ONNX_CACHE_ENV",
    "Quantize",
    "default_onnx_dir",
    "export_onnx",
    "file_digest",
    "onnx_cache_root",
    "read_manifest",
]

Quantize = Literal[None, "int8"]
ModelKind = Literal["embedding", "sequence-classification"]

MANIFEST_FILE = "semcached_onnx.json"
MANIFEST_FORMAT = 1
ONNX_CACHE_ENV = "SEMCACHED_ONNX_CACHE"
OPSET = 17  # has LayerNormalization; ONNX Runtime fuses the rest of BERT's blocks itself
# Largest absolute difference allowed between a PyTorch and an fp32 ONNX output (unit vectors or
# logits); measured differences are about 3e-7.
FP32_TOLERANCE = 1e-4
# An int8 export whose vectors fall below this cosine to PyTorch's on a probe is refused as
# broken (measured: 0.95 on the worst probe, "?!", and 0.984 at worst on real prompts).
INT8_MIN_COSINE = 0.9

# A sequence-classification model's token limit when the caller gives none: what the verifier
# assumes for a cross-encoder that does not record its training length.
CLASSIFIER_MAX_LENGTH = 128
_SUPPORTED_MODULES = ("Transformer", "Pooling", "Normalize")

# What every export is checked on: short, empty, punctuation only, non-ASCII, and longer than the
# model's window (so truncation is exercised); batched together, so padding is exercised too.
_PROBES: tuple[str, ...] = (
    "What is the capital of France?",
    "",
    "   ",
    "?!",
    "How do I reset my password if I no longer have access to my e-mail account?",
    "Héllo, wie geht's? Ça va très bien, merci. Привет, как дела? 東京はどこですか 🙂",
    "SELECT * FROM users WHERE id = 42; -- 3.14 kg, $5, 10%",
    " ".join(["a long prompt that runs past the window of the model"] * 60),
)
_PROBE_PAIRS: tuple[tuple[str, str], ...] = (
    ("What is the capital of France?", "Which city is France's capital?"),
    ("How do I learn Java?", "How do I learn Python?"),
    ("", "empty first text"),
    (" ".join(["long first text"] * 200), "short second"),
)


def onnx_cache_root() -> Path:
    """Where exports are cached: ``$SEMCACHED_ONNX_CACHE``, else ``~/.cache/semcached/onnx``
    (``$XDG_CACHE_HOME/semcached/onnx`` when that is set)."""
    configured = os.environ.get(ONNX_CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "semcached" / "onnx"


def default_onnx_dir(model_dir: str | Path, quantize: Quantize = None) -> Path:
    """The cache directory for an export of ``model_dir``: ``<root>/<fingerprint>-<fp32|int8>``.

    The fingerprint hashes every file of the model, so changed weights get a new directory.

    Example::

        onnx_dir = default_onnx_dir(default_model_path(), "int8")  # .../<hash>-int8
    """
    _check_quantize(quantize)
    return onnx_cache_root() / f"{model_fingerprint(Path(model_dir))}-{quantize or 'fp32'}"


def file_digest(path: Path) -> str:
    """xxh3-64 of one file's bytes, as hex (the manifest records it for ``model.onnx``)."""
    digest = xxhash.xxh3_64()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(onnx_dir: Path) -> dict[str, Any] | None:
    """The export's manifest, or None when the directory has none (not made by semcached)."""
    file = onnx_dir / MANIFEST_FILE
    if not file.is_file():
        return None
    try:
        manifest = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"the export manifest {str(file)!r} is unreadable ({exc}); expected JSON written by "
            "semcached. Fix: export again with `python -m semcached.embeddings.onnx_export`",
            path=str(file),
        ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ModelLoadError(
            f"the export manifest {str(file)!r} is not format {MANIFEST_FORMAT} (got "
            f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r}). Fix: "
            "export again with `python -m semcached.embeddings.onnx_export`",
            path=str(file),
        )
    return manifest


def export_onnx(
    model_dir: str | Path,
    out_dir: str | Path,
    *,
    quantize: Quantize = None,
    overwrite: bool = True,
    max_length: int | None = None,
) -> Path:
    """Export ``model_dir`` to ONNX in ``out_dir`` (atomically) and return ``out_dir``.

    ``quantize="int8"`` quantizes the weights of every MatMul dynamically (faster; vectors drift
    a little, so such an export gets its own ``model_id``). An existing export in ``out_dir`` is
    replaced, or kept and returned when ``overwrite`` is false; a directory that is not an export
    is never replaced. ``max_length`` is a sequence-classification model's token limit (default
    128, what the verifier assumes when a model does not say; its caller knows the length it
    was trained with); an embedding model's is always its ``sentence_bert_config.json``'s, so
    that its vectors stay PyTorch's. Needs torch and transformers, imported here only.

    Example::

        onnx_dir = export_onnx(default_model_path(), "/tmp/minilm-onnx")
        embedder = OnnxEmbedder(onnx_dir)
    """
    _check_quantize(quantize)
    source, target = Path(model_dir), Path(out_dir)
    kind = _source_kind(source)
    if max_length is not None and (kind == "embedding" or max_length < 2):
        raise ConfigurationError(
            f"max_length={max_length} for the {kind} model at {str(source)!r}: expected a "
            "token limit of at least 2, for a sequence-classification model only (an "
            "embedding model keeps its own, so that its vectors match PyTorch's)"
        )
    if (target / MANIFEST_FILE).is_file() and not overwrite:
        return target
    if target.exists() and not _replaceable(target):
        raise ModelLoadError(
            f"refusing to export into {str(target)!r}: it exists and is not a semcached ONNX "
            f"export (no {MANIFEST_FILE}); expected a new or empty directory. Fix: choose "
            "another --out directory",
            path=str(target),
        )
    with staging_dir(target) as staging:
        _export_into(source, staging, kind=kind, quantize=quantize, max_length=max_length)
        publish_dir(staging, target, overwrite=overwrite, marker=MANIFEST_FILE)
    return target


def _check_quantize(quantize: object) -> None:
    if quantize not in (None, "int8"):
        raise ConfigurationError(f"quantize must be None or 'int8', got {quantize!r}")


def _source_kind(source: Path) -> ModelKind:
    """What ``source`` holds, checked before any heavy import."""
    modules_file = source / "modules.json"
    if modules_file.is_file():
        try:
            modules = json.loads(modules_file.read_text(encoding="utf-8"))
            names = [str(module["type"]).rsplit(".", 1)[-1] for module in modules]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"unreadable {str(modules_file)!r} ({exc}); expected a sentence-transformers "
                "modules.json",
                path=str(source),
            ) from exc
        if not names or names[0] != "Transformer" or not set(names) <= set(_SUPPORTED_MODULES):
            raise ModelLoadError(
                f"the sentence-transformers model at {str(source)!r} has modules {names}; the "
                f"ONNX backend supports {list(_SUPPORTED_MODULES)} (Transformer first). Fix: use "
                "the sentence-transformers backend for this model",
                path=str(source),
            )
        return "embedding"
    config = _read_json(source / "config.json", source)
    architectures = config.get("architectures") or []
    if any(str(name).endswith("ForSequenceClassification") for name in architectures):
        return "sequence-classification"
    raise ModelLoadError(
        f"no exportable model at {str(source)!r}: expected a sentence-transformers directory "
        "(modules.json) or a Hugging Face *ForSequenceClassification directory (config.json), "
        f"found architectures {architectures}",
        path=str(source),
    )


def _read_json(file: Path, source: Path) -> dict[str, Any]:
    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not read {str(file)!r} ({exc}); expected a model directory with it",
            path=str(source),
        ) from exc
    if not isinstance(value, dict):
        raise ModelLoadError(f"{str(file)!r} is not a JSON object", path=str(source))
    return value


def _export_into(
    source: Path, staging: Path, *, kind: ModelKind, quantize: Quantize, max_length: int | None
) -> None:
    """Copy the runtime files, trace, quantize, verify, then write the manifest (last)."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelLoadError(
            f"exporting {str(source)!r} to ONNX needs torch and transformers ({exc}); install "
            "them (`pip install torch==2.13.0 transformers`) where you export, or copy an "
            "exported directory from a machine that has them",
            path=str(source),
        ) from exc
    started = time.perf_counter()
    transformer_dir, own_length = _stage_runtime_files(source, staging, kind=kind)
    max_length = own_length if max_length is None else max_length
    if kind == "embedding":
        model: Any = transformers.AutoModel.from_pretrained(
            str(transformer_dir), local_files_only=True
        )
        output_name = "last_hidden_state"
    else:
        model = transformers.AutoModelForSequenceClassification.from_pretrained(
            str(transformer_dir), local_files_only=True
        )
        output_name = "logits"
    model.eval()
    limit = int(getattr(model.config, "max_position_embeddings", max_length) or max_length)
    max_length = min(max_length, limit)
    takes_types = int(getattr(model.config, "type_vocab_size", 0) or 0) > 0
    input_names = ["input_ids", "attention_mask", *(["token_type_ids"] if takes_types else [])]
    graph_file = staging / ("model.fp32.onnx" if quantize else "model.onnx")
    _trace(model, graph_file, staging / "tokenizer.json", input_names, output_name, kind=kind)
    if quantize == "int8":
        _quantize_int8(graph_file, staging / "model.onnx")
        graph_file.unlink()
    agreement = _verify(source, staging, kind=kind, quantize=quantize, max_length=max_length)
    fingerprint = model_fingerprint(source)
    manifest = {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "quantize": quantize,
        "source": {
            "name": source.name,
            "fingerprint": fingerprint,
            # What SentenceTransformerEmbedder calls this model; an fp32 export shares it.
            "model_id": f"{source.name}-{fingerprint}",
        },
        "model_file": "model.onnx",
        "model_digest": file_digest(staging / "model.onnx"),
        "max_length": max_length,
        "inputs": input_names,
        "output": output_name,
        "exporter": "torch.onnx.export(dynamo=False) (TorchScript)",
        "opset": OPSET,
        "versions": {
            "torch": str(torch.__version__),
            "transformers": str(transformers.__version__),
            "onnxruntime": _onnxruntime_version(),
        },
        "agreement": agreement,
        "export_seconds": round(time.perf_counter() - started, 2),
    }
    (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _stage_runtime_files(source: Path, staging: Path, *, kind: ModelKind) -> tuple[Path, int]:
    """Copy what the runtime reads into ``staging``; return the transformer's folder and the
    model's token limit."""
    if kind == "embedding":
        modules = json.loads((source / "modules.json").read_text(encoding="utf-8"))
        paths = {str(m["type"]).rsplit(".", 1)[-1]: str(m.get("path", "")) for m in modules}
        transformer_dir = source / paths["Transformer"]
        st_config = _read_json(transformer_dir / "sentence_bert_config.json", source)
        if st_config.get("do_lower_case"):
            raise ModelLoadError(
                f"{str(source)!r} asks sentence-transformers to lowercase inputs "
                "(do_lower_case), which the ONNX backend does not reproduce; use the "
                "sentence-transformers backend for this model",
                path=str(source),
            )
        max_length = int(st_config["max_seq_length"])
        (staging / "1_Pooling").mkdir()
        pooling_dir = source / paths.get("Pooling", "1_Pooling")
        shutil.copy2(pooling_dir / "config.json", staging / "1_Pooling" / "config.json")
        shutil.copy2(
            transformer_dir / "sentence_bert_config.json", staging / "sentence_bert_config.json"
        )
    else:
        transformer_dir = source
        max_length = CLASSIFIER_MAX_LENGTH
    if not (transformer_dir / "tokenizer.json").is_file():
        raise ModelLoadError(
            f"no tokenizer.json in {str(transformer_dir)!r}; the ONNX backend tokenizes with the "
            "tokenizers library and needs a fast tokenizer's file. Fix: save the tokenizer with "
            "`AutoTokenizer.from_pretrained(...).save_pretrained(dir)`",
            path=str(source),
        )
    shutil.copy2(transformer_dir / "tokenizer.json", staging / "tokenizer.json")
    shutil.copy2(transformer_dir / "config.json", staging / "config.json")
    return transformer_dir, max_length


def _trace(
    model: Any,
    graph_file: Path,
    tokenizer_file: Path,
    input_names: list[str],
    output_name: str,
    *,
    kind: ModelKind,
) -> None:
    """Trace ``model`` to ``graph_file`` with dynamic batch and sequence axes."""
    import torch

    from semcached.embeddings.onnx_runtime import load_tokenizer

    class _Graph(torch.nn.Module):
        """Positional inputs in, one tensor out: what the TorchScript exporter traces."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            outputs = self.inner(**dict(zip(input_names, inputs, strict=True)))
            return getattr(outputs, output_name)

    tokenizer = load_tokenizer(tokenizer_file, max_length=None)
    # Two rows of different lengths, so the traced graph sees padding and a batch above one.
    example = tokenizer.encode_batch(["a traced example", "a second, longer traced example text"])
    width = max(len(e.ids) for e in example)
    columns = {
        "input_ids": [e.ids + [0] * (width - len(e.ids)) for e in example],
        "attention_mask": [e.attention_mask + [0] * (width - len(e.ids)) for e in example],
        "token_type_ids": [e.type_ids + [0] * (width - len(e.ids)) for e in example],
    }
    args = tuple(torch.tensor(columns[name], dtype=torch.int64) for name in input_names)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes[output_name] = {0: "batch", 1: "sequence"} if kind == "embedding" else {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter warns that it is deprecated, and the tracer that Python-level
        # shape checks are frozen; the probe check in _verify is what proves the graph right.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Graph(model),
            args,
            str(graph_file),
            dynamo=False,
            input_names=input_names,
            output_names=[output_name],
            dynamic_axes=axes,
            opset_version=OPSET,
        )


class _NoPreprocessingHint(logging.Filter):
    """quantize_dynamic logs advice for static quantization on the root logger; not for us."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing" not in record.getMessage()


def _quantize_int8(fp32_file: Path, int8_file: Path) -> None:
    """Dynamic int8: MatMul weights quantized per output channel to 7 bits, activations per call.

    Measured against PyTorch on 1,000 Quora questions (cosine mean / worst): per-tensor weights
    0.968 / 0.896, per-channel 0.994 / 0.983, per-channel 7-bit 0.993 / 0.983, at the same speed.
    7-bit (``reduce_range``) is what ONNX Runtime recommends for per-channel weights on CPUs
    without VNNI, where 8-bit products can saturate; the file may be copied to such a machine.
    Quantizing the embedding tables (Gather) as well saves file size, not time.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    hint = _NoPreprocessingHint()
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(
            fp32_file,
            int8_file,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
        )
    finally:
        logging.getLogger().removeFilter(hint)


def _verify(
    source: Path, staging: Path, *, kind: ModelKind, quantize: Quantize, max_length: int
) -> dict[str, Any]:
    """Compare the export with PyTorch on the probes; raise when fp32 does not reproduce it."""
    from semcached.embeddings.base import l2_normalize
    from semcached.embeddings.onnx_runtime import OnnxEncoder, Pooling

    if kind == "embedding":
        from sentence_transformers import SentenceTransformer

        reference = l2_normalize(
            SentenceTransformer(str(source), device="cpu").encode(
                list(_PROBES), convert_to_numpy=True, show_progress_bar=False
            )
        )
        encoder = OnnxEncoder(
            staging / "model.onnx",
            staging / "tokenizer.json",
            max_length=max_length,
            pooling=Pooling.from_config(staging / "1_Pooling" / "config.json"),
        )
        batched = l2_normalize(encoder.encode_texts(_PROBES))
        single = l2_normalize(np.vstack([encoder.encode_texts([text]) for text in _PROBES]))
        got = np.vstack([batched, single])
        want = np.vstack([reference, reference])
        cosines = (got * want).sum(axis=1)
        result = {"probes": len(_PROBES), "min_cosine": float(cosines.min())}
    else:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        hf_tokenizer: Any = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
        hf_model: Any = AutoModelForSequenceClassification.from_pretrained(
            str(source), local_files_only=True
        ).eval()
        firsts, seconds = [a for a, _ in _PROBE_PAIRS], [b for _, b in _PROBE_PAIRS]
        with torch.inference_mode():
            encoded = hf_tokenizer(
                firsts, seconds, truncation=True, max_length=max_length, padding=True,
                return_tensors="pt",
            )  # fmt: skip
            want = hf_model(**encoded).logits.float().numpy()
        encoder = OnnxEncoder(
            staging / "model.onnx", staging / "tokenizer.json", max_length=max_length
        )
        got = encoder.encode_pairs(_PROBE_PAIRS)
        result = {"probes": len(_PROBE_PAIRS)}
    worst = float(np.abs(got - want).max())
    result["max_abs_difference"] = worst
    if quantize is None and not worst <= FP32_TOLERANCE:
        raise ModelLoadError(
            f"the fp32 ONNX export of {str(source)!r} does not reproduce PyTorch: largest "
            f"difference {worst:.2e}, expected at most {FP32_TOLERANCE:.0e}. The model uses "
            "something the TorchScript exporter traces wrongly; use the sentence-transformers "
            "backend for it",
            path=str(source),
        )
    if quantize == "int8" and kind == "embedding" and not result["min_cosine"] >= INT8_MIN_COSINE:
        raise ModelLoadError(
            f"the int8 ONNX export of {str(source)!r} drifts too far from PyTorch: cosine "
            f"{result['min_cosine']:.4f} on a probe, expected at least {INT8_MIN_COSINE}; use "
            "the fp32 export for this model",
            path=str(source),
        )
    return result


def _onnxruntime_version() -> str:
    import onnxruntime

    return str(onnxruntime.__version__)


def _replaceable(target: Path) -> bool:
    """Only an empty directory or an earlier export may be replaced, never anything else."""
    if not target.is_dir():
        return False
    return (target / MANIFEST_FILE).is_file() or not any(target.iterdir())


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m semcached.embeddings.onnx_export [MODEL_DIR] [--out DIR] [--quantize int8]``."""
    parser = argparse.ArgumentParser(
        prog="python -m semcached.embeddings.onnx_export",
        description="Export a local model to ONNX for semcached's ONNX Runtime backend.",
    )
    parser.add_argument(
        "model_dir", nargs="?", help="model directory (default: the packaged all-MiniLM-L6-v2)"
    )
    parser.add_argument(
        "--out", help=f"output directory (default: the cache, ${ONNX_CACHE_ENV} or ~/.cache)"
    )
    parser.add_argument("--quantize", choices=["int8"], default=None, help="dynamic int8 weights")
    parser.add_argument(
        "--max-length",
        type=int,
        help=f"a cross-encoder's token limit (default {CLASSIFIER_MAX_LENGTH}; not for embedders)",
    )
    options = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    quantize: Quantize = "int8" if options.quantize == "int8" else None
    try:
        source = Path(options.model_dir) if options.model_dir else default_model_path()
        out = Path(options.out) if options.out else default_onnx_dir(source, quantize)
        written = export_onnx(source, out, quantize=quantize, max_length=options.max_length)
    except ConfigurationError as exc:  # ModelLoadError is one
        print(f"error: {exc}", file=sys.stderr)
        return 1
    manifest = read_manifest(written) or {}
    print(f"{written}  ({manifest.get('agreement')}, {manifest.get('export_seconds')} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
