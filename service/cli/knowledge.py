"""``semcached ingest``, ``search`` and ``eval-search``: knowledge search from a shell.

``ingest`` reads a JSONL file (one ``{"id", "text", "metadata"}`` object per line; BEIR's
``_id``/``title`` also work) or a folder of ``.txt``/``.md`` files (the id is the relative
path), ``search`` prints a table of the best items, and ``eval-search`` measures nDCG@10,
recall@100 and latency on a BEIR folder. The first two use the configured store
(``SEMCACHED_*``); ``eval-search`` keeps its own under ``--data-dir``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from semcached.errors import SemcachedError

if TYPE_CHECKING:
    from semcached.index.knowledge.search import SearchMode

__all__ = ["eval_search", "ingest", "read_items", "search"]

_MODES = click.Choice(["dense", "lexical", "hybrid"])
_TEXT_SUFFIXES = (".txt", ".md", ".markdown")


def read_items(path: Path) -> tuple[int, Iterator[dict[str, Any]]]:
    """How many items ``path`` holds, and the items (read lazily)."""
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _TEXT_SUFFIXES
        )

        def from_folder() -> Iterator[dict[str, Any]]:
            for file in files:
                relative = file.relative_to(path).as_posix()
                text = file.read_text(encoding="utf-8", errors="replace")
                if text.strip():
                    yield {"id": relative, "text": text, "metadata": {"path": relative}}

        return len(files), from_folder()
    with path.open(encoding="utf-8") as handle:
        total = sum(1 for line in handle if line.strip())

    def from_jsonl() -> Iterator[dict[str, Any]]:
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise click.ClickException(
                        f"{path}:{n}: expected one JSON object per line, got invalid JSON "
                        f"({exc}). Fix: write JSON Lines, one item per line"
                    ) from exc
                if not isinstance(raw, dict):
                    raise click.ClickException(
                        f"{path}:{n}: expected an object with id and text, got {type(raw).__name__}"
                    )
                yield _jsonl_item(raw)

    return total, from_jsonl()


def _jsonl_item(raw: dict[str, Any]) -> dict[str, Any]:
    item_id = raw.get("id", raw.get("_id"))
    title = str(raw.get("title") or "")
    text = str(raw.get("text") or "")
    metadata = dict(raw.get("metadata") or {})
    if title:
        text = f"{title}\n\n{text}" if text else title
        metadata.setdefault("title", title)
    return {"id": None if item_id is None else str(item_id), "text": text, "metadata": metadata}


def _knowledge_base(**options: Any) -> Any:
    from semcached.index.knowledge.base import KnowledgeBase
    from semcached.settings import Settings

    try:
        return KnowledgeBase(Settings(), **options)
    except (SemcachedError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--collection", default="default", show_default=True, help="Knowledge collection.")
@click.option("--namespace", default=None, help="Namespace (default: SEMCACHED_NAMESPACE).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ingest(
    path: Path, collection: str, namespace: str | None, batch_size: int, as_json: bool
) -> None:
    """Chunk, embed and store PATH: a JSONL file or a folder of .txt/.md files.

    Unchanged items are skipped (content hash), changed ones replace all their old chunks, and
    an interrupted run can simply be run again.
    """
    from tqdm import tqdm

    total, items = read_items(path)
    kb = _knowledge_base(batch_size=batch_size)
    try:
        with tqdm(total=total, unit="item", desc="ingest", file=sys.stderr, disable=as_json) as bar:
            report = kb.upsert(
                items, collection=collection, namespace=namespace, progress=bar.update
            )
    except SemcachedError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(
        f"{report.items} items ({report.written} written, {report.unchanged} unchanged, "
        f"{report.metadata_only} metadata only), {report.chunks} chunks, "
        f"{report.removed_chunks} old chunks removed, {report.seconds:.1f} s, "
        f"{report.items_per_s:.1f} items/s"
    )
    if report.timings_s:
        split = ", ".join(f"{stage} {s:.1f} s" for stage, s in report.timings_s.items())
        click.echo(f"time: {split}")


def _json_option(value: str | None, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"expected a JSON object, got {value!r} ({exc})") from exc
    if not isinstance(parsed, dict):
        raise click.BadParameter(f"expected a JSON object, got {value!r}", param_hint=name)
    return parsed


@click.command()
@click.argument("query")
@click.option("-k", "--k", "k", type=click.IntRange(1, 200), default=5, show_default=True)
@click.option("--mode", type=_MODES, default="hybrid", show_default=True)
@click.option("--collection", default="default", show_default=True)
@click.option("--namespace", default=None, help="Namespace (default: SEMCACHED_NAMESPACE).")
@click.option("--where", default=None, help='Metadata filter as JSON, e.g. \'{"lang": "en"}\'.')
@click.option(
    "--where-document", default=None, help='Text filter as JSON, e.g. \'{"$contains": "x"}\'.'
)
@click.option("--min-score", type=float, default=None, help="Drop hits below this score.")
@click.option("--chunks", type=click.IntRange(1, 10), default=1, help="Chunks shown per item.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def search(
    *,
    query: str,
    k: int,
    mode: str,
    collection: str,
    namespace: str | None,
    where: str | None,
    where_document: str | None,
    min_score: float | None,
    chunks: int,
    as_json: bool,
) -> None:
    """Search a knowledge collection and print the best items as a table."""
    kb = _knowledge_base()
    try:
        result = kb.search(
            query,
            k=k,
            mode=cast("SearchMode", mode),
            collection=collection,
            namespace=namespace,
            where=_json_option(where, "--where"),
            where_document=_json_option(where_document, "--where-document"),
            min_score=min_score,
            chunks_per_item=chunks,
        )
    except SemcachedError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if not result.hits:
        click.echo(f"no results in {result.namespace}/{result.collection} ({mode})")
        return
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 160))
    click.echo(f"{'#':>2}  {'score':>7}  {'cosine':>6}  {'bm25':>6}  id")
    for rank, hit in enumerate(result.hits, start=1):
        cosine = "" if hit.similarity is None else f"{hit.similarity:.3f}"
        bm25 = "" if hit.lexical_score is None else f"{hit.lexical_score:.2f}"
        title = str(hit.metadata.get("title", ""))
        label = f"{hit.id}  {title}" if title else hit.id
        click.echo(
            f"{rank:>2}  {hit.score:>7.4f}  {cosine:>6}  {bm25:>6}  {label[: width - 30].rstrip()}"
        )
        for chunk in hit.chunks:
            snippet = " ".join(chunk.text.split())
            lines = textwrap.wrap(snippet, width=width - 8, max_lines=2, placeholder=" ...")
            for line in lines:
                click.echo(f"        {line}")
    click.echo(f"({len(result.hits)} hits, {mode}, {result.timings_ms.get('total', 0):.1f} ms)")


@click.command("eval-search")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the ingested collection here and reuse it on the next run (default: a "
    "temporary folder, deleted after).",
)
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to use.")
@click.option("--modes", default="dense,lexical,hybrid", show_default=True)
@click.option("--rrf-k", type=click.FloatRange(0), default=60.0, show_default=True)
@click.option("--dense-weight", type=click.FloatRange(0), default=1.0, show_default=True)
@click.option("--lexical-weight", type=click.FloatRange(0), default=1.0, show_default=True)
@click.option(
    "--warm-up/--no-warm-up",
    default=True,
    show_default=True,
    help="Embed every query once before timing (PyTorch's first call per input length is slow).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_search(
    *,
    folder: Path,
    data_dir: Path | None,
    split: str,
    modes: str,
    rrf_k: float,
    dense_weight: float,
    lexical_weight: float,
    warm_up: bool,
    as_json: bool,
) -> None:
    """Measure search on a BEIR folder: nDCG@10, recall@100 and query latency per mode."""
    from tqdm import tqdm

    from semcached import factory
    from semcached.embeddings import CachedEmbedder
    from semcached.index.knowledge.base import KnowledgeBase
    from semcached.index.knowledge.beir import evaluate, load_beir
    from semcached.index.knowledge.chroma import ChromaKnowledgeStore
    from semcached.settings import Settings

    wanted = [m.strip() for m in modes.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in ("dense", "lexical", "hybrid")]
    if unknown or not wanted:
        raise click.BadParameter(
            f"expected a comma-separated list of dense, lexical, hybrid; got {modes!r}",
            param_hint="--modes",
        )
    settings = Settings()
    temporary = None
    if data_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="semcached-eval-")
        data_dir = Path(temporary.name)
    try:
        data = load_beir(folder, split)
        # The configured backend (ONNX Runtime by default, as the service runs it), without
        # the text-to-vector cache: repeated queries across modes must pay for their embedding.
        built = factory.build_embedder(settings)
        embedder = built.inner if isinstance(built, CachedEmbedder) else built
        kb = KnowledgeBase(
            embedder=embedder,
            store=ChromaKnowledgeStore(path=data_dir / "chroma"),
            lexical_dir=data_dir / "lexical",
            rrf_k=rrf_k,
            dense_weight=dense_weight,
            lexical_weight=lexical_weight,
        )
        collection = "beir"
        with tqdm(
            total=len(data.corpus), unit="doc", desc="ingest", file=sys.stderr, disable=as_json
        ) as bar:
            ingest_report = kb.upsert(data.items(), collection=collection, progress=bar.update)
        with tqdm(
            total=len(data.queries) * len(wanted),
            unit="query",
            desc="search",
            file=sys.stderr,
            disable=as_json,
        ) as bar:
            figures = evaluate(
                kb,
                data,
                collection=collection,
                modes=[cast("SearchMode", m) for m in wanted],
                on_query=lambda: bar.update(1),
                warm_up=warm_up,
            )
    except SemcachedError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        if temporary is not None:
            temporary.cleanup()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "dataset": str(folder),
                    "documents": len(data.corpus),
                    "queries": len(data.queries),
                    "ingest": ingest_report.to_dict(),
                    "fusion": {"rrf_k": rrf_k, "weights": [dense_weight, lexical_weight]},
                    "warm_up": warm_up,
                    "modes": figures,
                }
            )
        )
        return
    click.echo(
        f"{folder}: {len(data.corpus)} documents, {len(data.queries)} queries; ingest "
        f"{ingest_report.items} items ({ingest_report.written} embedded) in "
        f"{ingest_report.seconds:.1f} s ({ingest_report.items_per_s:.1f} items/s; "
        + ", ".join(f"{k} {v:.1f} s" for k, v in ingest_report.timings_s.items())
        + ")"
    )
    click.echo(f"{'mode':<8}  {'nDCG@10':>8}  {'recall@100':>10}  {'median ms':>9}  {'p95 ms':>7}")
    for mode, row in figures.items():
        click.echo(
            f"{mode:<8}  {row['ndcg@10']:>8.4f}  {row['recall@100']:>10.4f}  "
            f"{row['latency_ms_median']:>9.1f}  {row['latency_ms_p95']:>7.1f}"
        )
