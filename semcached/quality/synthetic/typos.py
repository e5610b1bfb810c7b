"""Typo rewordings: one or two realistic typos (a transposition, a dropped, doubled or
single letter, a slipped key, a common misspelling) that never make another real word.

The typo data (keyboard neighbours, misspellings, the real words a typo must not land on, the
common letter pairs) is in ``data/typos.json``.
"""

from __future__ import annotations

import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.swaps import SWAP_GROUPS
from semcached.quality.synthetic.text import free, protected
from semcached.quality.synthetic.vocabulary import vocabulary

__all__ = ["op_typos"]

_KEY_NEIGHBOURS = datafiles.string_map("typos", "key_neighbours")
_MISSPELLINGS = datafiles.string_map("typos", "misspellings")
_TYPO_GUARD = frozenset(datafiles.strings("typos", "guard"))
_COMMON_BIGRAMS = frozenset(datafiles.strings("typos", "common_bigrams"))
_NO_TYPO = frozenset(
    {
        form.lower()
        for kind in ("entities", "language")
        for swap in SWAP_GROUPS[kind]
        if swap.case
        for col in swap.columns
        for form in col
    }
    | frozenset(datafiles.strings("typos", "no_typo"))
)
"""Words never misspelt: the names of the swap groups and some technical words."""

_TYPO_WORD = re.compile(r"(?<![\w'\u2019.@#/\\-])[a-z]{3,}(?![\w'\u2019@#/\\-]|\.\w)")


def _typo_candidates(word: str) -> dict[str, list[str]]:
    """Realistic one-edit typos by kind; the first and last letters are never touched."""
    n = len(word)
    out: dict[str, list[str]] = {"swap": [], "drop": [], "double": [], "single": [], "key": []}
    for i in range(1, n - 2):
        if word[i] != word[i + 1]:
            out["swap"].append(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    for i in range(1, n - 1):
        if word[i] == word[i + 1] and i + 1 < n - 1:
            out["single"].append(word[:i] + word[i + 1 :])
        elif word[i] not in "aeiouy" and word[i] != word[i - 1]:
            out["double"].append(word[: i + 1] + word[i] + word[i + 1 :])
        out["key"].extend(word[:i] + k + word[i + 1 :] for k in _KEY_NEIGHBOURS.get(word[i], ""))
        if n >= 6 and word[i] != word[i - 1] and word[i] != word[i + 1]:
            out["drop"].append(word[:i] + word[i + 1 :])
    return out


def _has_rare_bigram(word: str) -> bool:
    return any(word[i : i + 2] not in _COMMON_BIGRAMS for i in range(len(word) - 1))


_TYPO_WEIGHTS = {"swap": 35, "drop": 25, "double": 12, "single": 13, "key": 15}


def _typo(word: str, avoid: frozenset[str], rng: random.Random) -> str | None:
    if word in _MISSPELLINGS and rng.random() < 0.6:
        return _MISSPELLINGS[word]
    if len(word) < 5:
        return None
    by_kind = {
        k: [
            c
            for c in v
            if c not in avoid
            and c not in _TYPO_GUARD
            and c not in vocabulary()
            and (k in {"single", "double"} or _has_rare_bigram(c))
        ]
        for k, v in _typo_candidates(word).items()
    }
    kinds = [k for k, v in by_kind.items() if v]
    if not kinds:
        return None
    kind = rng.choices(kinds, weights=[_TYPO_WEIGHTS[k] for k in kinds])[0]
    return rng.choice(by_kind[kind])


def op_typos(text: str, rng: random.Random) -> str | None:
    """``text`` with one or two typos, or None."""
    spans = protected(text)
    words = [
        m
        for m in _TYPO_WORD.finditer(text)
        if free(spans, *m.span()) and m.group(0) not in _NO_TYPO
    ]
    if not words:
        return None
    avoid = frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", text))
    rng.shuffle(words)
    edits: list[tuple[int, int, str]] = []
    want = 2 if len(words) >= 4 and rng.random() < 0.4 else 1
    for m in words:
        new = _typo(m.group(0), avoid, rng)
        if new is not None:
            edits.append((m.start(), m.end(), new))
        if len(edits) == want:
            break
    if not edits:
        return None
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text
