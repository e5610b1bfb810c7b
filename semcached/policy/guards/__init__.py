"""The verifier's rules: cheap, explainable checks that can veto a candidate, never create a hit.

Each is a :class:`~semcached.policy.decision.Guard`; its veto names the reason (shown by
``explain()`` and counted as ``rejections.<name>``). With the pair model on (the default) they
run first, on what differs between the two prompts, and only the ones whose vetoes were
measured to save more wrong answers than they cost right ones are on by default
(:data:`DEFAULT_CHECKS`; the README gives the figures). Nothing here is learned from data.

Example::

    from semcached.policy.guards import default_guards
    for guard in default_guards():
        print(guard.name, guard.check("Is it open on Sunday?", candidate))
"""

from __future__ import annotations

from semcached.policy.guards.base import Check
from semcached.policy.guards.cross_encoder import (
    VERIFIER_REPORT_FILE,
    CrossEncoderGuard,
    score_pairs,
)
from semcached.policy.guards.defaults import DEFAULT_CHECKS, GUARD_NAMES, default_guards
from semcached.policy.guards.quantities import DateGuard, NumberGuard, UnitGuard
from semcached.policy.guards.wording import (
    EntityGuard,
    NegationGuard,
    OppositeGuard,
    QuestionTypeGuard,
    WordOrderGuard,
    swapped_pair,
)

__all__ = [
    "DEFAULT_CHECKS",
    "GUARD_NAMES",
    "VERIFIER_REPORT_FILE",
    "Check",
    "CrossEncoderGuard",
    "DateGuard",
    "EntityGuard",
    "NegationGuard",
    "NumberGuard",
    "OppositeGuard",
    "QuestionTypeGuard",
    "UnitGuard",
    "WordOrderGuard",
    "default_guards",
    "score_pairs",
    "swapped_pair",
]
