"""Perturbations of one natural prompt: every near-miss and rewording that applies cleanly.

Only the instruction is edited: a snippet pasted after it (after a colon, a question mark or
a line break) is kept as it is, and a near-miss leaves alone a preface that the question does
not refer back to.
"""

from __future__ import annotations

import random
import re

from semcached.quality.synthetic import datafiles
from semcached.quality.synthetic.near_misses import NEAR_MISS_OPS
from semcached.quality.synthetic.pair import LABEL0_KINDS, LABEL1_KINDS, SyntheticPair
from semcached.quality.synthetic.rewordings import REWORDING_OPS

__all__ = ["perturb", "valid_pair"]

_IMPERATIVES = datafiles.word_set("imperatives")
_IMPERATIVE_LINE = re.compile(r"^\s*(?:please\s+)?([A-Za-z]+)")


def _split(text: str) -> tuple[str, str, str]:
    """(before, instruction, after): the part a transformation may edit, and the pasted text
    around it that it must keep (an empty instruction when no safe part is found)."""
    if "\n" in text:
        first, _, _ = text.partition("\n")
        if first.strip().endswith((":", "?")) and len(first.split()) >= 2:
            return "", first, text[len(first) :]
        last_break = text.rstrip().rfind("\n")
        last = text[last_break + 1 :]
        word = _IMPERATIVE_LINE.match(last)
        if 2 <= len(last.split()) <= 30 and (
            last.rstrip().endswith("?")
            or (word is not None and word.group(1).lower() in _IMPERATIVES)
        ):
            return text[: last_break + 1], last, ""
        if len(first.split()) >= 2 and word is None:
            return "", first, text[len(first) :]
        return "", "", text
    q = re.search(r"\?\s+(?=\S)", text)
    if q and not text.rstrip().endswith("?") and len(text[: q.start()].split()) >= 2:
        return "", text[: q.start() + 1], text[q.start() + 1 :]
    c = re.search(r":\s+", text)
    if c:
        head, tail = text[: c.start() + 1], text[c.end() :]
        digits_around = re.search(r"\d$", head[:-1]) and re.match(r"\d", tail)
        short_prefix = len(head.split()) <= 3 and tail.rstrip().endswith("?") and ":" not in tail
        if not digits_around and len(head.split()) >= 2 and tail.strip() and not short_prefix:
            return "", head, text[c.start() + 1 :]
    return "", text, ""


_KEEPS_PAYLOAD_WORDS = frozenset({"negation", "numbers", "number_order"})


def _reuses(old: str, new: str, context: str) -> bool:
    """Whether the words ``new`` puts in place of ``old``'s already occur in ``context``."""
    if not context.strip():
        return False
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    inserted = new[p : len(new) - s].strip(" ,.")
    return bool(inserted) and inserted.lower() in context.lower()


_ANAPHORS = datafiles.word_set("anaphors")
_STOP = datafiles.word_set("stop_words")


def _unlinked_preface(instruction: str) -> tuple[str, str]:
    """(preface, rest): the sentences before the last one, when the last one does not refer
    back to them (then a near-miss must not edit them: "I'm flying to Osaka next month. What
    is the currency of Japan?" asks the same with any city), else ("", instruction)."""
    parts = re.split(r"(?<=[.?!])\s+(?=[A-Z])", instruction.strip())
    if len(parts) < 2:
        return "", instruction
    last = parts[-1]
    preface = instruction[: instruction.rfind(last)]
    last_words = set(re.findall(r"[a-z']+", last.lower()))
    if last_words & _ANAPHORS:
        return "", instruction
    content = {w for w in re.findall(r"[a-z]{4,}", preface.lower()) if w not in _STOP}
    stems = {w[:5] for w in content}
    if any(w[:5] in stems for w in last_words if len(w) >= 4 and w not in _STOP):
        return "", instruction
    return preface, last


def _rejoin(before: str, instruction: str, after: str) -> str:
    if before and not before.endswith(("\n", " ")):
        before += " "
    return before + instruction + after


def valid_pair(a: str, b: str) -> bool:
    """Whether ``b`` is a usable pair for ``a``: not empty and not the same prompt."""
    return bool(b.strip()) and a != b and a.strip() != b.strip()


def perturb(text: str, rng: random.Random) -> list[SyntheticPair]:
    """Every transformation that applies cleanly to one natural prompt, as labelled pairs.

    Near-misses (label 0) and rewordings (label 1) of ``text``; ``a`` is always ``text``.
    Only the instruction is edited, never a pasted snippet after it. A transformation that
    does not apply is left out, so a short or unusual prompt may give few pairs, or none.

    >>> pairs = perturb("How do I enable dark mode in Slack?", random.Random(0))
    >>> sorted({p.kind for p in pairs if p.label == 0})[:3]
    ['entities', 'opposite_actions', 'qualifiers']
    >>> all(p.a != p.b for p in pairs)
    True
    """
    if not text.strip() or len(text) > 4000:
        return []
    before, instruction, after = _split(text)
    if not instruction.strip():
        return []
    preface, question = _unlinked_preface(instruction)
    out: list[SyntheticPair] = []
    seen: set[str] = set()
    for label, kinds in ((0, LABEL0_KINDS), (1, LABEL1_KINDS)):
        for kind in kinds:
            op = NEAR_MISS_OPS.get(kind)
            if label == 0 and op is None:
                continue
            if label == 0 and op is not None:
                new = op(question, rng)
                if (
                    new is not None
                    and kind not in _KEEPS_PAYLOAD_WORDS
                    and _reuses(question, new, before + after)
                ):
                    new = None  # "to °F" -> "to °C" when the snippet is already in °C
                new = None if new is None else preface + new
            else:
                new = REWORDING_OPS[kind](instruction, rng, not after.strip())
            if new is None:
                continue
            b = _rejoin(before, new, after)
            if valid_pair(text, b) and b not in seen:
                seen.add(b)
                out.append(SyntheticPair(text, b, label, kind, "perturb"))
    return out
