"""``semcached train-verifier``: fine-tune the verifier's cross-encoder on your labelled pairs.

Everything runs offline, from the packaged embedding model's weights (see
:mod:`semcached.quality.training`). The model directory it writes plugs into the verifier with
``SEMCACHED_VERIFIER__CROSS_ENCODER_PATH`` or ``semcached calibrate --cross-encoder``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["train_verifier"]


@click.command("train-verifier")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory to write the model to (created; an existing model there is replaced).",
)
@click.option("--epochs", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True)
@click.option(
    "--learning-rate", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=3e-5,
    show_default=True,
)  # fmt: skip
@click.option(
    "--max-length",
    type=click.IntRange(16, 512),
    default=128,
    show_default=True,
    help="Tokens of the two texts together (longer pairs are truncated).",
)
@click.option(
    "--holdout",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.1,
    show_default=True,
    help="Share held out for measuring, split by question (no held-out text is trained on).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N pairs.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--base-model",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Start from this local transformer (default: the packaged embedding model).",
)
@click.option("--threads", type=click.IntRange(1, 256), help="CPU threads for torch.")
@click.option("--json", "as_json", is_flag=True, help="Print the training report as JSON.")
def train_verifier(
    *,
    path: Path,
    out_dir: Path,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    max_length: int,
    holdout: float,
    limit: int | None,
    seed: int,
    base_model: Path | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Train a cross-encoder verifier on labelled pairs (PATH) and save it to --out.

    PATH: JSONL {"a","b","label"} (label 1 = same meaning), PAWS-style TSV, or CSV with
    a,b,label or question1,question2,is_duplicate. The held-out pairs are saved beside the
    model (holdout.jsonl.gz); measure and pick the operating point with

        semcached calibrate OUT/holdout.jsonl.gz --cross-encoder OUT --target-precision 0.95
    """
    from tqdm import tqdm

    from semcached.quality.pairs import load_pairs
    from semcached.quality.training import TrainingOptions, train_cross_encoder

    try:
        options = TrainingOptions(
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            max_length=max_length, holdout_fraction=holdout, seed=seed, base_model=base_model,
            threads=threads,
        )  # fmt: skip
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        pairs = load_pairs(path, limit=limit)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"could not read labelled pairs from {path}: {exc}") from exc
    bars: dict[str, Any] = {}

    def progress(phase: str, done: int, total: int) -> None:
        if phase not in bars:
            unit = "batch" if phase == "train" else "pair"
            bars[phase] = tqdm(total=total, desc=phase, unit=unit, file=sys.stderr, disable=as_json)
        bars[phase].update(done - bars[phase].n)

    try:
        report = train_cross_encoder(pairs, out_dir, options, progress=progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        for bar in bars.values():
            bar.close()
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(
        f"trained on {report.train_pairs} pairs ({report.train_duplicates} duplicates), "
        f"{report.epochs} epoch(s), {report.seconds:.0f} s, final loss {report.final_loss}"
    )
    if report.holdout_auc is not None:
        click.echo(
            f"held out {report.holdout_pairs} pairs ({report.holdout_duplicates} duplicates): "
            f"ROC AUC {report.holdout_auc:.4f}"
        )
        for precision, point in report.holdout_operating_points.items():
            click.echo(
                f"  precision {precision}: score >= {point['min_score']:.3f} keeps "
                f"{point['recall']:.1%} of duplicates"
            )
    click.echo(f"model saved to {out_dir}")
    if report.holdout_pairs:
        click.echo(
            "next: semcached calibrate "
            f"{out_dir / 'holdout.jsonl.gz'} --cross-encoder {out_dir} --target-precision 0.95"
        )
