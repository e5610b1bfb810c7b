"""``semcached train-verifier``: fine-tune the verifier's cross-encoder on your labelled pairs.

Everything runs offline, from the packaged embedding model's weights (see
:mod:`semcached.quality.training`). The model directory it writes (the trained model and its
int8 ONNX export in ``onnx/``) plugs into the verifier with ``SEMCACHED_VERIFIER__MODEL_PATH``
or ``semcached calibrate --model``. ``semcached build-verifier`` rebuilds the pair model that
ships with semcached.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["build_verifier", "train_verifier"]


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
    a,b,label or question1,question2,is_duplicate. The model is exported to int8 ONNX in
    OUT/onnx (what the verifier runs). The held-out pairs are saved beside the model
    (holdout.jsonl.gz); measure and pick the operating point with

        semcached calibrate OUT/holdout.jsonl.gz --model OUT --target-precision 0.95
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
    from semcached.embeddings.onnx_export import export_onnx

    if not as_json:
        click.echo("exporting to ONNX (int8) for the verifier...", err=True)
    export_onnx(out_dir, out_dir / "onnx", quantize="int8", max_length=max_length)
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
    click.echo(f"model saved to {out_dir} (ONNX export in {out_dir / 'onnx'})")
    if report.holdout_pairs:
        click.echo(
            "next: semcached calibrate "
            f"{out_dir / 'holdout.jsonl.gz'} --model {out_dir} --target-precision 0.95"
        )


@click.command("build-verifier")
@click.option(
    "--data",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("benchmarks/data"),
    show_default=True,
    help="semcached's own labelled prompts (short_train_*.jsonl, long_sources_train.json).",
)
@click.option(
    "--shared",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Public sets licensed for shipping (multiturn/ of MeanCache; paws/, gptcache_mock/ "
    "with --paws / --gptcache, their held-out halves untouched).",
)
@click.option("--synthetic", type=click.IntRange(0), default=21_000, show_default=True)
@click.option("--paws", is_flag=True, help="Also train on the training half of PAWS dev.")
@click.option("--gptcache", is_flag=True, help="Also train on the training half of GPTCache's.")
@click.option("--layers", type=click.IntRange(1, 6), default=4, show_default=True)
@click.option("--epochs", type=click.IntRange(1, 20), default=2, show_default=True)
@click.option("--learning-rate", type=float, default=5e-5, show_default=True)
@click.option("--max-length", type=click.IntRange(16, 512), default=160, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("semcached/data/verifier"),
    show_default=True,
    help="Where the shippable layers go (the package's pair model by default).",
)
@click.option(
    "--work",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/verifier"),
    show_default=True,
    help="Where the training data and the full trained model are kept.",
)
def build_verifier(
    *,
    data: Path,
    shared: Path | None,
    synthetic: int,
    paws: bool,
    gptcache: bool,
    layers: int,
    epochs: int,
    learning_rate: float,
    max_length: int,
    seed: int,
    out: Path,
    work: Path,
) -> None:
    """Rebuild the pair model semcached ships, from data whose licenses allow shipping.

    Assembles the training pairs (semcached.quality.verifier_data: hand-written, long-prompt,
    synthetic, mined and MeanCache pairs), fine-tunes a cross-encoder from the packaged MiniLM
    with its embeddings frozen, and writes only its layers to --out. About half an hour on two
    CPU cores for the defaults.
    """
    from tqdm import tqdm

    from semcached.embeddings.sentence_transformer import SentenceTransformerEmbedder
    from semcached.embeddings.verifier_model import packaged_onnx_dir, save_layers
    from semcached.quality.training import TrainingOptions, train_cross_encoder
    from semcached.quality.verifier_data import assemble

    click.echo("assembling the training pairs...", err=True)
    embedder = SentenceTransformerEmbedder()
    pairs = assemble(
        data, shared=shared, embed=embedder.embed, synthetic=synthetic, paws=paws,
        gptcache=gptcache, seed=seed,
    )  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    with (work / "train.jsonl").open("w", encoding="utf-8") as handle:
        for p in pairs:
            handle.write(json.dumps({"a": p.a, "b": p.b, "label": p.label, "source": p.source}))
            handle.write("\n")
    sources: dict[str, int] = {}
    for p in pairs:
        sources[f"{p.source}:{p.label}"] = sources.get(f"{p.source}:{p.label}", 0) + 1
    click.echo(f"{len(pairs)} pairs: {json.dumps(sources, sort_keys=True)}", err=True)
    options = TrainingOptions(
        epochs=epochs, learning_rate=learning_rate, max_length=max_length, holdout_fraction=0.0,
        seed=seed, layers=layers, bf16=True, freeze_embeddings=True,
    )  # fmt: skip
    bar = tqdm(desc="train", unit="batch", file=sys.stderr)

    def progress(phase: str, done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        report = train_cross_encoder(
            [p.as_pair() for p in pairs], work / "model", options, progress=progress
        )
    finally:
        bar.close()
    extra = {
        "max_length": max_length,
        "layers": layers,
        "trained_on": sources,
        "options": report.options,
        "recipe": "semcached build-verifier"
        + (f" --shared {shared}" if shared else "")
        + (" --paws" if paws else "")
        + (" --gptcache" if gptcache else ""),
    }
    save_layers(work / "model", out, extra=extra)
    click.echo(f"shippable layers written to {out}", err=True)
    if out.resolve() == _packaged().resolve():
        click.echo(f"ONNX export: {packaged_onnx_dir(out)}", err=True)


def _packaged() -> Path:
    from semcached.embeddings.verifier_model import packaged_dir

    return packaged_dir()
