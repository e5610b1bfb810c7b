"""The rewording operations (label 1) by kind, with the lexical ones that live nowhere else:
synonyms, British <-> American spelling, and paraphrase (two rewordings in a row).

>>> REWORDING_OPS["spelling_variant"]("What is my favorite color?", random.Random(0), True)
'What is my favorite colour?'
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable

from semcached.quality.synthetic.shorthand import op_abbreviation, op_contraction, op_notation
from semcached.quality.synthetic.structure import op_instruction_vs_question, op_reordering
from semcached.quality.synthetic.style import (
    op_casual,
    op_padding,
    op_politeness,
    op_punctuation_case,
)
from semcached.quality.synthetic.swaps import SWAP_INDEX, apply_site
from semcached.quality.synthetic.text import Op, protected, splice, tidy
from semcached.quality.synthetic.typos import op_typos

__all__ = ["REWORDING_OPS", "Rewording"]

Rewording = Callable[[str, random.Random, bool], str | None]
"""A rewording: (instruction, rng, whether the instruction ends the prompt) -> the reworded
instruction, or None where it does not apply."""


# -------------------------------------------------------------------------------- synonyms
def _op_synonyms(text: str, rng: random.Random) -> str | None:
    spans = protected(text)
    options = [apply_site(text, s, rng) for s in SWAP_INDEX["synonyms"].sites(text, spans)]
    m = re.fullmatch(r"Can I (.+)\?", text.strip())
    if m:
        options.append(f"Is it possible to {m.group(1)}?")
        options.append(f"Am I able to {m.group(1)}?")
    m = re.fullmatch(r"(?:Is it possible to|Am I able to) (.+)\?", text.strip())
    if m:
        options.append(f"Can I {m.group(1)}?")
    options = [o for o in options if o != text]
    return tidy(rng.choice(options)) if options else None


# ------------------------------------------------------------------------ spelling variants
def _op_spelling(text: str, rng: random.Random) -> str | None:
    spans = protected(text)
    sites = SWAP_INDEX["spelling_variant"].sites(text, spans)
    if not sites:
        return None
    out = text
    for site in sorted(
        rng.sample(sites, min(len(sites), rng.choice((1, 1, 2)))),
        key=lambda s: s.start,
        reverse=True,
    ):
        out = splice(out, site.start, site.end, rng.choice(site.options))
    return out if out != text else None


# ------------------------------------------------------------------------------ paraphrase
def _op_paraphrase(text: str, rng: random.Random, at_end: bool = True) -> str | None:
    """Two different rewordings in a row (a lexical one and a structural one)."""
    first_ops: list[Op] = [_op_synonyms, op_abbreviation, _op_spelling, op_contraction]
    second_ops: list[Op] = [
        op_instruction_vs_question,
        op_reordering,
        functools.partial(op_politeness, at_end=at_end),
        functools.partial(op_padding, at_end=at_end),
    ]
    rng.shuffle(first_ops)
    rng.shuffle(second_ops)
    for op1 in first_ops:
        mid = op1(text, rng)
        if mid is None:
            continue
        for op2 in second_ops:
            out = op2(mid, rng)
            if out is not None and out != text:
                return out
    for op2 in (op_instruction_vs_question, functools.partial(op_politeness, at_end=at_end)):
        mid = op2(text, rng)
        if mid is None:
            continue
        for op3 in (op_instruction_vs_question, op_reordering):
            if op3 is op2:
                continue
            out = op3(mid, rng)
            if out is not None and out != text:
                return out
    return None


REWORDING_OPS: dict[str, Rewording] = {
    "synonyms": lambda t, r, e: _op_synonyms(t, r),
    "reordering": lambda t, r, e: op_reordering(t, r),
    "abbreviation": lambda t, r, e: op_abbreviation(t, r),
    "typos": lambda t, r, e: op_typos(t, r),
    "casual": op_casual,
    "instruction_vs_question": lambda t, r, e: op_instruction_vs_question(t, r),
    "politeness": op_politeness,
    "padding": op_padding,
    "spelling_variant": lambda t, r, e: _op_spelling(t, r),
    "punctuation_case": lambda t, r, e: op_punctuation_case(t, r),
    "contraction": lambda t, r, e: op_contraction(t, r),
    "notation": lambda t, r, e: op_notation(t, r),
    "paraphrase": _op_paraphrase,
}
"""Every rewording kind, by name."""
