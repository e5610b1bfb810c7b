"""Policy: whether a candidate may answer a request. Pure: no IO, no clock, no backends.

* :mod:`~semcached.policy.decision`: the decision core (threshold, guards, explanations);
* :mod:`~semcached.policy.guards`: the verifier's checks;
* :mod:`~semcached.policy.adaptive`: thresholds learned from feedback.
"""

from __future__ import annotations

from semcached.policy.adaptive import AdaptiveThresholds
from semcached.policy.decision import (
    Candidate,
    Decision,
    Guard,
    HitKind,
    MissReason,
    Rejection,
    decide,
    describe,
)

__all__ = [
    "AdaptiveThresholds",
    "Candidate",
    "Decision",
    "Guard",
    "HitKind",
    "MissReason",
    "Rejection",
    "decide",
    "describe",
]
