"""The near-miss operations (label 0) on the instruction of a natural prompt, by kind.

>>> NEAR_MISS_OPS["opposite_actions"]("How do I enable dark mode?", random.Random(0))
'How do I disable dark mode?'
"""

from __future__ import annotations

import random
from collections.abc import Callable

from semcached.quality.synthetic.negation import op_negation
from semcached.quality.synthetic.numbers import (
    number_sites,
    op_dates,
    op_number_order,
    op_numbers,
)
from semcached.quality.synthetic.roles import role_op, role_sites, turn_sites
from semcached.quality.synthetic.swaps import SWAP_INDEX, apply_site
from semcached.quality.synthetic.text import Op, protected, splice, tidy

__all__ = ["NEAR_MISS_OPS"]


def _swap_op(kind: str, extra: Callable[[str, random.Random], list[str]] | None = None) -> Op:
    def op(text: str, rng: random.Random) -> str | None:
        spans = protected(text)
        options = [apply_site(text, s, rng) for s in SWAP_INDEX[kind].sites(text, spans)]
        if extra is not None:
            options.extend(extra(text, rng))
        options = [o for o in options if o != text]
        return tidy(rng.choice(options)) if options else None

    return op


def _constraint_numbers(text: str, rng: random.Random) -> list[str]:
    return [
        splice(text, s, e, new) for s, e, new, k in number_sites(text, rng) if k == "constraints"
    ]


def _role_extra(kind: str) -> Callable[[str, random.Random], list[str]]:
    def extra(text: str, rng: random.Random) -> list[str]:
        return [t for t, k in role_sites(text) if k == kind]

    return extra


NEAR_MISS_OPS: dict[str, Op] = {
    "negation": op_negation,
    "numbers": op_numbers,
    "number_order": op_number_order,
    "dates_versions": op_dates,
    "entities": _swap_op("entities"),
    "swapped_roles": role_op("swapped_roles"),
    "opposite_actions": _swap_op("opposite_actions", lambda t, r: turn_sites(t)),
    "units": _swap_op("units", _role_extra("units")),
    "output_format": _swap_op("output_format"),
    "language": _swap_op("language"),
    "audience": _swap_op("audience"),
    "tone": _swap_op("tone"),
    "constraints": _swap_op("constraints", _constraint_numbers),
    "scope": _swap_op("scope"),
    "qualifiers": _swap_op("qualifiers"),
}
"""Every near-miss kind a natural prompt can get (not ``snippet`` nor ``task``, which only
templates make): (instruction, rng) -> the changed instruction, or None."""
