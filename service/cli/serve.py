"""``semcached serve`` (the sidecar) and ``semcached hash-key`` (configure an API key)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import click
from pydantic import SecretStr

from semcached.errors import ConfigurationError
from semcached.redaction import redact_url
from semcached.service.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
from semcached.settings import Settings, UpstreamApi
from semcached.settings_check import load_settings

__all__ = ["bind_host", "hash_key_command", "serve"]

_LOCALHOST_NAMES = ("localhost", "localhost.localdomain")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host.lower() in _LOCALHOST_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_host(
    requested: str, *, has_keys: bool, allow_unauthenticated: bool = False
) -> tuple[str, str | None]:
    """Where to listen, and a warning when the request had to be narrowed (or was allowed
    open on purpose).

    Without API keys the service is open to whoever can connect, so it listens on localhost
    only, whatever was asked, unless ``allow_unauthenticated`` says another layer (an
    authenticating proxy, a private container network) guards it.

    Example::

        >>> bind_host("0.0.0.0", has_keys=False)[0]
        '127.0.0.1'
    """
    if has_keys or is_loopback(requested):
        return requested, None
    if allow_unauthenticated:
        return requested, (
            f"listening on {requested} without API keys (--allow-unauthenticated): anyone "
            "who can reach this port can read and write the cache; keep it on a private "
            "network or behind an authenticating proxy"
        )
    return "127.0.0.1", (
        f"no API keys are configured (SEMCACHED_API_KEYS), so the service binds to 127.0.0.1 "
        f"only instead of {requested}; configure keys (`semcached hash-key`) to listen on "
        "other interfaces"
    )


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8080).")
@click.option(
    "--upstream-url",
    default=None,
    help="OpenAI-compatible base URL misses go to, e.g. https://api.openai.com/v1 "
    "(default: SEMCACHED_UPSTREAM_URL).",
)
@click.option(
    "--upstream",
    "upstreams",
    multiple=True,
    metavar="API=URL",
    help="A base URL for one API, overriding --upstream-url for it (repeatable): "
    "anthropic=https://api.anthropic.com/v1, azure=https://RESOURCE.openai.azure.com, "
    "openai=... (SEMCACHED_UPSTREAM_URLS).",
)
@click.option(
    "--redis-url",
    default=None,
    help="Put the exact layer on Redis, e.g. redis://127.0.0.1:6379/0 (SEMCACHED_REDIS_URL).",
)
@click.option(
    "--chroma-url",
    default=None,
    help="Use a ChromaDB server, e.g. http://127.0.0.1:8000 (SEMCACHED_CHROMA_URL).",
)
@click.option(
    "--echo-upstream",
    is_flag=True,
    help="Answer misses with a built-in echo model (to try semcached without a provider).",
)
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
@click.option(
    "--log-level", type=click.Choice(LOG_LEVELS), default="info", show_default=True,
    help="Least severe log records shown.",
)  # fmt: skip
@click.option(
    "--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
    help="text, or json: one JSON object per line (ts, level, logger, message).",
)  # fmt: skip
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where embedded data lives (default: SEMCACHED_DATA_DIR or .semcached).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes (uvicorn). More than one needs Redis (--redis-url) and a Chroma "
    "server (--chroma-url): the in-process exact store and embedded ChromaDB are one "
    "process's. Each worker loads its own models (about 250 MB each).",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Listen on --host even without API keys (behind an authenticating proxy, or on a "
    "private container network); a warning says so. Without it, no keys means localhost.",
)
def serve(
    *,
    host: str | None,
    port: int | None,
    upstream_url: str | None,
    upstreams: tuple[str, ...],
    redis_url: str | None,
    chroma_url: str | None,
    echo_upstream: bool,
    access_log: bool,
    log_level: str,
    log_format: str,
    data_dir: Path | None,
    workers: int,
    allow_unauthenticated: bool,
) -> None:
    """Run the sidecar: the cache API and an OpenAI-compatible caching proxy.

    Embedded defaults need no other server; SEMCACHED_REDIS_URL and SEMCACHED_CHROMA_URL
    point it at Redis and a Chroma server. API docs at http://HOST:PORT/docs.
    """
    import uvicorn

    from semcached.service.app import create_app
    from semcached.service.echo import ECHO_URL, echo_transport

    configure_logging(log_level, "json" if log_format == "json" else "text")
    try:
        settings = load_settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    except ConfigurationError as exc:
        raise click.ClickException(f"invalid configuration: {exc}") from exc
    if redis_url is not None:
        settings = settings.model_copy(update={"redis_url": SecretStr(redis_url)})
    if chroma_url is not None:
        settings = settings.model_copy(update={"chroma_url": chroma_url})
    if echo_upstream and upstream_url is not None:
        raise click.UsageError("give either --upstream-url or --echo-upstream, not both")
    transport = None
    if echo_upstream:
        settings = settings.model_copy(update={"upstream_url": ECHO_URL})
        transport = echo_transport()
    elif upstream_url is not None:
        if not upstream_url.startswith(("http://", "https://")):
            raise click.BadParameter(
                f"expected an http(s) base URL such as https://api.openai.com/v1, got "
                f"{upstream_url!r}",
                param_hint="--upstream-url",
            )
        settings = settings.model_copy(update={"upstream_url": upstream_url})
    if upstreams:
        if echo_upstream:
            raise click.UsageError("give either --upstream or --echo-upstream, not both")
        per_api = {**settings.upstream_urls, **_parse_upstreams(upstreams)}
        settings = settings.model_copy(update={"upstream_urls": per_api})
    listen, warning = bind_host(
        host or settings.service.host,
        has_keys=bool(settings.api_keys),
        allow_unauthenticated=allow_unauthenticated,
    )
    listen_port = port or settings.service.port
    if warning:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if workers > 1:
        _check_workers(settings)
    click.echo("loading the embedding model...", err=True)
    app = create_app(settings, upstream_transport=transport) if workers == 1 else None
    shown = f"[{listen}]" if ":" in listen else listen
    keys = (
        f"{len(settings.api_keys)} API key(s)"
        if settings.api_keys
        else "no API keys (localhost only)"
    )
    vectors = (
        redact_url(settings.chroma_url) if settings.chroma_url else settings.data_dir / "chroma"
    )
    click.echo(
        f"semcached serving on http://{shown}:{listen_port}  (docs: /docs)\n"
        f"  upstream: {_describe_upstream(settings, echo_upstream)}\n"
        f"  auth:     {keys}\n"
        f"  exact:    {'Redis' if settings.redis_url else 'in-process'};  "
        f"vectors: {vectors}",
        err=True,
    )
    if app is None:  # worker processes build the app from the environment
        _export_for_workers(settings, echo_upstream, log_level, log_format)
        uvicorn.run(
            "semcached.service.cli.workers:app", factory=True, workers=workers, host=listen,
            port=listen_port, access_log=access_log, log_level=log_level, log_config=None,
        )  # fmt: skip
        return
    uvicorn.run(
        app, host=listen, port=listen_port, access_log=access_log, log_level=log_level,
        log_config=None,  # our handler (configure_logging): one format, credentials masked
    )  # fmt: skip


def _check_workers(settings: Settings) -> None:
    missing = [
        what
        for what, ok in (
            ("--redis-url (the exact layer)", settings.redis_url is not None),
            ("--chroma-url (the vector index)", bool(settings.chroma_url)),
        )
        if not ok
    ]
    if missing:
        raise click.UsageError(
            f"--workers above 1 needs {' and '.join(missing)}: the in-process exact store and "
            "embedded ChromaDB belong to one process, so workers would not share the cache"
        )


def _export_for_workers(
    settings: Settings, echo_upstream: bool, log_level: str, log_format: str
) -> None:
    """What the command line set, for the worker processes (they read the environment)."""
    import os

    if settings.redis_url is not None:
        os.environ["SEMCACHED_REDIS_URL"] = settings.redis_url.get_secret_value()
    for name, value in (
        ("SEMCACHED_CHROMA_URL", settings.chroma_url),
        ("SEMCACHED_UPSTREAM_URL", None if echo_upstream else settings.upstream_url),
        ("SEMCACHED_DATA_DIR", str(settings.data_dir)),
    ):
        if value:
            os.environ[name] = value
    if settings.upstream_urls and not echo_upstream:
        os.environ["SEMCACHED_UPSTREAM_URLS"] = json.dumps(settings.upstream_urls)
    os.environ["SEMCACHED_SERVE_ECHO"] = "1" if echo_upstream else ""
    os.environ["SEMCACHED_SERVE_LOG"] = f"{log_level}:{log_format}"


@click.command("hash-key")
@click.argument("key")
@click.option("--namespace", default="default", show_default=True, help="The key's namespace.")
def hash_key_command(key: str, namespace: str) -> None:
    """Print the SHA-256 digest to configure for KEY (the key itself is never stored)."""
    from semcached.service.auth import hash_api_key

    digest = hash_api_key(key)
    click.echo(digest)
    click.echo(f"SEMCACHED_API_KEYS='{json.dumps({digest: namespace})}'", err=True)


_APIS: tuple[UpstreamApi, ...] = ("openai", "anthropic", "azure")


def _parse_upstreams(values: tuple[str, ...]) -> dict[UpstreamApi, str]:
    """``API=URL`` options as a map; a clear error naming the option for a bad one."""
    parsed: dict[UpstreamApi, str] = {}
    for value in values:
        api, sep, url = value.partition("=")
        api = api.strip().lower()
        if not sep or api not in _APIS:
            raise click.BadParameter(
                f"expected API=URL with API one of {', '.join(_APIS)}, got {value!r}",
                param_hint="--upstream",
            )
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(
                f"expected an http(s) base URL for {api}, got {url!r}", param_hint="--upstream"
            )
        parsed[api] = url
    return parsed


def _describe_upstream(settings: Settings, echo: bool) -> str:
    if echo:
        return "built-in echo (answers repeat the question; use --upstream-url for a real model)"
    url = settings.upstream_url
    shown = redact_url(url) if url else "none (misses answer 503; use --upstream-url)"
    for api, base in sorted(settings.upstream_urls.items()):
        shown += f"; {api}: {redact_url(base)}"
    return shown
