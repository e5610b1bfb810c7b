"""Proper names from the swap groups: the words that keep their capital, and the names a
phrase can be moved around (reordering).

>>> uncap("Paris in spring"), uncap("Where is it?")
('Paris in spring', 'where is it?')
"""

from __future__ import annotations

import re

from semcached.quality.synthetic.swaps import SWAP_GROUPS

__all__ = ["entity_names", "uncap"]

_PROPER_WORDS = frozenset(
    form.split()[0]
    for kind in ("entities", "language", "dates_versions")
    for swap in SWAP_GROUPS[kind]
    if swap.case
    for col in swap.columns
    for form in col
    if form[:1].isupper()
)


def uncap(text: str) -> str:
    """Lower-case the first letter unless the first word is a name, an acronym or ``I``."""
    m = re.match(r"[A-Za-z][\w'\u2019-]*", text)
    if not m:
        return text
    word = m.group(0)
    if word == "I" or word.startswith(("I'", "I\u2019")) or any(c.isupper() for c in word[1:]):
        return text
    if word in _PROPER_WORDS:
        return text
    return text[0].lower() + text[1:]


def entity_names() -> str:
    """A regex alternation of every capitalised name of the entity and language groups."""
    names = sorted(
        {
            form
            for kind in ("entities", "language")
            for swap in SWAP_GROUPS[kind]
            if swap.case
            for col in swap.columns
            for form in col
            if form[0].isupper()
        },
        key=len,
        reverse=True,
    )
    return "|".join(re.escape(n) for n in names)
