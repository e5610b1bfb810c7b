"""An optional cross-encoder check on a local transformers model (torch), kept for models
``semcached train-verifier`` wrote before the pair model moved to ONNX
(:class:`semcached.embeddings.pair_scorer.OnnxPairScorer`)."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import xxhash

from semcached.policy.decision import Candidate
from semcached.policy.guards.base import Check

__all__ = ["VERIFIER_REPORT_FILE", "CrossEncoderGuard", "score_pairs"]

log = logging.getLogger("semcached.guards")


class CrossEncoderGuard(Check):
    """Vetoes candidates a local cross-encoder scores below ``min_score`` (0..1).

    A cross-encoder reads the query and the cached text together, so it judges what a sentence
    embedding blurs; it is optional and slower (about 11 ms per candidate on one CPU thread,
    only for candidates above the threshold that passed the cheap checks). Configure a local
    model directory (``SEMCACHED_VERIFIER__CROSS_ENCODER_PATH``): one that
    ``semcached train-verifier`` made from your own labelled pairs, or any Hugging Face
    sequence-classification model trained for duplicate questions or paraphrases. Nothing is
    ever fetched from a model hub. Scores of recent pairs are memoized, so a repeated lookup
    costs nothing extra.

    Example::

        guard = CrossEncoderGuard("models/verifier", min_score=0.6)
        cache = SemanticCache(guards=[*default_guards(), guard])
    """

    name = "cross_encoder"

    def __init__(
        self,
        model_path: str | Path,
        *,
        min_score: float = 0.5,
        device: str = "cpu",
        max_length: int | None = None,
        memo_size: int = 4096,
    ) -> None:
        from semcached.errors import ModelLoadError

        path = Path(model_path)
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"no cross-encoder model at {str(path)!r} (expected a local directory with "
                "config.json); fix SEMCACHED_VERIFIER__CROSS_ENCODER_PATH or unset it",
                path=str(path),
            )
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], got {min_score}")
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self._model: Any = AutoModelForSequenceClassification.from_pretrained(
                str(path), local_files_only=True
            )
            self._model.to(device).eval()
        except Exception as exc:
            raise ModelLoadError(
                f"could not load the cross-encoder at {str(path)!r}: {exc}", path=str(path)
            ) from exc
        labels = int(self._model.config.num_labels)
        if labels not in (1, 2):
            raise ModelLoadError(
                f"the cross-encoder at {str(path)!r} has {labels} labels; expected 1 (a score) "
                "or 2 (different, same)",
                path=str(path),
            )
        self.path = path
        self.min_score = min_score
        self._device = device
        self._max_length = max_length or _trained_max_length(path)
        self._memo: OrderedDict[bytes, float] = OrderedDict()  # keyed by a digest of the pair
        self._memo_size = memo_size
        self._lock = threading.Lock()
        # Lookups run in worker threads, and a fast tokenizer called from two threads at once
        # can fail ("Already borrowed", huggingface/tokenizers#537): one inference at a time.
        self._inference_lock = threading.Lock()

    def score(self, query: str, text: str) -> float:
        """The model's probability that the two texts mean the same."""
        return self.score_many([(query, text)])[0]

    def score_many(self, pairs: Sequence[tuple[str, str]], batch_size: int = 64) -> list[float]:
        """Scores of many (query, cached text) pairs, batched; memoized pairs are free."""
        keys = [_pair_key(query, text) for query, text in pairs]
        known: dict[bytes, float] = {}
        with self._lock:
            for key in keys:
                if key in self._memo:
                    known[key] = self._memo[key]
                    self._memo.move_to_end(key)
        todo = list(
            {key: pair for key, pair in zip(keys, pairs, strict=True) if key not in known}.items()
        )
        if todo:
            with self._inference_lock:
                values = score_pairs(
                    self._model, self._tokenizer, [pair for _, pair in todo],
                    max_length=self._max_length, device=self._device, batch_size=batch_size,
                )  # fmt: skip
            known.update((key, value) for (key, _), value in zip(todo, values, strict=True))
        with self._lock:
            for key, _ in todo:
                self._memo[key] = known[key]
            while len(self._memo) > self._memo_size:
                self._memo.popitem(last=False)
        return [known[key] for key in keys]

    def _check(self, query: str, candidate: Candidate) -> str | None:
        score = self.score(query, candidate.text)
        if score < self.min_score:
            return f"cross-encoder score {score:.3f} < {self.min_score:.3f}"
        return None


def score_pairs(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    device: str = "cpu",
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """A sequence-classification model's probability that each (query, text) pair means the
    same, in input order: the sigmoid of a single logit, or the softmax of (different, same).
    Batched by length, so little padding is computed."""
    import torch

    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
    scores = [0.0] * len(pairs)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encoded = tokenizer(
                [pairs[i][0] for i in chunk], [pairs[i][1] for i in chunk], truncation=True,
                max_length=max_length, padding=True, return_tensors="pt",
            ).to(device)  # fmt: skip
            logits = model(**encoded).logits
            if logits.shape[-1] == 1:
                probs = torch.sigmoid(logits[:, 0])
            else:  # (different, same)
                probs = torch.softmax(logits, dim=-1)[:, -1]
            for index, value in zip(chunk, probs.tolist(), strict=True):
                scores[index] = float(value)
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    return scores


VERIFIER_REPORT_FILE = "semcached_verifier.json"  # what semcached train-verifier writes


def _trained_max_length(path: Path, default: int = 128) -> int:
    """The token length a ``semcached train-verifier`` model was trained with (else 128)."""
    try:
        report = json.loads((path / VERIFIER_REPORT_FILE).read_text(encoding="utf-8"))
        return int(report["options"]["max_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return default


def _pair_key(query: str, text: str) -> bytes:
    """A 128-bit digest of a (query, cached text) pair: the memo holds no prompt text."""
    return xxhash.xxh3_128_digest(f"{len(query)}:{query}\x00{text}".encode())
