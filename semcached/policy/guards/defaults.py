"""The verifier's default checks and how to build them by name."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from semcached.policy.decision import Guard
from semcached.policy.guards.cross_encoder import CrossEncoderGuard
from semcached.policy.guards.quantities import DateGuard, NumberGuard, UnitGuard
from semcached.policy.guards.wording import (
    EntityGuard,
    NegationGuard,
    OppositeGuard,
    QuestionTypeGuard,
    WordOrderGuard,
)

__all__ = ["DEFAULT_CHECKS", "GUARD_NAMES", "default_guards"]

GUARD_NAMES: tuple[str, ...] = (
    "negation",
    "dates",
    "numbers",
    "units",
    "entities",
    "opposites",
    "question_type",
    "word_order",
)
# The checks on by default (every one in GUARD_NAMES can be chosen with `checks=`).
DEFAULT_CHECKS: tuple[str, ...] = GUARD_NAMES


def default_guards(
    checks: Sequence[str] | None = None,
    *,
    cross_encoder_path: str | Path | None = None,
    cross_encoder_min_score: float = 0.5,
) -> list[Guard]:
    """The verifier's checks, cheapest first (``checks`` picks some by name).

    Example::

        guards = default_guards(["negation", "numbers"])
        cache = SemanticCache(guards=guards)
    """
    builders: dict[str, Guard] = {
        "negation": NegationGuard(),
        "numbers": NumberGuard(),
        "dates": DateGuard(),
        "units": UnitGuard(),
        "entities": EntityGuard(),
        "opposites": OppositeGuard(),
        "question_type": QuestionTypeGuard(),
        "word_order": WordOrderGuard(),
    }
    names = DEFAULT_CHECKS if checks is None else tuple(checks)
    unknown = [n for n in names if n not in builders]
    if unknown:
        raise ValueError(
            f"unknown verifier check(s) {unknown}; expected some of {list(GUARD_NAMES)}"
        )
    guards = [builders[n] for n in names]
    if cross_encoder_path is not None:
        guards.append(CrossEncoderGuard(cross_encoder_path, min_score=cross_encoder_min_score))
    return guards
