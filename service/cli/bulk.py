"""``semcached import FILE``: store many answers at once (warm a cache from logs or a seed set).

FILE is JSONL, one ``{"request": {...}, "response": {...}}`` per line (``ttl_s`` optional per
line is not read: ``--ttl`` applies to all). Stored in batches through
:meth:`SemanticCache.store_many` (one embedding call and one vector upsert per batch), on the
stores the settings configure, with a progress bar.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["import_command"]


def _items(path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise click.ClickException(f"{path}:{number}: not JSON ({exc})") from exc
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("request"), dict)
                or ("response" not in row)
            ):
                raise click.ClickException(
                    f'{path}:{number}: expected {{"request": {{...}}, "response": ...}}'
                )
            yield row["request"], row["response"]


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--namespace", help="Store into this namespace (default: the configured one).")
@click.option("--ttl", "ttl_s", type=click.FloatRange(min=0, min_open=True), help="Seconds.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=256, show_default=True)
def import_command(path: Path, namespace: str | None, ttl_s: float | None, batch_size: int) -> None:
    """Store the request/response pairs of PATH (JSONL) in the cache, in batches."""
    from tqdm import tqdm

    from semcached.engine.cache import SemanticCache
    from semcached.errors import SemcachedError
    from semcached.settings_check import load_settings

    try:
        cache = SemanticCache(load_settings())
    except SemcachedError as exc:
        raise click.ClickException(str(exc)) from exc
    total = sum(1 for line in path.open(encoding="utf-8") if line.strip())
    bar = tqdm(total=total, unit="answer", file=sys.stderr, desc="import")

    def progress(done: int) -> None:
        bar.update(done - bar.n)

    try:
        stored = cache.store_many(
            _items(path), namespace=namespace, ttl_s=ttl_s, batch_size=batch_size,
            progress=progress,
        )  # fmt: skip
    except SemcachedError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
        cache.close()
    click.echo(f"stored {stored} of {total} answers in namespace {namespace or cache.namespace!r}")
