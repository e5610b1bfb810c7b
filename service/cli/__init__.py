"""The ``semcached`` command line; each feature's commands live in their own module."""

from __future__ import annotations

from semcached.service.cli.main import main

__all__ = ["main"]
