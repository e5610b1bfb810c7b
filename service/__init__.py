"""The semcached service: the ``semcached`` command line (and, with the sidecar, the HTTP API)."""

from __future__ import annotations

__all__: list[str] = []
