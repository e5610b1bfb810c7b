"""The base of the verifier's checks: a check that fails on odd input vetoes instead of
failing the lookup (never fail wrong)."""

from __future__ import annotations

import logging

from semcached.policy.decision import Candidate

__all__ = ["Check"]

log = logging.getLogger("semcached.guards")


class Check:
    """Base of the checks: a check that fails on unexpected input vetoes (never fail wrong)
    instead of failing the lookup."""

    name = "check"

    def check(self, query: str, candidate: Candidate) -> str | None:
        try:
            return self._check(query, candidate)
        except Exception as exc:  # a bug on odd input must neither fail the lookup nor serve
            log.warning("verifier check %s failed, vetoing: %r", self.name, exc)
            return f"the {self.name} check failed ({type(exc).__name__}), not serving to be safe"

    def _check(self, query: str, candidate: Candidate) -> str | None:
        raise NotImplementedError
