"""The verifier's checks: each can veto a candidate the threshold let through, never create a
hit. See :mod:`semcached.policy.guards.rules`."""

from __future__ import annotations

from semcached.policy.guards.rules import (
    GUARD_NAMES,
    CrossEncoderGuard,
    DateGuard,
    EntityGuard,
    NegationGuard,
    NumberGuard,
    OppositeGuard,
    QuestionTypeGuard,
    UnitGuard,
    WordOrderGuard,
    default_guards,
    score_pairs,
)

__all__ = [
    "GUARD_NAMES",
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
]
