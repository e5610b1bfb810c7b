"""Every word of the generator's data (templates, slot values, swap groups, word lists...):
a typo must never produce one of them."""

from __future__ import annotations

import functools
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.library import TEMPLATES
from semcached.quality.synthetic.slots import SLOTS
from semcached.quality.synthetic.swaps import SWAP_GROUPS, SWAP_INDEX

__all__ = ["vocabulary"]


@functools.cache
def vocabulary() -> frozenset[str]:
    """Lower-case words that occur anywhere in this package's data: a typo must not be one."""
    texts: list[str] = []
    for t in TEMPLATES:
        texts.extend(t.phrasings)
        texts.extend(t.payloads)
    for slot in SLOTS.values():
        texts.extend(slot.values)
    for index in SWAP_INDEX.values():
        texts.extend(index.exact)
        texts.extend(index.lower)
    texts.extend(datafiles.strings("style", "padding"))
    texts.extend(datafiles.string_map("typos", "misspellings"))
    texts.extend(
        form for swap in SWAP_GROUPS["spelling_variant"] for col in swap.columns for form in col
    )
    texts.extend(long for _, long in datafiles.rows("shorthand", "abbreviations"))
    for key in ("verbs", "negatable_adjectives", "imperatives", "clause_words"):
        texts.extend(datafiles.word_set(key))
    return frozenset(re.findall(r"[a-z]+", " ".join(texts).lower()))
