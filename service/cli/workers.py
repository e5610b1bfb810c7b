"""The app factory each ``semcached serve --workers N`` process runs: settings from the
environment the parent exported (``_export_for_workers`` in :mod:`.serve`), its own logging."""

from __future__ import annotations

import os

from fastapi import FastAPI

__all__ = ["app"]


def app() -> FastAPI:
    """Build one worker's service (uvicorn calls this in every worker process)."""
    from semcached.service.app import create_app
    from semcached.service.echo import ECHO_URL, echo_transport
    from semcached.service.logs import configure_logging
    from semcached.settings_check import load_settings

    level, _, fmt = os.environ.get("SEMCACHED_SERVE_LOG", "info:text").partition(":")
    configure_logging(level, "json" if fmt == "json" else "text")
    settings = load_settings()
    if os.environ.get("SEMCACHED_SERVE_ECHO"):
        return create_app(
            settings.model_copy(update={"upstream_url": ECHO_URL}),
            upstream_transport=echo_transport(),
        )
    return create_app(settings)
