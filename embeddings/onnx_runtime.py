"""Run a BERT-family encoder exported to ONNX, with the ``tokenizers`` library: no torch.

:class:`OnnxEncoder` is the runtime half of the ONNX backend. It tokenizes exactly as
sentence-transformers does for the same model (the model's ``tokenizer.json``, ``[CLS] ... [SEP]``,
truncation to ``max_length`` tokens, longest-first for pairs), runs the graph on ONNX Runtime in
length-sorted batches (so a short text is never padded to a long one's length), and pools token
states as the model's ``1_Pooling/config.json`` says. It imports only numpy, onnxruntime and
tokenizers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from tokenizers import Encoding, Tokenizer

from semcached.errors import ConfigurationError, ModelLoadError

__all__ = [
    "MAX_DEFAULT_THREADS",
    "GraphOptimization",
    "OnnxEncoder",
    "Pooling",
    "PoolingMode",
    "default_threads",
    "length_batches",
    "load_tokenizer",
    "session_options",
]

PoolingMode = Literal["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]
GraphOptimization = Literal["disable", "basic", "extended", "all"]

# sentence-transformers' legacy boolean keys, in the order it concatenates the modes.
_LEGACY_POOLING_KEYS: dict[str, PoolingMode] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
_POOLING_MODES: tuple[PoolingMode, ...] = tuple(_LEGACY_POOLING_KEYS.values())

_GRAPH_LEVELS: dict[GraphOptimization, ort.GraphOptimizationLevel] = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}

# Measured on the 2-core reference machine (benchmarks/embedding_backends.py --sweep, and runs
# pairing one thread against two prompt by prompt): with spinning off and a core free, two
# intra-op threads were 10-35% faster on one prompt and faster on batches in most runs; on a
# saturated machine (load average 4-7) the two were within 15% of each other either way.
# More than two was not measured, so more is not the default.
MAX_DEFAULT_THREADS = 2


def default_threads() -> int:
    """The intra-op thread count used when none is given: the usable cores, at most
    :data:`MAX_DEFAULT_THREADS`."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(MAX_DEFAULT_THREADS, usable))


@dataclass(frozen=True, slots=True)
class Pooling:
    """How token states become one vector, as a sentence-transformers ``Pooling`` module does.

    Several modes are concatenated in the order given (sentence-transformers' order when read
    from a config file).

    Example::

        pooling = Pooling.from_config(Path(model_dir) / "1_Pooling" / "config.json")
        assert pooling.modes == ("mean",)
    """

    modes: tuple[PoolingMode, ...] = ("mean",)

    def __post_init__(self) -> None:
        if not self.modes:
            raise ConfigurationError("Pooling needs at least one mode, got none")
        unknown = [mode for mode in self.modes if mode not in _POOLING_MODES]
        if unknown:
            raise ConfigurationError(
                f"unknown pooling mode(s) {unknown}; expected some of {_POOLING_MODES}"
            )

    @classmethod
    def from_config(cls, path: str | Path) -> Pooling:
        """Read a sentence-transformers ``1_Pooling/config.json`` (new or legacy keys)."""
        file = Path(path)
        try:
            config = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"could not read the pooling config {str(file)!r}: {exc}; expected the "
                "sentence-transformers 1_Pooling/config.json of the model",
                path=str(file),
            ) from exc
        if not isinstance(config, dict):
            raise ModelLoadError(
                f"the pooling config {str(file)!r} holds {type(config).__name__}, expected an "
                'object such as {"pooling_mode_mean_tokens": true}',
                path=str(file),
            )
        if "include_prompt" in config and config["include_prompt"] is False:
            raise ModelLoadError(
                f"the pooling config {str(file)!r} excludes prompt tokens (include_prompt: "
                "false), which the ONNX backend does not do; use the sentence-transformers "
                "backend for this model",
                path=str(file),
            )
        raw = config.get("pooling_mode")
        if raw is not None:
            modes = (raw,) if isinstance(raw, str) else tuple(raw)
        else:
            modes = tuple(mode for key, mode in _LEGACY_POOLING_KEYS.items() if config.get(key))
            modes = modes or ("mean",)  # sentence-transformers' default when no key is set
        try:
            return cls(cast("tuple[PoolingMode, ...]", modes))
        except ConfigurationError as exc:
            raise ModelLoadError(f"{str(file)!r}: {exc}", path=str(file)) from exc

    def __call__(self, states: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
        """Pool ``(batch, seq, hidden)`` token states under a right-padded ``(batch, seq)`` mask."""
        weights = mask.astype(np.float32)[:, :, None]
        counts = weights.sum(axis=1)
        parts: list[NDArray[np.float32]] = []
        for mode in self.modes:
            if mode == "cls":
                parts.append(states[:, 0])
            elif mode == "max":
                parts.append(np.where(weights > 0, states, -np.inf).max(axis=1))
            elif mode in ("mean", "mean_sqrt_len_tokens"):
                summed = (states * weights).sum(axis=1)
                denominator = np.maximum(counts, 1e-9)
                if mode == "mean_sqrt_len_tokens":
                    denominator = np.sqrt(denominator)
                parts.append(summed / denominator)
            elif mode == "weightedmean":
                positions = np.arange(1, states.shape[1] + 1, dtype=np.float32)[None, :, None]
                scaled = weights * positions
                parts.append((states * scaled).sum(axis=1) / np.maximum(scaled.sum(axis=1), 1e-9))
            else:  # lasttoken: the last position the mask keeps (right padding)
                last = np.maximum(mask.sum(axis=1) - 1, 0)
                parts.append(states[np.arange(states.shape[0]), last])
        pooled = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        return np.asarray(pooled, dtype=np.float32)


def session_options(
    threads: int, graph_optimization: GraphOptimization = "all", *, spinning: bool = False
) -> ort.SessionOptions:
    """The ONNX Runtime options the encoder runs with (chosen by measurement; see the README).

    Sequential execution: a BERT graph is one chain of layers, so the parallel executor only adds
    scheduling cost. No spinning by default: idle intra-op threads would otherwise busy-wait and
    take CPU from the event loop and from other sessions on a small machine.
    """
    if threads < 1:
        raise ConfigurationError(f"threads must be at least 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = _GRAPH_LEVELS[graph_optimization]
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.log_severity_level = 3  # errors only: ORT's warnings are about its own internals
    return options


class OnnxEncoder:
    """A BERT-family ONNX encoder with its ``tokenizer.json``, batched by length.

    ``encode_texts`` tokenizes single texts; ``encode_pairs`` tokenizes ``(text_a, text_b)``
    pairs with segment ids (``token_type_ids``) as a cross-encoder expects. When the graph's
    output is token states ``(batch, seq, hidden)`` they are pooled with ``pooling``; an output
    that is already one row per input (pooled vectors, classifier logits) is returned as it is.
    Rows come back in input order. ``InferenceSession.run`` is documented thread-safe and the
    tokenizer is never changed after construction, so one encoder may serve several threads.

    Example::

        encoder = OnnxEncoder(
            "onnx/model.onnx", "onnx/tokenizer.json", max_length=256, pooling=Pooling(("mean",))
        )
        states = encoder.encode_texts(["What is the capital of France?"])  # (1, 384), not unit
    """

    def __init__(
        self,
        model_path: str | Path,
        tokenizer_path: str | Path,
        *,
        max_length: int,
        pooling: Pooling | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        graph_optimization: GraphOptimization = "all",
        spinning: bool = False,
        output_name: str | None = None,
    ) -> None:
        model_file, tokenizer_file = Path(model_path), Path(tokenizer_path)
        if max_length < 2:
            raise ConfigurationError(
                f"max_length must leave room for [CLS] and [SEP], got {max_length}"
            )
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be at least 1, got {batch_size}")
        self.threads = default_threads() if threads is None else threads
        self.max_length = max_length
        self.batch_size = batch_size
        self.pooling = pooling
        self.model_path = model_file
        self._tokenizer = load_tokenizer(tokenizer_file, max_length=max_length)
        # A second copy that never truncates: count_tokens must see the whole text.
        self._counter = load_tokenizer(tokenizer_file, max_length=None)
        options = session_options(self.threads, graph_optimization, spinning=spinning)
        if not model_file.is_file():
            raise ModelLoadError(
                f"no ONNX model at {str(model_file)!r} (expected a model.onnx file): export one "
                "with `python -m semcached.embeddings.onnx_export`",
                path=str(model_file),
            )
        try:
            self._session = ort.InferenceSession(
                str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/... types
            raise ModelLoadError(
                f"ONNX Runtime could not load {str(model_file)!r}: {exc}. The file is damaged or "
                "not an ONNX model; export it again with "
                "`python -m semcached.embeddings.onnx_export`",
                path=str(model_file),
            ) from exc
        self._input_names = [node.name for node in self._session.get_inputs()]
        known = {"input_ids", "attention_mask", "token_type_ids"}
        if not {"input_ids", "attention_mask"} <= set(self._input_names) <= known:
            raise ModelLoadError(
                f"the ONNX model {str(model_file)!r} has inputs {self._input_names}; expected "
                "a BERT-family encoder taking input_ids, attention_mask and optionally "
                "token_type_ids (as export_onnx writes it)",
                path=str(model_file),
            )
        outputs = self._session.get_outputs()
        chosen = outputs[0] if output_name is None else None
        for node in outputs:
            if node.name == output_name:
                chosen = node
        if chosen is None:
            raise ModelLoadError(
                f"the ONNX model {str(model_file)!r} has no output {output_name!r}; it has "
                f"{[node.name for node in outputs]}",
                path=str(model_file),
            )
        self.output_name: str = chosen.name
        shape = list(chosen.shape)
        self._token_states = len(shape) == 3
        if self._token_states and pooling is None:
            raise ModelLoadError(
                f"the ONNX model {str(model_file)!r} outputs token states {shape} under "
                f"{self.output_name!r}, so it needs a pooling config (1_Pooling/config.json)",
                path=str(model_file),
            )
        last = shape[-1] if shape else None
        self.output_dim: int | None = last if isinstance(last, int) else None
        if self._token_states and self.output_dim is not None and pooling is not None:
            self.output_dim *= len(pooling.modes)

    def count_tokens(self, text: str) -> int:
        """How many tokens the tokenizer makes of ``text``, without special tokens or truncation."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode_texts(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One output row per text (pooled when the graph outputs token states), in input order."""
        if not texts:
            return self._empty()
        if len(texts) == 1:  # skips encode_batch's thread-pool hand-off on the latency path
            return self._run([self._tokenizer.encode(texts[0])])
        return self._run(self._tokenizer.encode_batch(list(texts)))

    def encode_pairs(self, pairs: Sequence[tuple[str, str]]) -> NDArray[np.float32]:
        """One output row per ``(text_a, text_b)`` pair (a cross-encoder's logits), in input order.

        Pairs are tokenized ``[CLS] a [SEP] b [SEP]`` with segment ids 0 then 1, truncated
        longest-first to ``max_length`` tokens, as ``transformers`` tokenizers do.
        """
        if not pairs:
            return self._empty()
        return self._run(self._tokenizer.encode_batch([(a, b) for a, b in pairs]))

    def _empty(self) -> NDArray[np.float32]:
        return np.zeros((0, self.output_dim or 0), dtype=np.float32)

    def _run(self, encodings: Sequence[Encoding]) -> NDArray[np.float32]:
        lengths = [len(encoding.ids) for encoding in encodings]
        rows: list[NDArray[np.float32]] = [np.empty(0, dtype=np.float32)] * len(encodings)
        for chunk in length_batches(lengths, self.batch_size):
            width = lengths[chunk[0]]
            ids = np.zeros((len(chunk), width), dtype=np.int64)
            mask = np.zeros((len(chunk), width), dtype=np.int64)
            types = np.zeros((len(chunk), width), dtype=np.int64)
            for row, index in enumerate(chunk):
                encoding, length = encodings[index], lengths[index]
                ids[row, :length] = encoding.ids
                mask[row, :length] = encoding.attention_mask
                types[row, :length] = encoding.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            raw: Any = self._session.run(
                [self.output_name], {name: feeds[name] for name in self._input_names}
            )[0]
            output = np.asarray(raw, dtype=np.float32)
            if self._token_states:
                assert self.pooling is not None  # checked in __init__
                output = self.pooling(output, mask)
            for row, index in enumerate(chunk):
                rows[index] = output[row]
        return np.ascontiguousarray(np.stack(rows), dtype=np.float32)


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length, longest first.

    A batch is padded to its first (longest) member, so it is closed when full or when the next
    text is shorter than half of that: no text is ever padded to more than twice its length. (A
    plain chunking of the sorted order would pad 25 short prompts to 256 tokens when 7 long
    ones share their batch: four times the work.) Longest first also lets the first batch
    allocate the largest buffers, which later ones reuse.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for index in order:
        if (
            batches
            and len(batches[-1]) < batch_size
            and 2 * lengths[index] >= lengths[batches[-1][0]]
        ):
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


def load_tokenizer(path: Path, *, max_length: int | None) -> Tokenizer:
    """Read a ``tokenizer.json`` set up as sentence-transformers uses it: no padding (batches
    are padded here), truncation longest-first at ``max_length`` (``None``: never truncate)."""
    if not path.is_file():
        raise ModelLoadError(
            f"no tokenizer at {str(path)!r} (expected the model's tokenizer.json, which the "
            "export copies next to model.onnx): export the model again with "
            "`python -m semcached.embeddings.onnx_export`",
            path=str(path),
        )
    try:
        tokenizer = Tokenizer.from_file(os.fspath(path))
    except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
        raise ModelLoadError(
            f"could not read the tokenizer {str(path)!r}: {exc}; expected a Hugging Face "
            "tokenizers tokenizer.json",
            path=str(path),
        ) from exc
    # tokenizer.json may carry its own padding and truncation (all-MiniLM-L6-v2's says "pad
    # and cut at 128"); sentence-transformers overrides both, so do we: pad per batch here,
    # truncate at the model's max_seq_length.
    tokenizer.no_padding()
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length, strategy="longest_first")
    return tokenizer
