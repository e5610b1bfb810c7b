"""``semcached eval-cache`` and ``semcached calibrate``: measure and tune hit quality.

Both replay labelled pairs through the real cache (see :mod:`semcached.quality.replay`),
configured from Settings (threshold, verifier, adaptive policy), on in-memory stores: no user data
is read or written, except the config file ``calibrate`` updates.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from semcached.settings import Settings, config_file_path

if TYPE_CHECKING:
    from semcached.quality.metrics import Replay

__all__ = ["calibrate", "eval_cache"]

_PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


def _replay(
    path: Path,
    *,
    limit: int | None,
    floor: float,
    verify: bool,
    embedding_cache: Path | None,
    namespace: str | None,
    quiet: bool,
    model: Path | None,
) -> Replay:
    from semcached import factory
    from semcached.embeddings.store import PersistentEmbedder
    from semcached.errors import SemcachedError
    from semcached.quality.evaluation import build_replay_cache, evaluate_path

    try:
        settings = Settings()
    except ValueError as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc
    if model is not None:
        if not verify or not settings.verifier.enabled:
            raise click.ClickException(
                "--model is the verifier's pair model; drop --no-verify and "
                "SEMCACHED_VERIFIER__ENABLED=false"
            )
        from semcached.embeddings.pair_scorer import pair_model_dir

        try:
            pair_model_dir(model)
        except SemcachedError as exc:
            raise click.ClickException(f"--model {model}: {exc}") from exc
        verifier = settings.verifier.model_copy(update={"model_path": model, "model": True})
        settings = settings.model_copy(update={"verifier": verifier})
    try:
        embedder = factory.build_embedder(settings)
        if embedding_cache is not None:
            embedder = PersistentEmbedder(getattr(embedder, "inner", embedder), embedding_cache)
        cache = build_replay_cache(settings, embedder=embedder, guards=None if verify else ())
    except SemcachedError as exc:
        raise click.ClickException(str(exc)) from exc

    def progress(done: int, total: int) -> None:
        if not quiet:
            click.echo(f"  replayed {done}/{total}", err=True)

    if not quiet:
        click.echo(f"replaying {path} through the cache...", err=True)
    try:
        if isinstance(embedder, PersistentEmbedder):
            from semcached.quality.pairs import load_pairs

            embedder.warm([t for p in load_pairs(path, limit=limit) for t in (p.a, p.b)])
        return evaluate_path(
            path, settings, limit=limit, floor=floor, cache=cache, progress=progress,
            namespace=namespace,
        )  # fmt: skip
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"could not read labelled pairs from {path}: {exc}") from exc


_common = [
    click.option("--limit", type=click.IntRange(min=1), help="Only the first N pairs."),
    click.option(
        "--floor",
        type=click.FloatRange(0.0, 1.0),
        default=0.80,
        show_default=True,
        help="Lowest threshold measured (each pair is looked up once at this floor).",
    ),
    click.option(
        "--verify/--no-verify",
        default=True,
        show_default=True,
        help="Replay with the verifier as configured, or with no guards at all.",
    ),
    click.option(
        "--embedding-cache",
        type=click.Path(file_okay=False, path_type=Path),
        help="Keep embeddings in this folder across runs (big files embed once).",
    ),
    click.option(
        "--model",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="Judge with this pair model (e.g. from train-verifier) instead of the packaged "
        "one; its minimum score is measured and calibrated with the threshold.",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print JSON for machines."),
]


def _with_common(fn: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.command("eval-cache")
@click.argument("path", type=_PATH)
@click.option("--namespace", help="Measure this namespace's configured threshold.")
@_with_common
def eval_cache(
    *,
    path: Path,
    namespace: str | None,
    limit: int | None,
    floor: float,
    verify: bool,
    embedding_cache: Path | None,
    model: Path | None,
    as_json: bool,
) -> None:
    """Replay labelled pairs through the cache and print its hit quality.

    PATH: JSONL {"a","b","label"} (label 1 = same question), PAWS-style TSV, CSV with
    a,b,label or question1,question2,is_duplicate, or a GPTCache-style JSON list of
    {"origin","similar"} (replayed as retrieval: store every origin, look up every paraphrase).
    Prints, per threshold and for the configured policy: hit rate on duplicates, false-hit
    rate on non-duplicates, precision, recall and F1, with and without the verifier, and a
    reliability table.
    """
    from semcached.quality.evaluation import format_report, report_dict

    replay = _replay(
        path, limit=limit, floor=floor, verify=verify, embedding_cache=embedding_cache,
        namespace=namespace, quiet=as_json, model=model,
    )  # fmt: skip
    if as_json:
        click.echo(json.dumps(report_dict(replay), indent=2))
    else:
        click.echo(format_report(replay))


@click.command("calibrate")
@click.argument("path", type=_PATH)
@click.option(
    "--target-precision",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    required=True,
    help="Share of semantic hits that must be right, e.g. 0.95.",
)
@click.option("--namespace", help="Set this namespace's threshold instead of the global one.")
@click.option(
    "--conservative",
    is_flag=True,
    help="Require the lower end of the 95% interval of precision to meet the target.",
)
@click.option(
    "--config-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here (default: SEMCACHED_CONFIG_FILE or <data_dir>/semcached.json).",
)
@click.option("--dry-run", is_flag=True, help="Print the choice, write nothing.")
@_with_common
def calibrate(
    *,
    path: Path,
    target_precision: float,
    namespace: str | None,
    conservative: bool,
    config_file: Path | None,
    dry_run: bool,
    limit: int | None,
    floor: float,
    verify: bool,
    embedding_cache: Path | None,
    model: Path | None,
    as_json: bool,
) -> None:
    """Pick the threshold meeting --target-precision with the most hits and save it.

    The pairs are replayed through the cache as configured (verifier included); the threshold
    chosen is written to the JSON config file Settings read (environment variables still
    take precedence), for every namespace or for --namespace. With the pair model (the packaged
    one, or --model), its minimum score is chosen together with the global threshold and both
    are written; --namespace keeps the configured minimum (one setting for every namespace).
    """
    from semcached.quality.calibration import choose_operating_point, write_threshold

    if model is not None and namespace is not None:
        raise click.ClickException(
            "the pair model and its minimum score are one setting for every namespace; "
            "calibrate with --model without --namespace"
        )
    replay = _replay(
        path, limit=limit, floor=floor, verify=verify, embedding_cache=embedding_cache,
        namespace=namespace, quiet=as_json, model=model,
    )  # fmt: skip
    # One namespace keeps the configured minimum score (a setting for every namespace).
    point = choose_operating_point(
        replay, target_precision, conservative=conservative, sweep_min_score=namespace is None
    )
    if point is None:
        message = (
            f"no threshold at or above {floor} reaches precision {target_precision} on {path}; "
            "lower the target, lower --floor, or add labelled pairs"
        )
        if as_json:
            click.echo(json.dumps({"ok": False, "error": message}))
        raise click.ClickException(message)
    min_score = point.min_score if namespace is None else None
    target = config_file or config_file_path()
    written = None
    if not dry_run:
        if target is None:
            raise click.ClickException(
                "SEMCACHED_CONFIG_FILE is empty (no config file); pass --config-file PATH"
            )
        written = write_threshold(
            target, point.threshold, namespace=namespace, min_score=min_score, model_path=model
        )
    scope = f"namespace {namespace!r}" if namespace else "every namespace"
    if as_json:
        body = {
            "ok": True,
            "namespace": namespace,
            "config_file": str(written or ""),
            **point.to_dict(),
        }
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"target precision {target_precision}: {point.describe()}")
    if written is None:
        click.echo("dry run: nothing written")
        sys.stdout.flush()
        return
    click.echo(f"wrote threshold {point.threshold:.3f} for {scope} to {written}")
    if min_score is not None:
        click.echo(f"wrote the pair model's minimum score {min_score:g} to the verifier settings")
    if model is not None:
        click.echo(f"wrote the pair model {model} to the verifier settings")
    watched = ["SEMCACHED_THRESHOLD"] if namespace is None else []
    if min_score is not None:
        watched.append("SEMCACHED_VERIFIER__MIN_SCORE")
    if model is not None:
        watched.append("SEMCACHED_VERIFIER__MODEL_PATH")
    overriding = [name for name in watched if name in os.environ]
    if overriding:
        click.echo(
            f"note: set in the environment, {', '.join(overriding)} take precedence over the "
            "config file",
            err=True,
        )
    sys.stdout.flush()
