"""The ``semcached`` command line. Each feature's commands live in their own module."""

from __future__ import annotations

import json
import logging
import time

import click

from semcached.settings import Settings

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="semcached")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """semcached: a semantic cache and knowledge search for LLM applications.

    Settings come from SEMCACHED_* environment variables (see the README).
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@main.command()
@click.option(
    "--threshold",
    type=click.FloatRange(0.0, 1.0),
    default=None,
    help="Cosine similarity threshold (default: SEMCACHED_THRESHOLD or 0.90).",
)
def demo(threshold: float | None) -> None:
    """Show a miss, an exact hit and a semantic hit on the embedded defaults."""
    from semcached.engine.cache import SemanticCache

    settings = Settings()
    click.echo(f"data dir: {settings.data_dir.resolve()}  (SEMCACHED_DATA_DIR)")
    click.echo("loading the embedding model...")
    cache = SemanticCache(settings, threshold=threshold)
    namespace = f"demo-{int(time.time())}"

    def ask(question: str) -> None:
        request = {
            "model": "demo-model",
            "temperature": 0,
            "messages": [{"role": "user", "content": question}],
        }
        start = time.perf_counter()
        result = cache.get_or_call(
            request, lambda: {"answer": f"(provider's answer to {question!r})"}, namespace=namespace
        )
        ms = (time.perf_counter() - start) * 1000
        click.echo(
            f"\n> {question}\n  {result.source:<9} {ms:7.2f} ms  "
            f"{result.lookup.explain()}\n  answer: {json.dumps(result.response)}"
        )

    ask("How do I reset my password?")
    ask("How do I reset my password?")
    ask("How can I reset my password?")
    ask("How do I reset my username?")
    cache.invalidate(namespace)
    click.echo(f"\nstats: {json.dumps(cache.stats.snapshot()['counters'])}")
    cache.close()


from semcached.service.cli.serve import hash_key_command, serve  # noqa: E402

main.add_command(serve)
main.add_command(hash_key_command)
from semcached.service.cli.knowledge import eval_search, ingest, search  # noqa: E402

main.add_command(ingest)
main.add_command(search)
main.add_command(eval_search)
from semcached.service.cli.quality import calibrate, eval_cache  # noqa: E402

main.add_command(eval_cache)
main.add_command(calibrate)
from semcached.service.cli.verifier import build_verifier, train_verifier  # noqa: E402

main.add_command(train_verifier)
main.add_command(build_verifier)
from semcached.service.cli.bulk import import_command  # noqa: E402
from semcached.service.cli.models import export_model  # noqa: E402

main.add_command(import_command)

main.add_command(export_model)

if __name__ == "__main__":  # pragma: no cover
    main()
