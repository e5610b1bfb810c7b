"""Quality tooling: replay labelled pairs, evaluate, calibrate, train the verifier.

Used by the CLI, the notebooks and the benchmarks; nothing on the request path imports it
(an import-linter contract holds that).
"""

from __future__ import annotations

__all__: list[str] = []
