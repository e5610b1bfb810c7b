"""``semcached export-model``: make the ONNX export the fast embedding backend loads."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["export_model"]


@click.command("export-model")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A local sentence-transformers model directory (default: the packaged MiniLM).",
)
@click.option("--int8", is_flag=True, help="Quantize to int8 (faster; vectors drift a little).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write it (default: the cache the backend reads, SEMCACHED_ONNX_CACHE or "
    "~/.cache/semcached/onnx).",
)
@click.option("--force", is_flag=True, help="Export again even if an export is there.")
def export_model(model_path: Path | None, int8: bool, out: Path | None, force: bool) -> None:
    """Export the embedding model (and the shipped pair model) to ONNX once (needs torch;
    serving then does not).

    The ONNX backend (SEMCACHED_EMBEDDING__BACKEND=onnx, the default) makes this export on
    first use when torch is installed; run it at install or image build time so the service
    starts without torch.
    """
    from semcached.embeddings.onnx_export import Quantize, default_onnx_dir, export_onnx
    from semcached.embeddings.sentence_transformer import default_model_path

    source = model_path or default_model_path()
    quantize: Quantize = "int8" if int8 else None
    target = out or default_onnx_dir(source, quantize)
    click.echo(f"exporting {source} ({quantize or 'fp32'}) to {target} ...", err=True)
    path = export_onnx(source, target, quantize=quantize, overwrite=force)
    click.echo(str(path))
    if model_path is None and out is None:
        from semcached.embeddings.verifier_model import LAYERS_FILE, packaged_dir, packaged_onnx_dir

        if (packaged_dir() / LAYERS_FILE).is_file():
            click.echo("exporting the verifier's pair model ...", err=True)
            click.echo(str(packaged_onnx_dir()))
